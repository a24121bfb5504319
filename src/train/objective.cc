#include "train/objective.h"

#include <algorithm>

#include "leantrain/core/error.h"
#include "ops/ops.h"

namespace leantrain::train {
namespace {

using graph::ValueId;
using graph::ValueKind;
using Kind = Loss::Kind;

int64_t output_width(const Shape& s) { return s.rank() == 0 ? 1 : s.num_elements(); }

// The metric ops in the graph and their per-example units, from the metric's kind.
struct MetricPlan {
  std::string name;
  ops::OpPtr op;
  int64_t per_example = 1;
};

MetricPlan plan_metric(const Metric& m, const Loss& loss, const Shape& output_shape) {
  std::string kind = m.kind;
  const int64_t width = output_width(output_shape);
  if (kind == "accuracy" || kind == "acc") {
    // Keras resolves "accuracy" against the loss and the output.
    if (loss.kind == Kind::kBinaryCrossentropy || width == 1) {
      kind = "binary_accuracy";
    } else if (loss.kind == Kind::kSparseCategoricalCrossentropy) {
      kind = "sparse_categorical_accuracy";
    } else {
      kind = "categorical_accuracy";
    }
  }
  MetricPlan p;
  p.name = !m.name.empty() ? m.name : (m.kind == "acc" ? "accuracy" : m.kind);
  const bool sparse = loss.kind == Kind::kSparseCategoricalCrossentropy;
  if (kind == "sparse_categorical_accuracy" || kind == "sparse_top_k_categorical_accuracy") {
    LT_CHECK(sparse, kInvalidArgument, "metric '", m.kind,
             "' reads integer labels; use it with sparse_categorical_crossentropy, or use "
             "categorical_accuracy");
    p.op = kind == "sparse_categorical_accuracy" ? ops::top1_correct() : ops::top_k_correct(m.k);
  } else if (kind == "categorical_accuracy") {
    LT_CHECK(!sparse && loss.kind != Kind::kBinaryCrossentropy, kInvalidArgument, "metric '",
             m.kind, "' reads one-hot labels; with ", loss.name(),
             " use sparse_categorical_accuracy");
    p.op = ops::categorical_top1_correct();
  } else if (kind == "binary_accuracy") {
    LT_CHECK(loss.kind == Kind::kBinaryCrossentropy, kInvalidArgument, "metric '", m.kind,
             "' reads 0/1 labels; use it with binary_crossentropy");
    p.op = ops::binary_correct(loss.from_logits ? 0.0f : 0.5f);
    p.per_example = width;
  } else {
    throw Error(ErrorCode::kInvalidArgument,
                "unknown metric '" + m.kind +
                    "'; supported: accuracy, sparse_categorical_accuracy, categorical_accuracy, "
                    "binary_accuracy, sparse_top_k_categorical_accuracy");
  }
  return p;
}

}  // namespace

Objective resolve_objective(const Loss& loss, const std::vector<Metric>& metrics,
                            const Shape& output_shape) {
  Objective o;
  const bool flat = output_shape.rank() == 1;
  switch (loss.kind) {
    case Kind::kSparseCategoricalCrossentropy:
    case Kind::kCategoricalCrossentropy:
      LT_CHECK(flat && output_shape[0] >= 2, kInvalidArgument, loss.name(),
               " needs a (classes,) output with at least two classes, got ",
               output_shape.to_string(true));
      o.labels = loss.kind == Kind::kSparseCategoricalCrossentropy ? LabelLayout::kSparse
                                                                   : LabelLayout::kOneHot;
      break;
    case Kind::kBinaryCrossentropy:
      LT_CHECK(flat, kInvalidArgument, loss.name(), " needs a flat (units,) output, got ",
               output_shape.to_string(true));
      o.labels = LabelLayout::kBinary;
      break;
    case Kind::kMeanSquaredError:
      LT_CHECK(flat, kInvalidArgument, loss.name(), " needs a flat (units,) output, got ",
               output_shape.to_string(true));
      o.labels = LabelLayout::kOneHot;
      break;
  }
  for (const Metric& m : metrics) {
    const MetricPlan p = plan_metric(m, loss, output_shape);
    for (const MetricNode& seen : o.metrics) {
      LT_CHECK(seen.name != p.name, kInvalidArgument, "metric '", p.name,
               "' is listed twice; give one a name");
    }
    LT_CHECK(p.name != "loss", kInvalidArgument, "a metric may not be named 'loss'");
    o.metrics.push_back({p.name, p.per_example});
  }
  return o;
}

ValueId add_objective(graph::Graph& g, ValueId output, const Loss& loss,
                      const std::vector<Metric>& metrics,
                      const std::vector<std::pair<ValueId, float>>& l2_params) {
  const Shape out_shape = g.value(output).spec.shape;
  std::vector<int64_t> rest(out_shape.dims().begin() + 1, out_shape.dims().end());
  const Objective o = resolve_objective(loss, metrics, Shape(rest));
  const int64_t n = out_shape[0];
  const ValueId labels = o.labels == LabelLayout::kSparse
                             ? g.add_value("labels", {Shape{n}, DType::kI32}, ValueKind::kInput)
                             : g.add_value("labels", {out_shape, DType::kF32}, ValueKind::kInput);
  ops::OpPtr loss_op;
  switch (loss.kind) {
    case Kind::kSparseCategoricalCrossentropy:
      loss_op = ops::sparse_categorical_cross_entropy(loss.from_logits);
      break;
    case Kind::kCategoricalCrossentropy:
      loss_op = ops::categorical_cross_entropy(loss.from_logits);
      break;
    case Kind::kBinaryCrossentropy:
      loss_op = ops::binary_cross_entropy(loss.from_logits);
      break;
    case Kind::kMeanSquaredError:
      loss_op = ops::mean_squared_error();
      break;
  }
  ValueId total = g.add(loss_op, {output, labels}, l2_params.empty() ? "loss" : "data_loss",
                        graph::Phase::kLoss);
  for (size_t i = 0; i < l2_params.size(); ++i) {
    const auto [param, l2] = l2_params[i];
    const graph::Value& v = g.value(param);
    const ValueId penalty =
        g.add(ops::l2_penalty(l2), {param}, v.name + "/l2", graph::Phase::kLoss, v.layer);
    total = g.add(ops::add(), {total, penalty},
                  i + 1 == l2_params.size() ? "loss" : "loss_" + std::to_string(i + 1),
                  graph::Phase::kLoss);
  }
  g.value(total).is_output = true;
  for (const Metric& m : metrics) {
    const MetricPlan p = plan_metric(m, loss, Shape(rest));
    const ValueId v = g.add(p.op, {output, labels}, p.name, graph::Phase::kLoss);
    g.value(v).is_output = true;
  }
  return total;
}

void encode_labels(LabelLayout layout, const int32_t* ids, int64_t n, int64_t width, void* labels) {
  if (layout == LabelLayout::kSparse) {
    std::copy(ids, ids + n, static_cast<int32_t*>(labels));
    return;
  }
  float* out = static_cast<float*>(labels);
  if (layout == LabelLayout::kBinary && width == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(ids[i]);
    return;
  }
  std::fill(out, out + n * width, 0.0f);
  for (int64_t i = 0; i < n; ++i) out[i * width + ids[i]] = 1.0f;
}

}  // namespace leantrain::train

#include "leantrain/train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <set>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "leantrain/data/batcher.h"
#include "leantrain/graph/autodiff.h"
#include "leantrain/memory/arena.h"
#include "leantrain/memory/process_memory.h"
#include "leantrain/runtime/program.h"
#include "ops/ops.h"
#include "train/progress.h"

namespace leantrain::train {
namespace {

using graph::ValueId;
using graph::ValueKind;

// Keras' truncated-normal initializers divide the standard deviation by this to make the
// variance of the truncated distribution match.
constexpr double kTruncatedStddevCorrection = 0.87962566103423978;

void initialize(const nn::Variable& v, float* data, uint64_t seed) {
  const int64_t n = v.shape.num_elements();
  Rng rng(seed);
  const std::string& init = v.initializer;
  const double fan_in = static_cast<double>(std::max<int64_t>(v.fan_in, 1));
  const double fan_out = static_cast<double>(std::max<int64_t>(v.fan_out, 1));
  auto uniform = [&](double limit) {
    for (int64_t i = 0; i < n; ++i)
      data[i] = rng.uniform(static_cast<float>(-limit), static_cast<float>(limit));
  };
  auto truncated = [&](double stddev) {
    const double s = stddev / kTruncatedStddevCorrection;
    for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(s * rng.truncated_normal());
  };
  if (init == "zeros") {
    std::fill(data, data + n, 0.0f);
  } else if (init == "ones") {
    std::fill(data, data + n, 1.0f);
  } else if (init == "glorot_uniform") {
    uniform(std::sqrt(6.0 / (fan_in + fan_out)));
  } else if (init == "glorot_normal") {
    truncated(std::sqrt(2.0 / (fan_in + fan_out)));
  } else if (init == "he_uniform") {
    uniform(std::sqrt(6.0 / fan_in));
  } else if (init == "he_normal") {
    truncated(std::sqrt(2.0 / fan_in));
  } else if (init == "lecun_uniform") {
    uniform(std::sqrt(3.0 / fan_in));
  } else if (init == "lecun_normal") {
    truncated(std::sqrt(1.0 / fan_in));
  } else {
    throw Error(ErrorCode::kUnimplemented,
                "initializer '" + init +
                    "' is not supported; use glorot_uniform, glorot_normal, he_uniform, "
                    "he_normal, lecun_uniform, lecun_normal, zeros or ones");
  }
}

int64_t spec_bytes(const graph::TensorSpec& s) {
  return s.shape.num_elements() * dtype_size(s.dtype);
}

// Bytes of forward tensors (one per planned buffer) that backward nodes read.
int64_t kept_for_backward(const runtime::Program& p) {
  const graph::Graph& g = p.graph();
  std::set<int32_t> buffers;
  int64_t total = 0;
  for (const graph::Node& node : g.nodes()) {
    if (node.phase != graph::Phase::kBackward) continue;
    for (ValueId v : node.inputs) {
      const graph::Value& value = g.value(v);
      if (graph::is_persistent(value.kind)) continue;
      const bool forward =
          value.producer < 0 || g.node(value.producer).phase == graph::Phase::kForward;
      const int32_t b = p.plan().buffer_of_value[static_cast<size_t>(v)];
      if (forward && buffers.insert(b).second) total += spec_bytes(value.spec);
    }
  }
  return total;
}

std::string line(const char* label, int64_t bytes) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "  %-34s %14s  (%lld bytes)\n", label,
                memory::readable_bytes(bytes).c_str(), static_cast<long long>(bytes));
  return buf;
}

// Adds the model's forward pass for a batch, the labels input, the loss and the count of correct
// predictions (both read by the host after the step); returns the loss.
ValueId add_model_and_loss(graph::Graph& g, const nn::Sequential& model, int64_t batch_size,
                           bool training) {
  const nn::BuiltModel built = model.build(g, batch_size, training);
  const ValueId labels = g.add_value("labels", {Shape{batch_size}, DType::kI32}, ValueKind::kInput);
  const ValueId loss =
      g.add(ops::softmax_cross_entropy(), {built.output, labels}, "loss", graph::Phase::kLoss);
  const ValueId correct =
      g.add(ops::top1_correct(), {built.output, labels}, "correct", graph::Phase::kLoss);
  g.value(loss).is_output = true;
  g.value(correct).is_output = true;
  return loss;
}

}  // namespace

std::string Optimizer::name() const {
  switch (kind) {
    case Kind::kSgd:
      return "SGD";
    case Kind::kAdam:
      return "Adam";
    case Kind::kAdamW:
      return "AdamW";
  }
  return "?";
}

Optimizer SGD(const SGDOptions& o) {
  return {.kind = Optimizer::Kind::kSgd,
          .learning_rate = o.learning_rate,
          .momentum = o.momentum,
          .nesterov = o.nesterov};
}

Optimizer Adam(const AdamOptions& o) {
  return {.kind = Optimizer::Kind::kAdam,
          .learning_rate = o.learning_rate,
          .beta_1 = o.beta_1,
          .beta_2 = o.beta_2,
          .epsilon = o.epsilon};
}

Optimizer AdamW(const AdamWOptions& o) {
  return {.kind = Optimizer::Kind::kAdamW,
          .learning_rate = o.learning_rate,
          .beta_1 = o.beta_1,
          .beta_2 = o.beta_2,
          .epsilon = o.epsilon,
          .weight_decay = o.weight_decay};
}

std::string MemoryReport::to_string() const {
  std::string out = "Memory plan (batch " + std::to_string(batch_size) + "):\n";
  out += line("parameters (trainable)", parameters_bytes);
  out += line("non-trainable state", state_bytes);
  out += line("gradients", gradients_bytes);
  out += line("optimizer state", optimizer_bytes);
  out += line("persistent block (64-B aligned)", persistent_bytes);
  out += line("arena: training step", train_arena_bytes);
  out += line("  of which kernel scratch (max)", scratch_bytes);
  out += line("  kept for backward", kept_for_backward_bytes);
  out += line("arena: evaluation step", eval_arena_bytes);
  out += line("arena (shared)", arena_bytes);
  out += line("input pipeline", pipeline_bytes);
  out += line("predicted peak", predicted_peak_bytes);
  char buf[160];
  std::snprintf(
      buf, sizeof buf, "  step buffers without reuse would take %s: the arena is %.2fx smaller\n",
      memory::readable_bytes(step_buffers_bytes).c_str(),
      train_arena_bytes > 0
          ? static_cast<double>(step_buffers_bytes) / static_cast<double>(train_arena_bytes)
          : 0.0);
  out += buf;
  return out;
}

Trainer::Trainer(const nn::Sequential& model, CompileOptions options)
    : model_(model),
      options_(options),
      store_(std::make_unique<runtime::PersistentStore>()),
      arena_(std::make_unique<runtime::SharedArena>()) {
  LT_CHECK(model_.count_params(true) > 0, kInvalidArgument, "model '", model_.name(),
           "' has no trainable variables");
  LT_CHECK(model_.output_shape().rank() == 1, kInvalidArgument, "model '", model_.name(),
           "' must end in a (classes,) output for sparse categorical cross-entropy, got ",
           model_.output_shape().to_string(true));
  LT_CHECK(options_.optimizer.learning_rate > 0, kInvalidArgument,
           "learning_rate must be positive, got ", options_.optimizer.learning_rate);
  // Every persistent tensor the training graph uses, declared from a graph of batch 1.
  const graph::Graph g = build_training_graph(1);
  for (const graph::Value& v : g.values()) {
    if (graph::is_persistent(v.kind)) store_->declare(v.name, v.spec, v.kind);
  }
  store_->allocate();
  initialize_variables();
}

Trainer::~Trainer() = default;

void Trainer::initialize_variables() {
  const std::vector<nn::ModelVariable> vars = model_.variables();
  for (size_t i = 0; i < vars.size(); ++i) {
    const TensorView view = store_->view(vars[i].full_name());
    initialize(vars[i].variable, view.f32(), mix64(options_.seed ^ mix64(i + 1)));
  }
}

graph::Graph Trainer::build_training_graph(int64_t batch_size) const {
  graph::Graph g;
  const ValueId loss = add_model_and_loss(g, model_, batch_size, /*training=*/true);

  const std::map<ValueId, ValueId> grads = graph::add_backward(g, loss, ops::add(), ops::copy());
  const Optimizer& opt = options_.optimizer;
  for (const auto& [param, grad] : grads) {
    const std::string name = g.value(param).name;
    const graph::TensorSpec spec = g.value(param).spec;
    const std::string layer = g.value(param).layer;
    std::vector<ValueId> in{param, grad};
    ops::OpPtr op;
    if (opt.kind == Optimizer::Kind::kSgd) {
      if (opt.momentum > 0) {
        in.push_back(g.add_value(name + "/momentum", spec, ValueKind::kOptimizerState, layer));
      }
      op = ops::sgd_update(opt.momentum, opt.nesterov);
    } else {
      in.push_back(g.add_value(name + "/m", spec, ValueKind::kOptimizerState, layer));
      in.push_back(g.add_value(name + "/v", spec, ValueKind::kOptimizerState, layer));
      op = ops::adam_update(opt.beta_1, opt.beta_2, opt.epsilon,
                            opt.kind == Optimizer::Kind::kAdamW ? opt.weight_decay : 0.0f);
    }
    g.add_node(op, in, name + "/update", graph::Phase::kUpdate, layer);
  }
  return g;
}

graph::Graph Trainer::build_evaluation_graph(int64_t batch_size) const {
  graph::Graph g;
  add_model_and_loss(g, model_, batch_size, /*training=*/false);
  return g;
}

runtime::Program& Trainer::training_program(int64_t batch_size) {
  auto& p = train_programs_[batch_size];
  if (!p) {
    p = std::make_unique<runtime::Program>(build_training_graph(batch_size), *store_, *arena_,
                                           options_.kernels);
  }
  return *p;
}

runtime::Program& Trainer::evaluation_program(int64_t batch_size) {
  auto& p = eval_programs_[batch_size];
  if (!p) {
    p = std::make_unique<runtime::Program>(build_evaluation_graph(batch_size), *store_, *arena_,
                                           options_.kernels);
  }
  return *p;
}

runtime::PersistentStore& Trainer::store() { return *store_; }
const runtime::SharedArena& Trainer::arena() const { return *arena_; }

MemoryReport Trainer::plan(int64_t batch_size, int64_t train_count, int64_t validation_count) {
  LT_CHECK(batch_size > 0, kInvalidArgument, "batch_size must be positive, got ", batch_size);
  runtime::Program& train = training_program(batch_size);
  runtime::Program& eval = evaluation_program(batch_size);
  MemoryReport r;
  r.batch_size = batch_size;
  r.parameters_bytes = store_->bytes_of(ValueKind::kParameter);
  r.state_bytes = store_->bytes_of(ValueKind::kState);
  r.gradients_bytes = store_->bytes_of(ValueKind::kGradient);
  r.optimizer_bytes = store_->bytes_of(ValueKind::kOptimizerState);
  r.persistent_bytes = store_->total_bytes();
  r.train_arena_bytes = train.arena_bytes();
  r.eval_arena_bytes = eval.arena_bytes();
  r.arena_bytes = std::max(r.train_arena_bytes, r.eval_arena_bytes);
  for (graph::NodeId n = 0; n < train.graph().num_nodes(); ++n) {
    r.scratch_bytes = std::max(r.scratch_bytes, train.scratch_bytes(n));
  }
  r.step_buffers_bytes = train.plan().sum_of_buffers_bytes();
  r.kept_for_backward_bytes = kept_for_backward(train);
  r.pipeline_bytes =
      data::Batcher::bytes_for(train_count) + data::Batcher::bytes_for(validation_count);
  r.predicted_peak_bytes = r.persistent_bytes + r.arena_bytes + r.pipeline_bytes;
  return r;
}

void Trainer::check_labels(const data::LabeledImages& data) const {
  const int64_t classes = model_.output_shape()[0];
  LT_CHECK(data.num_classes <= classes, kInvalidArgument, "the data has ", data.num_classes,
           " classes but the model's output has ", classes, " units");
  const Shape expected = model_.input_shape();
  LT_CHECK(expected == Shape({data.height, data.width, data.channels}), kInvalidArgument,
           "the data's images are ", Shape({data.height, data.width, data.channels}).to_string(),
           " but the model expects ", expected.to_string());
}

EvalResult Trainer::evaluate(const data::LabeledImages& data, int64_t batch_size) {
  check_labels(data);
  data::Batcher batcher(data, batch_size, /*shuffle=*/false, 0);
  batcher.start_epoch(0);
  double loss_sum = 0, correct = 0;
  const graph::StepState state{std::max<int64_t>(iteration_, 1), options_.optimizer.learning_rate,
                               options_.seed};
  for (int64_t b = 0; b < batcher.num_batches(); ++b) {
    const int64_t n = batcher.batch_count(b);
    runtime::Program& p = evaluation_program(n);
    batcher.fill(b, p.view("input").f32(), p.view("labels").i32());
    p.run(state);
    loss_sum += static_cast<double>(p.view("loss").f32()[0]) * static_cast<double>(n);
    correct += p.view("correct").f32()[0];
  }
  const auto count = static_cast<double>(batcher.count());
  return EvalResult{loss_sum / count, correct / count};
}

History Trainer::fit(const data::LabeledImages& train, const FitOptions& options) {
  LT_CHECK(options.epochs >= 1, kInvalidArgument, "epochs must be >= 1, got ", options.epochs);
  check_labels(train);
  std::ostream& out = options.out != nullptr ? *options.out : std::cout;
  const int64_t batch_size = options.batch_size;
  data::Batcher batcher(train, batch_size, options.shuffle, options_.seed);

  // Compile every program the run needs before the first step: full and partial batches.
  plan(batch_size);
  if (train.count % batch_size != 0) training_program(train.count % batch_size);
  if (options.validation_data != nullptr && options.validation_data->count % batch_size != 0) {
    evaluation_program(options.validation_data->count % batch_size);
  }

  const bool dynamic = options.verbose == 1 && options.out == nullptr && isatty(STDOUT_FILENO);
  History history;
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    if (options.verbose > 0 && options.epochs > 1) {
      out << "Epoch " << epoch + 1 << "/" << options.epochs << "\n";
    }
    batcher.start_epoch(epoch);
    ProgressBar bar(batcher.num_batches(), out, dynamic);
    double loss_sum = 0, correct = 0;
    int64_t seen = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int64_t b = 0; b < batcher.num_batches(); ++b) {
      const int64_t n = batcher.batch_count(b);
      runtime::Program& p = training_program(n);
      batcher.fill(b, p.view("input").f32(), p.view("labels").i32());
      ++iteration_;
      p.run(graph::StepState{iteration_, options_.optimizer.learning_rate, options_.seed});
      loss_sum += static_cast<double>(p.view("loss").f32()[0]) * static_cast<double>(n);
      correct += p.view("correct").f32()[0];
      seen += n;
      const bool last = b + 1 == batcher.num_batches();
      if (options.verbose == 1 && !last) {
        const double s = static_cast<double>(seen);
        bar.update(b + 1, {{"accuracy", correct / s}, {"loss", loss_sum / s}}, "", false);
      }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EpochLogs logs;
    logs.epoch = epoch + 1;
    logs.loss = loss_sum / static_cast<double>(seen);
    logs.accuracy = correct / static_cast<double>(seen);
    logs.seconds = seconds;
    logs.images_per_second = static_cast<double>(seen) / seconds;
    std::vector<std::pair<std::string, double>> metrics{{"accuracy", logs.accuracy},
                                                        {"loss", logs.loss}};
    if (options.validation_data != nullptr) {
      const EvalResult val = evaluate(*options.validation_data, batch_size);
      logs.val_loss = val.loss;
      logs.val_accuracy = val.accuracy;
      metrics.push_back({"val_accuracy", val.accuracy});
      metrics.push_back({"val_loss", val.loss});
    }
    if (options.verbose > 0) {
      char extra[96];
      std::snprintf(extra, sizeof extra, " - %.0f img/s - peak_rss: %s", logs.images_per_second,
                    memory::readable_bytes(memory::peak_rss_bytes()).c_str());
      bar.update(batcher.num_batches(), metrics, extra, true);
    }
    history.epochs.push_back(logs);
  }
  return history;
}

}  // namespace leantrain::train

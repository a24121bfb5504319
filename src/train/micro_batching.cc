#include "train/micro_batching.h"

#include <algorithm>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/passes/passes.h"
#include "ops/ops.h"
#include "train/resident_growth.h"

namespace leantrain::train {

using graph::ValueId;
using graph::ValueKind;
using memory::format_iec_bytes;

std::vector<int64_t> micro_split(int64_t rows, int k) {
  const int64_t m = (rows + k - 1) / k;
  std::vector<int64_t> sizes;
  for (int64_t done = 0; done < rows; done += m) sizes.push_back(std::min(m, rows - done));
  return sizes;
}

int64_t staging_bytes(const Shape& input_shape, int64_t batch_rows) {
  return batch_rows *
         (input_shape.num_elements() * dtype_size(DType::kF32) + dtype_size(DType::kI32));
}

graph::Graph build_micro_graph(const StepGraphs& graphs, int64_t rows, int64_t batch_rows) {
  return passes::accumulate_micro_batch_gradients(graphs.build(rows, StepMode::kMicro),
                                                  {.rows = rows, .batch_rows = batch_rows});
}

MicroBatcher::MicroBatcher(const StepGraphs& graphs, runtime::PersistentStore& store,
                           runtime::SharedArena& arena, const Objective& objective,
                           std::string input_name)
    : graphs_(graphs),
      store_(store),
      arena_(arena),
      objective_(objective),
      input_name_(std::move(input_name)) {}

runtime::Program& MicroBatcher::program(int64_t rows, int64_t batch_rows, int k) {
  auto& p = programs_[{rows, batch_rows}];
  if (p) return *p;
  const ResidentGrowth growth;
  graph::Graph g = build_micro_graph(graphs_, rows, batch_rows);
  const int64_t budget = graphs_.options().memory_budget_bytes;
  if (budget > 0) {
    const int64_t arena = runtime::planned_arena_bytes(g, graphs_.options().kernels);
    const int64_t need = store_.total_bytes() + arena;
    LT_CHECK(need <= budget, kOutOfBudget, "memory budget ", format_iec_bytes(budget),
             ": the micro-batch step", " of ", rows, " rows (of a batch of ", batch_rows,
             ", micro_batches ", k, ") needs ", format_iec_bytes(need), " (persistent ",
             format_iec_bytes(store_.total_bytes()), " + arena ", format_iec_bytes(arena),
             "); use more micro-batches, a smaller batch size or a budget of at least ",
             format_iec_bytes(need));
  }
  p = std::make_unique<runtime::Program>(std::move(g), store_, arena_, graphs_.options().kernels);
  runtime_bytes_ += growth.beyond_our_blocks();
  return *p;
}

runtime::Program& MicroBatcher::update_program() {
  if (update_program_) return *update_program_;
  const ResidentGrowth growth;
  // The update nodes of the training graph (their inputs are all persistent), in its order.
  const graph::Graph train = graphs_.build(1, StepMode::kTrain);
  graph::Graph g;
  for (const graph::Node& node : train.nodes()) {
    if (node.phase != graph::Phase::kUpdate) continue;
    std::vector<ValueId> inputs;
    for (ValueId in : node.inputs) {
      const graph::Value& value = train.value(in);
      LT_CHECK(graph::is_persistent(value.kind), kInternal, "update node '", node.name,
               "' reads the step-local value '", value.name, "'");
      ValueId id = g.find(value.name);
      if (id == graph::kNoValue) id = g.add_value(value.name, value.spec, value.kind, value.layer);
      inputs.push_back(id);
    }
    g.add_node(node.op, std::move(inputs), node.name, graph::Phase::kUpdate, node.layer);
  }
  update_program_ =
      std::make_unique<runtime::Program>(std::move(g), store_, arena_, graphs_.options().kernels);
  runtime_bytes_ += growth.beyond_our_blocks();
  return *update_program_;
}

BatchSource::Slots MicroBatcher::stage(int64_t rows) {
  const auto images = static_cast<size_t>(rows * graphs_.model().input_shape().num_elements());
  if (staging_images_.size() < images) staging_images_.resize(images);
  if (staging_labels_.size() < static_cast<size_t>(rows)) {
    staging_labels_.resize(static_cast<size_t>(rows));
  }
  return BatchSource::Slots{staging_images_.data(), staging_labels_.data()};
}

MicroBatcher::NonFinite MicroBatcher::run_step(int64_t rows, int k, const graph::StepState& state,
                                               double* loss_sum, std::vector<double>* sums) {
  const Objective& o = objective_;
  const int64_t image_elements = graphs_.model().input_shape().num_elements();
  const std::vector<int64_t> sizes = micro_split(rows, k);
  // The first micro-step adds into zeros.
  for (const std::string& name : store_.names()) {
    if (store_.kind(name) != ValueKind::kGradient) continue;
    const TensorView t = store_.view(name);
    std::fill(t.f32(), t.f32() + t.num_elements(), 0.0f);
  }
  int64_t offset = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int64_t m = sizes[i];
    runtime::Program& p = program(m, rows, k);
    // The extra copy micro-batching costs: this slice of the staged batch into the input slot.
    const float* images = staging_images_.data() + offset * image_elements;
    std::copy(images, images + m * image_elements, p.view(input_name_).f32());
    const int32_t* labels = staging_labels_.data() + offset;
    const TensorView dst = p.view("labels");
    if (dst.dtype == DType::kI32) {
      std::copy(labels, labels + m, dst.i32());
    } else {
      encode_labels(o.labels, labels, m, dst.num_elements() / m, dst.data);
    }
    graph::StepState micro_state = state;
    if (i > 0) micro_state.seed = mix64(state.seed ^ mix64(static_cast<uint64_t>(i)));
    const bool finite = p.run_if_loss_finite(micro_state);
    *loss_sum += static_cast<double>(p.view("loss").f32()[0]) * static_cast<double>(m);
    for (size_t j = 0; j < sums->size(); ++j) (*sums)[j] += p.view(o.metrics[j].name).f32()[0];
    if (!finite) return {&p, micro_state};
    offset += m;
  }
  update_program().run(state);
  return {};
}

}  // namespace leantrain::train

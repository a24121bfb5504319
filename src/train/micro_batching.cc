#include "train/micro_batching.h"

#include <algorithm>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "leantrain/memory/bytes.h"
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
  const graph::Graph g = graphs.build(rows, StepMode::kMicro);
  const float alpha =
      static_cast<float>(static_cast<double>(rows) / static_cast<double>(batch_rows));
  graph::Graph out;
  std::vector<ValueId> current(static_cast<size_t>(g.num_values()), graph::kNoValue);
  std::vector<graph::NodeId> node_map(static_cast<size_t>(g.num_nodes()), -1);
  // Producer-less values first, in their order and under their names; then the accumulators.
  for (ValueId v = 0; v < g.num_values(); ++v) {
    if (g.value(v).producer < 0) current[static_cast<size_t>(v)] = graph::copy_value(g, v, out);
  }
  std::map<ValueId, ValueId> accumulator;  // gradient in g -> persistent gradient in out
  for (ValueId v = 0; v < g.num_values(); ++v) {
    const graph::Value& value = g.value(v);
    if (value.kind != ValueKind::kGradient) continue;
    LT_CHECK(value.producer >= 0, kInternal, "gradient '", value.name, "' has no producer");
    accumulator[v] = out.add_value(value.name, value.spec, ValueKind::kGradient, value.layer);
  }
  const auto free_name = [&](const std::string& base) {
    std::string name = base;
    for (int i = 1; g.find(name) != graph::kNoValue || out.find(name) != graph::kNoValue; ++i) {
      name = base + "_" + std::to_string(i);
    }
    return name;
  };
  std::vector<std::pair<ValueId, std::string>> final_names;
  for (graph::NodeId n = 0; n < g.num_nodes(); ++n) {
    const graph::Node& node = g.node(n);
    std::vector<ValueId> inputs;
    for (ValueId in : node.inputs) {
      const ValueId mapped = current[static_cast<size_t>(in)];
      LT_CHECK(mapped != graph::kNoValue, kInternal, "micro-batch graph: '", node.name, "' reads '",
               g.value(in).name, "' before it is written");
      inputs.push_back(mapped);
    }
    const graph::NodeId forward_of =
        node.forward_of >= 0 ? node_map[static_cast<size_t>(node.forward_of)] : -1;
    out.add_node(node.op, std::move(inputs), out.unique_name("\x01micro/" + node.name), node.phase,
                 node.layer, forward_of);
    const graph::NodeId id = out.num_nodes() - 1;
    node_map[static_cast<size_t>(n)] = id;
    out.node(id).name = node.name;
    out.node(id).recomputed = node.recomputed;
    const std::vector<ValueId> outs = out.node(id).outputs;
    LT_CHECK(outs.size() == node.outputs.size(), kInternal, "micro-batch graph: '", node.name,
             "' has ", node.outputs.size(), " outputs but its op infers ", outs.size());
    for (size_t i = 0; i < outs.size(); ++i) {
      const ValueId original = node.outputs[i];
      const graph::Value& value = g.value(original);
      graph::Value& copy = out.value(outs[i]);
      copy.layer = value.layer;
      copy.is_output = value.is_output;
      current[static_cast<size_t>(original)] = outs[i];
      if (value.kind != ValueKind::kGradient) {
        copy.kind = value.kind;
        final_names.push_back({outs[i], value.name});
        continue;
      }
      copy.kind = ValueKind::kActivation;  // this micro-batch's gradient, step-local
      final_names.push_back({outs[i], free_name(value.name + "/micro")});
      out.add_node(ops::accumulate(alpha), {accumulator.at(original), outs[i]},
                   value.name + "/accumulate", graph::Phase::kBackward, value.layer);
    }
  }
  // Every node output holds a "\x01micro/" name until now, so the final names are free.
  for (const auto& [v, name] : final_names) out.rename(v, name);
  return out;
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

void MicroBatcher::run_step(int64_t rows, int k, const graph::StepState& state, double* loss_sum,
                            std::vector<double>* sums) {
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
    p.run(micro_state);
    *loss_sum += static_cast<double>(p.view("loss").f32()[0]) * static_cast<double>(m);
    for (size_t j = 0; j < sums->size(); ++j) (*sums)[j] += p.view(o.metrics[j].name).f32()[0];
    offset += m;
  }
  update_program().run(state);
}

}  // namespace leantrain::train

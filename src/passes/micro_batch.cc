// The micro-batch graph: each gradient accumulated into the persistent one right after its
// producer.
#include "leantrain/passes/micro_batch.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "leantrain/core/error.h"
#include "ops/ops.h"

namespace leantrain::passes {

using graph::ValueId;
using graph::ValueKind;

graph::Graph accumulate_micro_batch_gradients(const graph::Graph& g,
                                              const MicroBatchOptions& options) {
  LT_CHECK(options.rows >= 1 && options.rows <= options.batch_rows, kInvalidArgument,
           "micro-batch graph: ", options.rows, " rows of a batch of ", options.batch_rows,
           "; a micro-batch has 1 to batch_rows rows");
  for (const graph::Node& node : g.nodes()) {
    LT_CHECK(node.phase != graph::Phase::kUpdate, kInvalidArgument, "micro-batch graph: '",
             node.name,
             "' is an update node; the optimizer runs once per batch, not per "
             "micro-batch (build the graph without it)");
  }
  const float alpha = static_cast<float>(static_cast<double>(options.rows) /
                                         static_cast<double>(options.batch_rows));
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

}  // namespace leantrain::passes

#include "leantrain/graph/memory_plan.h"

#include "leantrain/core/error.h"

namespace leantrain::graph {

int64_t GraphMemoryPlan::value_offset(ValueId v) const {
  const int32_t b = buffer_of_value.at(static_cast<size_t>(v));
  LT_ASSERT(b >= 0);
  return plan.offsets.at(static_cast<size_t>(slots.slot_of.at(static_cast<size_t>(b))));
}

int64_t GraphMemoryPlan::scratch_offset(NodeId n) const {
  const int32_t b = scratch_buffer_of_node.at(static_cast<size_t>(n));
  if (b < 0) return -1;
  return plan.offsets.at(static_cast<size_t>(slots.slot_of.at(static_cast<size_t>(b))));
}

GraphMemoryPlan plan_graph_memory(const Graph& graph, std::span<const int64_t> scratch_bytes) {
  LT_ASSERT(static_cast<int32_t>(scratch_bytes.size()) == graph.num_nodes());
  GraphMemoryPlan out;
  out.buffer_of_value.assign(static_cast<size_t>(graph.num_values()), -1);
  out.scratch_buffer_of_node.assign(static_cast<size_t>(graph.num_nodes()), -1);
  std::vector<std::string> names;
  std::vector<int64_t> bytes;
  auto new_buffer = [&](const std::string& name, int64_t size) {
    names.push_back(name);
    bytes.push_back(size);
    return static_cast<int32_t>(names.size() - 1);
  };

  // Buffers: graph inputs first, then node outputs (aliases share) and scratch, in order.
  for (ValueId v = 0; v < graph.num_values(); ++v) {
    const Value& value = graph.value(v);
    if (value.producer < 0 && !is_persistent(value.kind)) {
      out.buffer_of_value[static_cast<size_t>(v)] = new_buffer(value.name, value.spec.bytes());
    }
  }
  for (NodeId n = 0; n < graph.num_nodes(); ++n) {
    const Node& node = graph.node(n);
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const ValueId v = node.outputs[i];
      const Value& value = graph.value(v);
      if (is_persistent(value.kind)) continue;
      if (i == 0 && node.op->aliases_input()) {
        const int32_t src = out.buffer_of_value[static_cast<size_t>(node.inputs.at(0))];
        LT_CHECK(src >= 0, kInternal, "'", node.name, "' aliases a persistent value");
        out.buffer_of_value[static_cast<size_t>(v)] = src;
        continue;
      }
      out.buffer_of_value[static_cast<size_t>(v)] = new_buffer(value.name, value.spec.bytes());
    }
    if (scratch_bytes[static_cast<size_t>(n)] > 0) {
      out.scratch_buffer_of_node[static_cast<size_t>(n)] =
          new_buffer(node.name + "/scratch", scratch_bytes[static_cast<size_t>(n)]);
    }
  }

  // Uses per step; inputs are live from step 0 and outputs to the last step.
  const int32_t last_step = std::max(graph.num_nodes() - 1, 0);
  std::vector<std::vector<int32_t>> uses(static_cast<size_t>(last_step + 1));
  for (NodeId n = 0; n < graph.num_nodes(); ++n) {
    const Node& node = graph.node(n);
    auto& step = uses[static_cast<size_t>(n)];
    for (ValueId v : node.inputs) {
      const int32_t b = out.buffer_of_value[static_cast<size_t>(v)];
      if (b >= 0) step.push_back(b);
    }
    for (ValueId v : node.outputs) {
      const int32_t b = out.buffer_of_value[static_cast<size_t>(v)];
      if (b >= 0) step.push_back(b);
    }
    const int32_t s = out.scratch_buffer_of_node[static_cast<size_t>(n)];
    if (s >= 0) step.push_back(s);
  }
  for (ValueId v = 0; v < graph.num_values(); ++v) {
    const Value& value = graph.value(v);
    const int32_t b = out.buffer_of_value[static_cast<size_t>(v)];
    if (b < 0) continue;
    if (value.producer < 0) uses[0].push_back(b);
    if (value.is_output) uses[static_cast<size_t>(last_step)].push_back(b);
  }
  out.buffers = memory::liveness(names, bytes, uses);

  // In-place requests, in step order so that chains (conv -> relu -> dropout) work.
  std::vector<memory::InplaceRequest> requests;
  for (NodeId n = 0; n < graph.num_nodes(); ++n) {
    const Node& node = graph.node(n);
    const int k = node.op->inplace_input();
    if (k < 0) continue;
    const int32_t in =
        out.buffer_of_value[static_cast<size_t>(node.inputs.at(static_cast<size_t>(k)))];
    const int32_t dst = out.buffer_of_value[static_cast<size_t>(node.outputs.at(0))];
    if (in < 0 || dst < 0) continue;
    requests.push_back(memory::InplaceRequest{n, in, dst});
  }
  out.slots = memory::assign_inplace(out.buffers, requests);
  out.plan = memory::plan_greedy_by_size(out.slots.slots);
  memory::verify_plan(out.slots.slots, out.plan);
  return out;
}

}  // namespace leantrain::graph

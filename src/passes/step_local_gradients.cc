#include "leantrain/passes/step_local_gradients.h"

#include <algorithm>
#include <vector>

#include "leantrain/core/error.h"

namespace leantrain::passes {

using graph::copy_node;
using graph::copy_value;
using graph::Graph;
using graph::is_persistent;
using graph::kNoValue;
using graph::Node;
using graph::NodeId;
using graph::Phase;
using graph::Value;
using graph::value_readers;
using graph::ValueId;
using graph::ValueKind;

Graph make_gradients_step_local(const Graph& g, const StepLocalGradientsOptions&) {
  const std::vector<std::vector<NodeId>> readers = value_readers(g);
  const int32_t num_nodes = g.num_nodes();
  // after[n]: the update nodes that run right after node n, in their original order.
  std::vector<std::vector<NodeId>> after(static_cast<size_t>(num_nodes));
  std::vector<ValueId> local;
  for (NodeId u = 0; u < num_nodes; ++u) {
    const Node& node = g.node(u);
    if (node.phase != Phase::kUpdate) continue;
    NodeId last = -1;
    for (ValueId in : node.inputs) {
      const Value& value = g.value(in);
      last = std::max(last, value.producer);
      if (is_persistent(value.kind)) {
        // Readers before the update (it writes the value in place); later ones stay later.
        for (NodeId r : readers[static_cast<size_t>(in)]) {
          if (r < u) last = std::max(last, r);
        }
      }
      if (value.kind == ValueKind::kGradient && value.producer >= 0 &&
          readers[static_cast<size_t>(in)] == std::vector<NodeId>{u}) {
        local.push_back(in);
      }
    }
    LT_CHECK(last >= 0 && last < u && node.outputs.empty(), kInternal,
             "make_gradients_step_local: update node '", node.name, "' follows node ", last,
             " and writes ", node.outputs.size(),
             " values (updates write their inputs in place, "
             "after the node producing their gradient)");
    after[static_cast<size_t>(last)].push_back(u);
  }
  if (local.empty()) return g;

  // Only update nodes move (they write no new values), so names cannot clash.
  std::vector<NodeId> order;
  order.reserve(static_cast<size_t>(num_nodes));
  for (NodeId n = 0; n < num_nodes; ++n) {
    if (g.node(n).phase == Phase::kUpdate) continue;
    order.push_back(n);
    for (NodeId u : after[static_cast<size_t>(n)]) order.push_back(u);
  }
  LT_CHECK(static_cast<int32_t>(order.size()) == num_nodes, kInternal,
           "make_gradients_step_local: scheduled ", order.size(), " of ", num_nodes, " nodes");

  // Rebuild: producer-less values first in their order, then the nodes in the new order.
  Graph out;
  std::vector<ValueId> id_of(static_cast<size_t>(g.num_values()), kNoValue);
  std::vector<NodeId> node_of(static_cast<size_t>(num_nodes), -1);
  for (ValueId v = 0; v < g.num_values(); ++v) {
    if (g.value(v).producer < 0) id_of[static_cast<size_t>(v)] = copy_value(g, v, out);
  }
  for (NodeId n : order) {
    const Node& node = g.node(n);
    std::vector<ValueId> inputs;
    for (ValueId in : node.inputs) inputs.push_back(id_of[static_cast<size_t>(in)]);
    const NodeId forward_of =
        node.forward_of >= 0 ? node_of[static_cast<size_t>(node.forward_of)] : NodeId{-1};
    LT_CHECK(node.forward_of < 0 || forward_of >= 0, kInternal, "make_gradients_step_local: '",
             node.name, "' would run before its forward node");
    const std::vector<ValueId> outs = copy_node(g, n, out, std::move(inputs), forward_of);
    node_of[static_cast<size_t>(n)] = out.num_nodes() - 1;
    for (size_t i = 0; i < outs.size(); ++i) id_of[static_cast<size_t>(node.outputs[i])] = outs[i];
  }
  for (ValueId v : local) out.value(id_of[static_cast<size_t>(v)]).kind = ValueKind::kActivation;
  return out;
}

}  // namespace leantrain::passes

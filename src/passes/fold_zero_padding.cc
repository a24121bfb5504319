// fold_zero_padding: ZeroPadding2D nodes folded into the convolutions that read them.
#include "leantrain/passes/fold_zero_padding.h"

#include <algorithm>
#include <vector>

#include "ops/ops.h"

namespace leantrain::passes {

using graph::Graph;
using graph::Node;
using graph::NodeId;
using graph::Value;
using graph::ValueId;

Graph fold_zero_padding(const Graph& g, const FoldZeroPaddingOptions& options) {
  for (const Node& node : g.nodes()) {
    LT_CHECK(node.phase == graph::Phase::kForward, kInvalidArgument, "fold_zero_padding: '",
             node.name, "' is a ", graph::phase_name(node.phase),
             " node; fold the forward graph, before the loss and autodiff");
  }
  const std::vector<std::vector<NodeId>> readers = graph::value_readers(g);
  // Per node: the op it runs in the new graph (null: left out, a folded pad).
  std::vector<std::shared_ptr<const graph::Op>> op_of(static_cast<size_t>(g.num_nodes()));
  std::vector<ValueId> source(static_cast<size_t>(g.num_values()));  // what a node reads instead
  for (ValueId v = 0; v < g.num_values(); ++v) source[static_cast<size_t>(v)] = v;
  bool folded = false;
  for (NodeId n = 0; n < g.num_nodes(); ++n) {
    const Node& node = g.node(n);
    if (op_of[static_cast<size_t>(n)] == nullptr) op_of[static_cast<size_t>(n)] = node.op;
    ops::Padding2D pad;
    if (!ops::zero_pad2d_amounts(*node.op, &pad)) continue;
    const ValueId padded = node.outputs[0];
    const std::vector<NodeId>& r = readers[static_cast<size_t>(padded)];
    if (g.value(padded).is_output || r.size() != 1) continue;
    const NodeId conv = r[0];
    // Read as the convolution's input, and only there (not also as its kernel).
    const std::vector<ValueId>& conv_inputs = g.node(conv).inputs;
    if (conv_inputs[0] != padded ||
        std::count(conv_inputs.begin(), conv_inputs.end(), padded) != 1) {
      continue;
    }
    if (op_of[static_cast<size_t>(conv)] != nullptr) continue;  // already given an op
    ops::OpPtr with_pad = ops::conv_with_input_padding(*g.node(conv).op, pad);
    if (with_pad == nullptr) continue;
    op_of[static_cast<size_t>(n)] = nullptr;
    op_of[static_cast<size_t>(conv)] = std::move(with_pad);
    source[static_cast<size_t>(padded)] = node.inputs[0];
    folded = true;
  }
  if (!folded) return g;

  // Rebuild in the original value order (producer-less values and nodes interleaved as they
  // were added), so that the arena planner sees the same order.
  Graph out;
  std::vector<ValueId> id_of(static_cast<size_t>(g.num_values()), graph::kNoValue);
  for (ValueId v = 0; v < g.num_values(); ++v) {
    const Value& value = g.value(v);
    if (value.producer < 0) {
      id_of[static_cast<size_t>(v)] = graph::copy_value(g, v, out);
      continue;
    }
    const Node& node = g.node(value.producer);
    if (node.outputs[0] != v || op_of[static_cast<size_t>(value.producer)] == nullptr) continue;
    std::vector<ValueId> inputs;
    for (ValueId in : node.inputs) {
      inputs.push_back(id_of[static_cast<size_t>(source[static_cast<size_t>(in)])]);
    }
    const std::vector<ValueId> outs = graph::copy_node(
        g, value.producer, out, std::move(inputs), -1, op_of[static_cast<size_t>(value.producer)]);
    for (size_t i = 0; i < outs.size(); ++i) {
      const Value& original = g.value(node.outputs[i]);
      LT_CHECK(out.value(outs[i]).spec.shape == original.spec.shape, kInternal,
               "fold_zero_padding: '", node.name, "' output ", i, " changed shape from ",
               original.spec.shape.to_string(), " to ", out.value(outs[i]).spec.shape.to_string());
      id_of[static_cast<size_t>(node.outputs[i])] = outs[i];
    }
  }
  for (ValueId& id : options.ids) {
    const ValueId mapped = id_of.at(static_cast<size_t>(id));
    LT_CHECK(mapped != graph::kNoValue, kInvalidArgument, "fold_zero_padding: '", g.value(id).name,
             "' is the output of a folded ZeroPadding2D");
    id = mapped;
  }
  return out;
}

}  // namespace leantrain::passes

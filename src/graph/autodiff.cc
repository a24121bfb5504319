#include "leantrain/graph/autodiff.h"

#include <algorithm>
#include <set>

#include "leantrain/core/error.h"

namespace leantrain::graph {
namespace {

// Values on a path from a parameter to `loss`: the ones that need a gradient.
std::vector<bool> values_needing_grad(const Graph& graph, ValueId loss, int32_t num_forward) {
  std::vector<bool> from_param(static_cast<size_t>(graph.num_values()), false);
  for (ValueId v = 0; v < graph.num_values(); ++v) {
    from_param[static_cast<size_t>(v)] = graph.value(v).kind == ValueKind::kParameter;
  }
  for (NodeId n = 0; n < num_forward; ++n) {
    const Node& node = graph.node(n);
    const bool any = std::any_of(node.inputs.begin(), node.inputs.end(),
                                 [&](ValueId v) { return from_param[static_cast<size_t>(v)]; });
    for (ValueId out : node.outputs) from_param[static_cast<size_t>(out)] = any;
  }
  std::vector<bool> to_loss(static_cast<size_t>(graph.num_values()), false);
  to_loss[static_cast<size_t>(loss)] = true;
  for (NodeId n = num_forward - 1; n >= 0; --n) {
    const Node& node = graph.node(n);
    const bool any = std::any_of(node.outputs.begin(), node.outputs.end(),
                                 [&](ValueId v) { return to_loss[static_cast<size_t>(v)]; });
    if (!any) continue;
    for (ValueId in : node.inputs) to_loss[static_cast<size_t>(in)] = true;
  }
  std::vector<bool> needs(from_param.size());
  for (size_t i = 0; i < needs.size(); ++i) needs[i] = from_param[i] && to_loss[i];
  return needs;
}

}  // namespace

std::map<ValueId, ValueId> add_backward(Graph& graph, ValueId loss,
                                        const std::shared_ptr<const Op>& sum_op,
                                        const std::shared_ptr<const Op>& copy_op) {
  const int32_t num_forward = graph.num_nodes();
  const Value& loss_value = graph.value(loss);
  LT_CHECK(loss_value.producer >= 0, kInvalidArgument, "loss '", loss_value.name,
           "' is not computed by the graph");
  LT_CHECK(loss_value.spec.shape.num_elements() == 1, kInvalidArgument, "loss '", loss_value.name,
           "' must be a scalar, got shape ", loss_value.spec.shape.to_string());
  const std::vector<bool> needs = values_needing_grad(graph, loss, num_forward);

  // Gradient contributions per value, summed when first read.
  std::map<ValueId, std::vector<ValueId>> contributions;
  auto total_grad = [&](ValueId v, NodeId consumer_of) -> ValueId {
    auto it = contributions.find(v);
    if (it == contributions.end()) return kNoValue;
    std::vector<ValueId>& parts = it->second;
    while (parts.size() > 1) {
      // Sum pairwise; the sum node is a backward node of whichever node needs the total.
      GradContext ctx(graph, consumer_of, {});
      const ValueId s = ctx.add(sum_op, {parts[parts.size() - 2], parts.back()}, "grad_sum");
      parts.pop_back();
      parts.back() = s;
    }
    return parts[0];
  };

  for (NodeId n = num_forward - 1; n >= 0; --n) {
    const Node node = graph.node(n);  // a copy: adding nodes may move the node list
    const bool produces_loss =
        std::find(node.outputs.begin(), node.outputs.end(), loss) != node.outputs.end();
    std::vector<ValueId> output_grads;
    bool any_grad = false;
    for (ValueId out : node.outputs) {
      const ValueId g = out == loss ? kNoValue : total_grad(out, n);
      output_grads.push_back(g);
      any_grad |= g != kNoValue;
    }
    if (!produces_loss && !any_grad) continue;
    std::vector<bool> input_needs;
    bool any_input = false;
    for (ValueId in : node.inputs) {
      input_needs.push_back(needs[static_cast<size_t>(in)]);
      any_input |= input_needs.back();
    }
    if (!any_input) continue;

    const int32_t first_new_node = graph.num_nodes();
    GradContext ctx(graph, n, input_needs);
    const std::vector<ValueId> input_grads = node.op->gradient(ctx, node, output_grads);
    LT_CHECK(input_grads.size() == node.inputs.size(), kInternal, node.op->type(),
             " gradient returned ", input_grads.size(), " gradients for ", node.inputs.size(),
             " inputs");

    // The rule may read: values it created, the output gradients, persistent values, and the
    // forward tensors it declared as saved.
    const SavedForBackward saved = node.op->saved_for_backward();
    std::set<ValueId> allowed(output_grads.begin(), output_grads.end());
    for (int i : saved.inputs) allowed.insert(node.inputs.at(static_cast<size_t>(i)));
    for (int i : saved.outputs) allowed.insert(node.outputs.at(static_cast<size_t>(i)));
    for (NodeId b = first_new_node; b < graph.num_nodes(); ++b) {
      for (ValueId in : graph.node(b).inputs) {
        const Value& v = graph.value(in);
        const bool created_here = v.producer >= first_new_node;
        LT_CHECK(created_here || allowed.contains(in) || is_persistent(v.kind), kInternal,
                 node.op->type(), " '", node.name, "': its gradient reads '", v.name,
                 "', which saved_for_backward() does not declare");
      }
    }

    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (input_grads[i] == kNoValue || !input_needs[i]) continue;
      contributions[node.inputs[i]].push_back(input_grads[i]);
    }
  }

  std::map<ValueId, ValueId> param_grads;
  std::set<ValueId> taken;
  for (ValueId v = 0; v < graph.num_values(); ++v) {
    if (graph.value(v).kind != ValueKind::kParameter || !needs[static_cast<size_t>(v)]) continue;
    const NodeId loss_node = graph.value(loss).producer;
    ValueId g = total_grad(v, loss_node);
    LT_CHECK(g != kNoValue, kInternal, "parameter '", graph.value(v).name, "' got no gradient");
    const NodeId producer = graph.value(g).producer;
    if (producer < num_forward || graph.value(g).kind != ValueKind::kActivation ||
        graph.node(producer).op->aliases_input() || taken.contains(g)) {
      GradContext ctx(graph, loss_node, {});
      g = ctx.add(copy_op, {g}, "grad_copy");
    }
    taken.insert(g);
    graph.value(g).kind = ValueKind::kGradient;
    graph.rename(g, graph.value(v).name + "/grad");
    param_grads[v] = g;
  }
  return param_grads;
}

}  // namespace leantrain::graph

#include "leantrain/graph/graph.h"

#include "leantrain/core/error.h"

namespace leantrain::graph {

bool is_persistent(ValueKind kind) {
  return kind == ValueKind::kParameter || kind == ValueKind::kState ||
         kind == ValueKind::kGradient || kind == ValueKind::kOptimizerState;
}

const char* value_kind_name(ValueKind kind) {
  switch (kind) {
    case ValueKind::kInput:
      return "input";
    case ValueKind::kActivation:
      return "activation";
    case ValueKind::kParameter:
      return "parameter";
    case ValueKind::kState:
      return "state";
    case ValueKind::kGradient:
      return "gradient";
    case ValueKind::kOptimizerState:
      return "optimizer state";
  }
  return "?";
}

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::kForward:
      return "forward";
    case Phase::kLoss:
      return "loss";
    case Phase::kBackward:
      return "backward";
    case Phase::kUpdate:
      return "update";
  }
  return "?";
}

std::vector<ValueId> Op::gradient(GradContext& ctx, const Node& node,
                                  std::span<const ValueId> output_grads) const {
  (void)ctx;
  (void)output_grads;
  throw Error(ErrorCode::kUnimplemented,
              internal::str_cat(type(), " '", node.name, "' has no gradient"));
}

ValueId Graph::add_value(std::string name, TensorSpec spec, ValueKind kind, std::string layer) {
  LT_CHECK(!by_name_.contains(name), kInvalidArgument, "the graph already has a value named '",
           name, "'");
  const auto id = static_cast<ValueId>(values_.size());
  by_name_[name] = id;
  values_.push_back(Value{std::move(name), spec, kind, -1, std::move(layer), false});
  return id;
}

std::vector<ValueId> Graph::add_node(std::shared_ptr<const Op> op, std::vector<ValueId> inputs,
                                     std::string name, Phase phase, std::string layer,
                                     NodeId forward_of) {
  std::vector<TensorSpec> in_specs;
  for (ValueId v : inputs) {
    LT_CHECK(v >= 0 && v < num_values(), kInternal, "node '", name, "' reads unknown value ", v);
    in_specs.push_back(values_[static_cast<size_t>(v)].spec);
  }
  std::vector<TensorSpec> out_specs = op->infer(in_specs);
  const auto id = static_cast<NodeId>(nodes_.size());
  std::vector<ValueId> outputs;
  for (size_t i = 0; i < out_specs.size(); ++i) {
    std::string out_name = out_specs.size() == 1 ? name : name + ":" + std::to_string(i);
    const ValueId v = add_value(out_name, out_specs[i], ValueKind::kActivation, layer);
    values_[static_cast<size_t>(v)].producer = id;
    outputs.push_back(v);
  }
  nodes_.push_back(Node{std::move(name), std::move(op), std::move(inputs), outputs, phase,
                        std::move(layer), forward_of});
  return outputs;
}

ValueId Graph::add(std::shared_ptr<const Op> op, std::vector<ValueId> inputs, std::string name,
                   Phase phase, std::string layer, NodeId forward_of) {
  auto outputs = add_node(std::move(op), std::move(inputs), std::move(name), phase,
                          std::move(layer), forward_of);
  LT_ASSERT(outputs.size() == 1);
  return outputs[0];
}

void Graph::rename(ValueId id, const std::string& name) {
  LT_CHECK(!by_name_.contains(name), kInvalidArgument, "the graph already has a value named '",
           name, "'");
  Value& v = value(id);
  by_name_.erase(v.name);
  v.name = name;
  by_name_[name] = id;
}

ValueId Graph::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? kNoValue : it->second;
}

std::string Graph::unique_name(const std::string& base) const {
  if (!by_name_.contains(base)) return base;
  for (int i = 1;; ++i) {
    std::string candidate = base + "_" + std::to_string(i);
    if (!by_name_.contains(candidate)) return candidate;
  }
}

ValueId copy_value(const Graph& from, ValueId v, Graph& to) {
  const Value& value = from.value(v);
  const ValueId id = to.add_value(value.name, value.spec, value.kind, value.layer);
  to.value(id).is_output = value.is_output;
  return id;
}

std::vector<ValueId> copy_node(const Graph& from, NodeId n, Graph& to, std::vector<ValueId> inputs,
                               NodeId forward_of, std::shared_ptr<const Op> op) {
  const Node& node = from.node(n);
  const std::vector<ValueId> outs =
      to.add_node(op != nullptr ? std::move(op) : node.op, std::move(inputs),
                  to.unique_name("\x01copy/" + node.name), node.phase, node.layer, forward_of);
  LT_CHECK(outs.size() == node.outputs.size(), kInternal, "copy_node: '", node.name, "' has ",
           node.outputs.size(), " outputs but its op infers ", outs.size());
  Node& copy = to.node(to.num_nodes() - 1);
  copy.name = node.name;
  copy.recomputed = node.recomputed;
  for (size_t i = 0; i < outs.size(); ++i) {
    const Value& original = from.value(node.outputs[i]);
    to.rename(outs[i], original.name);
    Value& v = to.value(outs[i]);
    v.kind = original.kind;
    v.layer = original.layer;
    v.is_output = original.is_output;
  }
  return outs;
}

GradContext::GradContext(Graph& graph, NodeId forward_node, std::vector<bool> needs_grad)
    : graph_(graph), forward_node_(forward_node), needs_grad_(std::move(needs_grad)) {}

std::vector<ValueId> GradContext::add_node(std::shared_ptr<const Op> op,
                                           std::vector<ValueId> inputs, const std::string& suffix) {
  const Node& fwd = graph_.node(forward_node_);
  const std::string name = graph_.unique_name(fwd.name + "/" + suffix);
  const std::string layer = fwd.layer;
  return graph_.add_node(std::move(op), std::move(inputs), name, Phase::kBackward, layer,
                         forward_node_);
}

ValueId GradContext::add(std::shared_ptr<const Op> op, std::vector<ValueId> inputs,
                         const std::string& suffix) {
  auto outputs = add_node(std::move(op), std::move(inputs), suffix);
  LT_ASSERT(outputs.size() == 1);
  return outputs[0];
}

std::vector<std::vector<NodeId>> value_readers(const Graph& g) {
  std::vector<std::vector<NodeId>> readers(static_cast<size_t>(g.num_values()));
  for (NodeId n = 0; n < g.num_nodes(); ++n) {
    for (ValueId v : g.node(n).inputs) {
      auto& r = readers[static_cast<size_t>(v)];
      if (r.empty() || r.back() != n) r.push_back(n);
    }
  }
  return readers;
}

}  // namespace leantrain::graph

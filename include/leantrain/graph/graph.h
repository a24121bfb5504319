// The graph IR: values (tensors with a kind that says who owns their memory) and nodes (an op
// applied to values). A training step is one Graph: forward, loss, backward and update nodes,
// in an order that is a valid schedule.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "leantrain/graph/op.h"

namespace leantrain::graph {

// Who owns a value's memory: the persistent block or the planned arena (the input pipeline's
// buffers, the third owner, are outside graphs; docs/architecture.md).
enum class ValueKind {
  kInput,           // planned: filled by the input pipeline before each step
  kActivation,      // planned: lives within one step
  kParameter,       // persistent, trainable
  kState,           // persistent, not trainable (batch-norm moving statistics)
  kGradient,        // persistent: the gradient of a parameter
  kOptimizerState,  // persistent: momentum, Adam moments
};

bool is_persistent(ValueKind kind);
const char* value_kind_name(ValueKind kind);

enum class Phase { kForward, kLoss, kBackward, kUpdate };
const char* phase_name(Phase phase);

struct Value {
  std::string name;  // unique in the graph; persistent values are shared across graphs by name
  TensorSpec spec;
  ValueKind kind = ValueKind::kActivation;
  NodeId producer = -1;
  std::string layer;       // the layer it belongs to, for reports
  bool is_output = false;  // read by the host after the step (loss, metrics): lives to the end
};

struct Node {
  std::string name;
  std::shared_ptr<const Op> op;
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  Phase phase = Phase::kForward;
  std::string layer;
  NodeId forward_of = -1;  // for backward nodes: the forward node whose gradient they compute
  // A copy of a forward node run again during backward to rematerialize its outputs
  // (passes::apply_remat); it writes no persistent state.
  bool recomputed = false;
};

// A graph under construction or compiled. Nodes are kept in insertion order, which is always a
// topological order (a node may only read values that exist). Not thread-safe.
class Graph {
 public:
  // Adds a value with no producer (an input or a persistent value). Throws Error(kInvalidArgument)
  // if the name is taken.
  ValueId add_value(std::string name, TensorSpec spec, ValueKind kind, std::string layer = "");
  // Adds a node; its outputs' specs come from op->infer. Output names are `name` (one output)
  // or `name:i`. Returns the output ids.
  std::vector<ValueId> add_node(std::shared_ptr<const Op> op, std::vector<ValueId> inputs,
                                std::string name, Phase phase, std::string layer = "",
                                NodeId forward_of = -1);
  // Single-output convenience.
  ValueId add(std::shared_ptr<const Op> op, std::vector<ValueId> inputs, std::string name,
              Phase phase, std::string layer = "", NodeId forward_of = -1);

  const Value& value(ValueId id) const { return values_.at(static_cast<size_t>(id)); }
  Value& value(ValueId id) { return values_.at(static_cast<size_t>(id)); }
  const Node& node(NodeId id) const { return nodes_.at(static_cast<size_t>(id)); }
  // For rewrites that copy a node and then adjust it (its name, Node::recomputed); its inputs and
  // outputs must stay as add_node made them.
  Node& node(NodeId id) { return nodes_.at(static_cast<size_t>(id)); }
  const std::vector<Value>& values() const { return values_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  int32_t num_values() const { return static_cast<int32_t>(values_.size()); }
  int32_t num_nodes() const { return static_cast<int32_t>(nodes_.size()); }
  // Renames a value; throws Error(kInvalidArgument) if `name` is taken.
  void rename(ValueId id, const std::string& name);
  // Returns the id of the value called `name`, or kNoValue.
  ValueId find(const std::string& name) const;
  // Returns a name not yet used, `base` or `base_1`, `base_2`, ...
  std::string unique_name(const std::string& base) const;

 private:
  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::map<std::string, ValueId> by_name_;
};

// The nodes reading each value (indexed by ValueId), in schedule order; a node reading a value
// at several inputs is listed once. O(nodes + edges).
std::vector<std::vector<NodeId>> value_readers(const Graph& graph);

// For rewrites that rebuild a graph node by node: adds to `to` a producer-less copy of value `v`
// of `from` (name, spec, kind, layer, is_output) and returns its id. Throws
// Error(kInvalidArgument) when the name is taken.
ValueId copy_value(const Graph& from, ValueId v, Graph& to);
// Adds to `to` a copy of node `n` of `from` reading `inputs` (ids in `to`), with `op` (null:
// the node's own), forward_of as given, and the original's name, phase, layer and recomputed
// flag; its outputs get the original outputs' names, kinds, layers and is_output flags (they are
// added under a name no value has, then renamed, so only the final names must be free in `to`).
// Returns the outputs' ids in `to`.
// Throws Error(kInvalidArgument) when an output name is taken, kInternal when `op` infers a
// different number of outputs.
std::vector<ValueId> copy_node(const Graph& from, NodeId n, Graph& to, std::vector<ValueId> inputs,
                               NodeId forward_of, std::shared_ptr<const Op> op = nullptr);

// What gradient rules use to add backward nodes. Made by autodiff.
class GradContext {
 public:
  GradContext(Graph& graph, NodeId forward_node, std::vector<bool> needs_grad);
  Graph& graph() { return graph_; }
  // True when input `i` of the forward node needs a gradient.
  bool needs_grad(int i) const { return needs_grad_.at(static_cast<size_t>(i)); }
  const Node& forward_node() const { return graph_.node(forward_node_); }
  // Adds a backward node for the current forward node; returns its outputs.
  std::vector<ValueId> add_node(std::shared_ptr<const Op> op, std::vector<ValueId> inputs,
                                const std::string& suffix);
  ValueId add(std::shared_ptr<const Op> op, std::vector<ValueId> inputs, const std::string& suffix);

 private:
  Graph& graph_;
  NodeId forward_node_;
  std::vector<bool> needs_grad_;
};

}  // namespace leantrain::graph

// apply_remat: a training graph rewritten to run a rematerialization schedule, recomputed stages
// as cloned forward nodes whose values the backward reads; fit_remat: a schedule whose rewritten
// graph's planned arena fits a budget.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/passes/remat.h"

namespace leantrain::passes {

using graph::copy_value;
using graph::Graph;
using graph::is_persistent;
using graph::kNoValue;
using graph::Node;
using graph::NodeId;
using graph::Op;
using graph::Phase;
using graph::phase_name;
using graph::RecomputableOp;
using graph::Value;
using graph::ValueId;

namespace {

constexpr int32_t kNoStage = -1;

// The graph under construction: original values mapped to their latest copies, and the names
// every node output gets once all nodes are in.
class Rewriter {
 public:
  explicit Rewriter(const Graph& g)
      : g_(g), current_(static_cast<size_t>(g.num_values()), kNoValue) {
    for (const Value& v : g.values()) taken_.insert(v.name);
    for (const Node& n : g.nodes()) taken_.insert(n.name);
    // Producer-less values first, in their original order, under their own names: the arena
    // planner then orders their buffers as the original's.
    for (ValueId v = 0; v < g.num_values(); ++v) {
      if (g.value(v).producer < 0) current_[static_cast<size_t>(v)] = copy_value(g, v, out_);
    }
  }

  // Adds original node `n` (its first and only run): same op, name and values' names.
  NodeId add_original(NodeId n, NodeId forward_of) {
    const Node& node = g_.node(n);
    const NodeId id = add(node.op, node, node.name, forward_of);
    const std::vector<ValueId>& outs = out_.node(id).outputs;
    for (size_t i = 0; i < outs.size(); ++i) {
      const Value& original = g_.value(node.outputs[i]);
      Value& copy = out_.value(outs[i]);
      copy.kind = original.kind;
      copy.layer = original.layer;
      copy.is_output = original.is_output;
      final_names_.push_back({outs[i], original.name});
      current_[static_cast<size_t>(node.outputs[i])] = outs[i];
    }
    return id;
  }

  // Adds a recomputation of forward node `n`, the run_index-th run (>= 2) of its stage.
  NodeId add_clone(NodeId n, int32_t run_index) {
    const Node& node = g_.node(n);
    const std::string suffix = "/recompute" + std::to_string(run_index - 1);
    for (ValueId v : node.outputs) {
      LT_CHECK(!is_persistent(g_.value(v).kind), kUnimplemented, "apply_remat: recomputing '",
               node.name, "' would write the persistent value '", g_.value(v).name,
               "' again; keep its stage (a larger budget) or make the op write step-local values");
    }
    std::shared_ptr<const Op> op = node.op;
    if (!op->mutated_inputs().empty()) {
      const auto* recomputable = dynamic_cast<const RecomputableOp*>(op.get());
      LT_CHECK(recomputable != nullptr, kUnimplemented, "apply_remat: ", op->type(), " '",
               node.name, "' writes its inputs (persistent state) and has no variant without ",
               "side effects (RecomputableOp); it cannot be recomputed: keep its stage (a larger "
               "budget)");
      op = recomputable->without_side_effects();
      LT_CHECK(op != nullptr && op->mutated_inputs().empty(), kInternal,
               "apply_remat: ", node.op->type(),
               "'s variant without side effects still writes its inputs");
    }
    const NodeId id = add(op, node, fresh_name(node.name + suffix), -1);
    out_.node(id).recomputed = true;
    const std::vector<ValueId>& outs = out_.node(id).outputs;
    for (size_t i = 0; i < outs.size(); ++i) {
      const Value& original = g_.value(node.outputs[i]);
      out_.value(outs[i]).kind = original.kind;
      out_.value(outs[i]).layer = original.layer;
      final_names_.push_back({outs[i], fresh_name(original.name + suffix)});
      current_[static_cast<size_t>(node.outputs[i])] = outs[i];
    }
    return id;
  }

  // Gives every node output its final name and returns the graph.
  Graph finish() {
    // Through temporary names first, so that no final name is still held by another value.
    for (const auto& [v, name] : final_names_) {
      if (out_.value(v).name != name) out_.rename(v, out_.unique_name("\x01remat/" + name));
    }
    for (const auto& [v, name] : final_names_) {
      if (out_.value(v).name != name) out_.rename(v, name);
    }
    return std::move(out_);
  }

 private:
  // A name no original value or node has and no clone took yet.
  std::string fresh_name(const std::string& base) {
    std::string name = base;
    for (int i = 1; taken_.contains(name); ++i) name = base + "_" + std::to_string(i);
    taken_.insert(name);
    return name;
  }

  NodeId add(const std::shared_ptr<const Op>& op, const Node& node, const std::string& name,
             NodeId forward_of) {
    std::vector<ValueId> inputs;
    for (ValueId in : node.inputs) {
      const ValueId mapped = current_[static_cast<size_t>(in)];
      LT_CHECK(mapped != kNoValue, kInvalidArgument, "apply_remat: '", node.name, "' reads '",
               g_.value(in).name,
               "' before any node of the rewritten schedule writes it; the "
               "chain does not match the graph (extract it from this graph)");
      inputs.push_back(mapped);
    }
    // add_node() names the outputs after the node; when such a name is taken (a value renamed
    // to it), add under a free name and give the node its name back.
    bool free = true;
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const std::string out_name = node.outputs.size() == 1 ? name : name + ":" + std::to_string(i);
      free = free && out_.find(out_name) == kNoValue;
    }
    const std::string add_as = free ? name : out_.unique_name("\x01remat/node/" + name);
    out_.add_node(op, std::move(inputs), add_as, node.phase, node.layer, forward_of);
    const NodeId id = out_.num_nodes() - 1;
    if (!free) out_.node(id).name = name;
    LT_CHECK(out_.node(id).outputs.size() == node.outputs.size(), kInternal, "apply_remat: '",
             node.name, "' has ", node.outputs.size(), " outputs but its op infers ",
             out_.node(id).outputs.size());
    return id;
  }

  const Graph& g_;
  Graph out_;
  std::vector<ValueId> current_;  // per original value: its latest copy in out_
  std::set<std::string> taken_;
  std::vector<std::pair<ValueId, std::string>> final_names_;
};

}  // namespace

Graph apply_remat(const Graph& g, const RematRewriteOptions& options) {
  const Chain& chain = options.chain;
  const RematSchedule& schedule = options.schedule;
  LT_CHECK(schedule.fits, kInvalidArgument, "apply_remat: the schedule does not fit its budget (",
           schedule.budget_bytes, " bytes; the smallest that fits is ", schedule.min_budget_bytes,
           "): there is nothing to run");
  simulate_remat(chain, schedule.ops);  // throws unless the ops are one training step

  // Every forward, loss and backward node in exactly one stage; update nodes in none.
  const int32_t num_nodes = g.num_nodes();
  const int32_t num_stages = static_cast<int32_t>(chain.stages.size());
  std::vector<int32_t> stage_of(static_cast<size_t>(num_nodes), kNoStage);
  for (int32_t s = 0; s < num_stages; ++s) {
    const ChainStage& stage = chain.stages[static_cast<size_t>(s)];
    for (const std::vector<NodeId>* list : {&stage.forward_nodes, &stage.backward_nodes}) {
      for (NodeId n : *list) {
        LT_CHECK(n >= 0 && n < num_nodes, kInvalidArgument, "apply_remat: stage ", s,
                 " lists node ", n, "; the graph has ", num_nodes,
                 " nodes (extract the chain from this graph)");
        LT_CHECK(stage_of[static_cast<size_t>(n)] == kNoStage, kInvalidArgument,
                 "apply_remat: node '", g.node(n).name, "' is in stages ",
                 stage_of[static_cast<size_t>(n)], " and ", s);
        const bool backward = list == &stage.backward_nodes;
        LT_CHECK(
            backward == (g.node(n).phase == Phase::kBackward) && g.node(n).phase != Phase::kUpdate,
            kInvalidArgument, "apply_remat: stage ", s, " lists the ", phase_name(g.node(n).phase),
            " node '", g.node(n).name, "' as a ", backward ? "backward" : "forward", " node");
        stage_of[static_cast<size_t>(n)] = s;
      }
    }
  }
  for (NodeId n = 0; n < num_nodes; ++n) {
    LT_CHECK(g.node(n).phase == Phase::kUpdate || stage_of[static_cast<size_t>(n)] != kNoStage,
             kInvalidArgument, "apply_remat: the ", phase_name(g.node(n).phase), " node '",
             g.node(n).name, "' is in no stage of the chain (extract the chain from this graph)");
  }

  Rewriter rw(g);
  std::vector<NodeId> new_id(static_cast<size_t>(num_nodes), -1);  // of original nodes
  std::vector<int32_t> runs(static_cast<size_t>(num_stages), 0);
  const auto mapped_forward_of = [&](const Node& node) {
    if (node.forward_of < 0) return NodeId{-1};
    const NodeId f = new_id.at(static_cast<size_t>(node.forward_of));
    LT_CHECK(f >= 0, kInvalidArgument, "apply_remat: backward node '", node.name,
             "' runs before its forward node '", g.node(node.forward_of).name, "'");
    return f;
  };
  for (const RematOp& op : schedule.ops) {
    const ChainStage& stage = chain.stages[static_cast<size_t>(op.stage)];
    switch (op.kind) {
      case RematOpKind::kForward:
      case RematOpKind::kForwardAll: {
        const int32_t run = ++runs[static_cast<size_t>(op.stage)];
        for (NodeId n : stage.forward_nodes) {
          if (run == 1) {
            new_id[static_cast<size_t>(n)] = rw.add_original(n, -1);
          } else {
            rw.add_clone(n, run);
          }
        }
        break;
      }
      case RematOpKind::kBackward:
        for (NodeId n : stage.backward_nodes) {
          new_id[static_cast<size_t>(n)] = rw.add_original(n, mapped_forward_of(g.node(n)));
        }
        break;
      case RematOpKind::kFree:
        break;
    }
  }
  for (NodeId n = 0; n < num_nodes; ++n) {
    if (g.node(n).phase == Phase::kUpdate) {
      new_id[static_cast<size_t>(n)] = rw.add_original(n, mapped_forward_of(g.node(n)));
    }
  }
  return rw.finish();
}

FittedRemat fit_remat(const Graph& g, const Chain& chain, int64_t budget_bytes,
                      const std::function<int64_t(const Graph&)>& arena_bytes,
                      const RematOptions& options, int32_t max_attempts) {
  LT_CHECK(max_attempts >= 1, kInvalidArgument, "fit_remat: max_attempts is ", max_attempts,
           "; it must be >= 1");
  FittedRemat best;  // the cheapest schedule whose arena fitted so far
  RematSchedule last;
  int32_t attempts = 0;
  int64_t b = budget_bytes;
  int64_t failed_b = -1;  // the smallest DP budget whose schedule's arena did not fit
  int64_t fitted_b = -1;  // the largest DP budget whose schedule's arena fitted
  while (attempts < max_attempts) {
    RematSchedule schedule = solve_remat(chain, b, options);
    schedule.budget_bytes = budget_bytes;  // what the caller asked; b is internal
    last = schedule;
    if (!schedule.fits) {
      if (best.schedule.fits) break;
      best.schedule = schedule;
      best.attempts = attempts;
      return best;
    }
    ++attempts;
    Graph rewritten = apply_remat(g, {.chain = chain, .schedule = schedule});
    const int64_t arena = arena_bytes(rewritten);
    if (arena <= budget_bytes) {
      if (!best.schedule.fits || schedule.cost < best.schedule.cost) {
        best.schedule = schedule;
        best.graph = std::move(rewritten);
        best.arena_bytes = arena;
      }
      fitted_b = b;
      if (failed_b < 0) break;  // the first budget tried fits: nothing cheaper can
    } else {
      failed_b = b;
      if (!best.schedule.fits) best.arena_bytes = arena;
    }
    // Next: below the schedule's own peak by the excess until something fits (each step lowers
    // b by at least one byte; the smallest budget's schedule is the last to try); then bisect
    // between the largest fitting and the smallest failing DP budget for a cheaper schedule:
    // the chain model and the arena disagree by kernel scratch and placement, not monotonically.
    if (fitted_b < 0) {
      if (b == schedule.min_budget_bytes) break;
      b = std::max(std::min(b, schedule.peak_bytes) - (arena - budget_bytes),
                   schedule.min_budget_bytes);
    } else {
      const int64_t quantum = std::max<int64_t>(schedule.slot_bytes, 1);
      if (failed_b - fitted_b <= quantum) break;
      b = fitted_b + (failed_b - fitted_b) / 2;
    }
  }
  best.attempts = attempts;
  if (!best.schedule.fits) {
    best.schedule = last;
    RematSchedule& s = best.schedule;
    s.fits = false;
    s.ops.clear();
    s.forward_runs.clear();
    s.kept.clear();
    s.checkpointed.clear();
    s.peak_bytes = 0;
    s.cost = 0;
  }
  return best;
}

}  // namespace leantrain::passes

// Rematerialization for chains: a training graph's forward part seen as a chain of stages, the
// cost and memory of each stage, the dynamic program that picks the cheapest persistent schedule
// under a memory budget (Beaumont, Eyraud-Dubois, Herrmann, Joly, Shilova, "Optimal
// checkpointing for heterogeneous chains: how to train deep neural networks with limited
// memory", Inria RR-9302, ACM TOMS 2024; the authors' PyTorch library is rotor), and a readable
// explanation of a schedule, and the rewrite of a training graph that runs a schedule
// (apply_remat: recomputed stages become cloned forward nodes).
//
// Indices are 0-based: stage s reads the output of stage s-1 (the chain's input x_0 for s = 0)
// and writes its own output. From a training graph the last stage is the loss.
//
// The memory model, which solve_remat() optimizes and simulate_remat() counts:
// - Always live: the chain's input (x_0). Also live: each stage output kept as a checkpoint,
//   each kept_bytes of a stage run with all activations whose backward has not run yet, and the
//   gradient being passed back.
// - kForward(s) (keep only the output): peak = live + output_bytes + forward_temp_bytes; then
//   the output is live (a checkpoint until a kFree).
// - kForwardAll(s): peak = live + kept_bytes + forward_all_temp_bytes; then kept_bytes (which
//   holds the output) is live until the stage's backward.
// - kBackward(s): needs the stage's kept_bytes and its input live, and every later stage's
//   backward done; the gradient live is then grad_bytes of s. Peak = live + backward_temp_bytes;
//   then kept_bytes and grad_bytes of s are freed and grad_bytes of stage s-1 is live (nothing
//   for s = 0). The step starts with grad_bytes of the last stage live (0 for a loss).
// - kFree(s): drops the checkpoint that is stage s's output.
// Kernel scratch space is not counted (the arena planner adds it). The bookkeeping keeps a
// stage's kept_bytes and grad_bytes whole until its backward ends; the arena frees each tensor
// at its last read, and backward_temp_bytes is measured that way (so a kept tensor that dies
// early, or was dead before the backward began, lowers the stage's backward peak).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "leantrain/graph/graph.h"

namespace leantrain::passes {

// One element of a chain. The DP fields carry the paper's names in brackets.
struct ChainStage {
  // --- What the dynamic program sees. Bytes >= 0, costs finite and >= 0.
  double forward_cost = 0;   // [u_f] one run of the forward nodes (FLOPs, or seconds)
  double backward_cost = 0;  // [u_b] one run of the backward nodes
  int64_t output_bytes = 0;  // [x] the output: what a checkpoint keeps
  // [x-bar] what a run "with all activations" keeps for the backward: every tensor the stage
  // writes that a backward node reads, plus the output. >= output_bytes.
  int64_t kept_bytes = 0;
  // [delta] gradient bytes live when the stage's backward starts: the gradient of its output,
  // plus contributions passing through to earlier stages (a residual Add hands its incoming
  // gradient to the block input as one of two contributions, summed one stage down).
  int64_t grad_bytes = 0;
  int64_t forward_temp_bytes = 0;      // peak above output_bytes of a run keeping the output
  int64_t forward_all_temp_bytes = 0;  // peak above kept_bytes of a run keeping all
  // Peak above grad_bytes + kept_bytes while the backward runs, including the gradient it hands
  // to the previous stage; simulated with each kept tensor and incoming gradient freed at its
  // last read (0 when the peak stays below grad_bytes + kept_bytes).
  int64_t backward_temp_bytes = 0;

  // --- Where the stage comes from (empty for a chain built by hand).
  std::vector<graph::NodeId> forward_nodes;   // in schedule order
  std::vector<graph::NodeId> backward_nodes;  // in schedule order
  graph::ValueId output = graph::kNoValue;    // the output value (kNoValue for the loss stage)
  std::string name;                           // "first layer..last layer", for reports
};

// A chain of stages. A plain value; copyable.
struct Chain {
  int64_t input_bytes = 0;         // [x_0] graph inputs the chain reads: held the whole step
  std::vector<ChainStage> stages;  // in forward order
  std::string cost_unit = "FLOP";  // "FLOP" when estimated, "s" when measured
};

// --- Chains from training graphs.

struct ChainOptions {
  // Measured seconds per node of the graph (graph.num_nodes() entries), or empty to estimate
  // FLOPs from op types and shapes (estimate_node_flops).
  std::span<const double> node_seconds;
};

// Cuts the forward part of a training graph (forward, loss and backward nodes, as
// add_backward() leaves it) into a chain:
// - A cut goes after forward node k at value v when v is the only tensor written by forward
//   nodes up to k that forward or loss nodes after k read (an articulation point of the forward
//   dataflow; graph inputs are held all step and do not count), and some backward node reads
//   v's bytes. So a residual block (an inverted residual with its Add, an MBConv with its
//   squeeze-and-excitation and Add) is one stage, a chain of ops whose outputs backward reads
//   gives one stage per node, and an op whose output nothing in backward reads (a
//   BatchNormalization the ReLU overwrites in place) shares a stage with its reader: a cut
//   there would charge memory the plan never holds. A view (Reshape) of an earlier stage's
//   output is never a cut.
// - The loss-phase nodes form the last stage; the forward part must hand it one tensor. When
//   that tensor is a view (a Reshape to logits), the stage before the loss also holds the node
//   that wrote the viewed bytes.
// - Backward nodes belong to the stage of their forward_of node, or to an earlier stage when
//   they read a gradient that stage writes (autodiff's sum of a residual block input's two
//   contributions belongs to the stage before the block).
// - Bytes count each storage once (views share their source's bytes); temp peaks simulate the
//   stage's nodes with the planner's rules (a value dies at its last reader; an elementwise op
//   writes over an input that dies there).
// Throws Error(kInvalidArgument) for a graph without forward, loss or backward nodes, or
// node_seconds of the wrong length or with a negative or non-finite entry; Error(kUnimplemented)
// naming the tensors when the forward part hands the loss more than one tensor, or a backward
// node reads a forward tensor of a stage other than its own (or its input's).
// Cost: O(nodes + edges). The graph is read only.
Chain extract_chain(const graph::Graph& graph, const ChainOptions& options = {});

// Estimated floating-point operations of node `n`, from its op type and shapes: 2 per
// multiply-add for Conv2D, DepthwiseConv2D and Dense and their BackwardData and BackwardWeights
// (plus one per output for a bias); per element of the largest tensor for everything else (8
// for BatchNormalization, 12 for its backward, 4 for sigmoid, tanh, swish and softmax and their
// backwards, 0 for views, 1 otherwise). Requires a valid node id.
double estimate_node_flops(const graph::Graph& graph, graph::NodeId n);

// --- Schedules.

enum class RematOpKind {
  kForward,     // run a stage keeping only its output (a checkpoint)
  kForwardAll,  // run a stage keeping everything its backward reads
  kBackward,    // run a stage's backward
  kFree,        // drop the checkpoint that is a stage's output
};
const char* remat_op_kind_name(RematOpKind kind);

struct RematOp {
  RematOpKind kind = RematOpKind::kForward;
  int32_t stage = 0;
  friend bool operator==(const RematOp&, const RematOp&) = default;
};

struct RematRun {
  int64_t peak_bytes = 0;  // the model's peak, x_0 included
  double cost = 0;         // sum of the forward and backward costs of the ops
};

// Runs `ops` through the memory model above. Throws Error(kInvalidArgument) naming the op index
// and stage when the sequence is not one training step: a forward whose input is not live, a
// stage run again while its output is still live, a backward out of order or without its kept
// tensors, a kFree of a checkpoint that is not live, a stage index out of range, or a step that
// ends with a backward missing or a checkpoint still live. Also validates the chain (as
// solve_remat).
RematRun simulate_remat(const Chain& chain, std::span<const RematOp> ops);

// kForwardAll of every stage in order, then kBackward of every stage in reverse: no
// recomputation, one forward and one backward.
std::vector<RematOp> keep_all_schedule(const Chain& chain);

struct RematOptions {
  // The budget is discretized into slots of slot_bytes (every size rounded up to whole slots,
  // so a schedule the DP accepts fits in bytes). 0 picks ceil((keep-everything peak - x_0) /
  // memory_slots), which depends on the chain only, so a larger budget never costs more.
  int64_t slot_bytes = 0;
  int32_t memory_slots = 500;
};

// The chosen schedule and what it costs. A plain value.
struct RematSchedule {
  bool fits = false;                // false: no persistent schedule fits the budget
  int64_t budget_bytes = 0;         // as asked (x_0 included)
  int64_t min_budget_bytes = 0;     // the smallest budget some persistent schedule fits (exact)
  int64_t keep_all_peak_bytes = 0;  // the peak of keep_all_schedule()
  int64_t slot_bytes = 0;           // the memory quantum the DP used (0 when it did not run)
  std::vector<RematOp> ops;         // empty unless fits
  int64_t peak_bytes = 0;           // simulate_remat(ops).peak_bytes; <= budget_bytes
  double cost = 0;                  // simulate_remat(ops).cost
  double base_cost = 0;             // one forward and one backward of every stage
  // Per stage (empty unless fits): times its forward runs; whether its first forward keeps all
  // (1 run: nothing recomputed); whether its output is a checkpoint after the first pass.
  std::vector<int32_t> forward_runs;
  std::vector<bool> kept;
  std::vector<bool> checkpointed;

  // Recomputation beyond base_cost, absolute and as a fraction of it (0 unless fits).
  double extra_cost() const { return fits ? cost - base_cost : 0.0; }
  double extra_fraction() const { return base_cost > 0 ? extra_cost() / base_cost : 0.0; }
};

// The smallest budget (bytes, x_0 included) at which some persistent schedule fits: a min-max
// dynamic program over the same recursion as solve_remat, exact in bytes. O(L^3) for L stages.
// Validates the chain as solve_remat does.
int64_t min_remat_budget_bytes(const Chain& chain);

// The cheapest persistent schedule whose peak fits `budget_bytes`, by the dynamic program of
// Beaumont et al.: C(s, t, m), the cheapest way to run the forward and backward of stages s..t
// with their input held and m slots free, is
// - s == t: forward keeping all, then backward;
// - "chain": kForwardAll(s), then C(s+1, t, m - kept_s), then kBackward(s);
// - "leaf" at j in (s, t]: kForward(s..j-1) keeping only the output of j-1 (each earlier output
//   freed once the next stage ran), C(j, t, m - output_{j-1}), kFree(j-1), then C(s, j-1, m);
// each step checked against the memory model. Ties go to "chain", so a budget at or above the
// keep-everything peak keeps everything. Persistent schedules are the ones this recursion
// builds; the paper shows the best schedule may lie outside them, so "optimal" means optimal
// among these.
// - budget >= the keep-everything peak: keep_all_schedule();
// - budget < min_remat_budget_bytes(): fits == false (and min_budget_bytes says what would fit);
// - otherwise the cheaper of the DP's schedule and the min-max program's schedule (the latter
//   only matters when slot rounding makes the DP refuse a budget that fits in bytes).
// Throws Error(kInvalidArgument) for an empty chain, a negative size or cost, a non-finite cost,
// kept_bytes < output_bytes, a negative budget or memory_slots < 1 (naming the field and stage).
// Cost: O(L^3 S) time and O(L^2 S) memory for L stages and S = budget / slot_bytes <=
// memory_slots slots (MobileNetV2: 61 stages, 500 slots: about 20 M steps and 11 MB).
RematSchedule solve_remat(const Chain& chain, int64_t budget_bytes,
                          const RematOptions& options = {});

// A report of `schedule`: the budget, the predicted peak against the keep-everything peak and
// the smallest budget that fits, the extra compute (absolute and %), then one line per stage
// with its name, kept and output bytes, forward cost and what the schedule does with it
// ("keep all", "recompute (runs 2x)", and "checkpoint" when its output is kept for recomputing
// later stages). For a schedule that does not fit it says so and names the smallest budget.
std::string explain_remat(const Chain& chain, const RematSchedule& schedule);

// --- Running a schedule.

// The rewrite's inputs: a schedule and the chain it was solved for, whose stages name nodes of
// the training graph. Held by reference, for the duration of the call.
struct RematRewriteOptions {
  const Chain& chain;
  const RematSchedule& schedule;
};

// Returns `training_graph` (the graph options.chain was extracted from, with its update nodes)
// rewritten so that running its nodes in order runs options.schedule.ops:
// - kForward(s) / kForwardAll(s): the forward nodes of stage s. The stage's first run uses the
//   original nodes and values (names kept); each later run, a recomputation, adds clones named
//   "<node>/recompute<k>" writing new values "<value>/recompute<k>" (k = 1 for the second run;
//   a suffix _1, _2, ... when the name is taken), with Node::recomputed set, Phase::kForward,
//   forward_of -1, and an op without side effects (graph::RecomputableOp) where the original's
//   mutates persistent state. A run reads the latest run of the previous stage.
// - kBackward(s): the backward nodes of stage s in their original order, reading the forward
//   values of the latest run of stage s (a kForwardAll: the model requires it) and of the live
//   run of stage s-1. So the intermediates of a kForward run are read by that run only: the
//   arena planner frees them inside it, and only the output (the checkpoint) survives, until
//   its last reader (at or before the schedule's kFree).
// - kFree: adds nothing (a value dies at its last reader).
// - Update nodes follow, in their original order.
// Graph inputs, persistent values and values the host reads (is_output) are never cloned (a
// clone's outputs are never is_output); producer-less values keep their names and come first in
// their original order. The keep-everything schedule gives the original node order whenever the
// original lists backward nodes stage by stage from the last stage down (add_backward's order
// for chains extract_chain accepts, unless a parameter is shared by several layers).
// Throws Error(kInvalidArgument) when the schedule does not fit (fits == false) or its ops are
// not one training step of the chain (as simulate_remat), or when the chain does not cover the
// graph (a forward, loss or backward node in no stage or in two, a node id out of range, a
// backward node that reads a value no earlier node writes); Error(kUnimplemented) naming the
// node when a recomputed node writes a persistent value, or mutates an input and does not
// implement graph::RecomputableOp.
// Cost: O(nodes emitted + edges). The input graph is read only.
graph::Graph apply_remat(const graph::Graph& training_graph, const RematRewriteOptions& options);

// A schedule whose rewritten graph's planned arena fits a budget, and that graph.
struct FittedRemat {
  RematSchedule schedule;   // the last schedule tried; fits == false when none fitted
  graph::Graph graph;       // apply_remat() of the schedule (empty unless fits)
  int64_t arena_bytes = 0;  // the arena of `graph` (of the last graph tried when none fitted)
  int32_t attempts = 0;     // schedules solved and planned
};

// Rematerialization under a budget for the planned arena itself (graph inputs included,
// persistent state not): the chain model predicts live tensor bytes, and the arena adds what it
// does not count, kernel scratch (at most the largest node's) and the offset planner's
// fragmentation (MobileNetV2 224x224 batch 32 at 0.35 of its keep-everything peak: +1.4%). So:
// b = budget_bytes; solve_remat(chain, b); rewrite; arena = arena_bytes(rewritten graph) (the
// caller's planner: a compiled runtime::Program's arena_bytes(), or plan_graph_memory() with the
// kernels' scratch); while arena > budget_bytes, lower b by the excess (to the smallest budget
// at least, which is tried last) and try again. Once some b fits after one that did not, bisect
// between the two (down to one DP slot) and keep the cheapest schedule whose arena fits: the
// chain model also over-counts near its smallest budget (it holds a stage's kept bytes until its
// backward ends; the arena frees each at its last read), so the arena is not monotonic in b, and
// lowering by the excess alone can fall from +13% compute to the smallest budget's +50%
// (MobileNetV2 224x224 batch 32 at a 658 MiB budget). At most max_attempts arena plans. Returns
// fits == false (schedule.min_budget_bytes says the least the model needs) when the smallest
// budget's schedule does not fit either, budget_bytes is below it, or the attempts run out
// before anything fits.
// Throws as solve_remat() and apply_remat(), and what arena_bytes throws.
FittedRemat fit_remat(const graph::Graph& training_graph, const Chain& chain, int64_t budget_bytes,
                      const std::function<int64_t(const graph::Graph&)>& arena_bytes,
                      const RematOptions& options = {}, int32_t max_attempts = 12);

}  // namespace leantrain::passes

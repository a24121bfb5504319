// Rematerialization for chains: the memory model's simulator on hand-worked sequences, the
// dynamic program against hand-worked 2- and 3-stage chains and against an exhaustive search
// over every persistent schedule of hundreds of seeded random chains, monotonicity in the
// budget, the keep-everything endpoint, and chain extraction on hand-built graphs.
#include "leantrain/passes/remat.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "leantrain/graph/autodiff.h"
#include "ops/ops.h"

namespace leantrain::passes {
namespace {

using graph::add_backward;
using graph::Graph;
using graph::kNoValue;
using graph::NodeId;
using graph::Phase;
using graph::ValueId;
using graph::ValueKind;

using Ops = std::vector<RematOp>;
constexpr RematOpKind kF = RematOpKind::kForward;
constexpr RematOpKind kFA = RematOpKind::kForwardAll;
constexpr RematOpKind kB = RematOpKind::kBackward;
constexpr RematOpKind kFree = RematOpKind::kFree;

ChainStage stage(double f, double b, int64_t out, int64_t kept, int64_t grad, int64_t ftemp = 0,
                 int64_t fatemp = 0, int64_t btemp = 0) {
  ChainStage s;
  s.forward_cost = f;
  s.backward_cost = b;
  s.output_bytes = out;
  s.kept_bytes = kept;
  s.grad_bytes = grad;
  s.forward_temp_bytes = ftemp;
  s.forward_all_temp_bytes = fatemp;
  s.backward_temp_bytes = btemp;
  return s;
}

// Two stages: a layer (stage 0) whose kept tensors are large next to its output, and a loss
// (stage 1) that keeps as much.
//   x_0 = 0; stage 0: f 3, b 1, output 1, kept 10, incoming gradient 1;
//            stage 1: f 1, b 1, output 0, kept 10, incoming gradient 0, backward temp 1 (the
//            1-byte gradient it hands to stage 0).
// Keep everything: F_all(0) -> 10, F_all(1) -> 20, B(1) peaks at 20 + 1 = 21 and leaves
//   10 + 1 = 11, B(0) peaks at 11. Peak 21, cost 3 + 1 + 1 + 1 = 6.
// Recompute stage 0 from x_0 (checkpoint its 1-byte output): F(0) -> 1, F_all(1) -> 11,
//   B(1) peaks at 12 and leaves 1 + 1 = 2, Free(0) -> 1, F_all(0) -> 11, B(0) -> 11.
//   Peak 12, cost 6 + 3 = 9.
// So budget >= 21 costs 6, 12..20 cost 9, and below 12 nothing fits.
Chain two_stage_chain() {
  Chain c;
  c.input_bytes = 0;
  c.stages = {stage(3, 1, 1, 10, 1), stage(1, 1, 0, 10, 0, 0, 0, 1)};
  return c;
}

// Three stages: two layers and a loss.
//   x_0 = 1; stage 0: f 1, b 2, output 2, kept 8, incoming gradient 2;
//            stage 1: f 1, b 2, output 2, kept 8, incoming gradient 2, backward temp 2;
//            stage 2 (loss): f 0, b 0, output 0, kept 0, incoming 0, backward temp 2.
// Keep everything: 1 -> 9 -> 17 -> 17, B(2) peaks at 19 and leaves 19, B(1) peaks at
//   19 + 2 = 21 and leaves 19 - 8 - 2 + 2 = 11, B(0) peaks at 11. Peak 21, cost 6.
// B(1) always needs x_0 (1), stage 1's input (2 at least, as a checkpoint), its kept 8, the
//   incoming gradient 2 and its temp 2: 15. Recomputing stage 0 alone reaches it:
//   F(0) -> 3, F_all(1) -> 11, F_all(2) -> 11, B(2) peaks at 13, B(1) peaks at 15 and leaves
//   5, Free(0) -> 3, F_all(0) -> 11, B(0) -> 11. Peak 15, cost 7. (Recomputing stage 1 instead
//   still holds stage 0's kept 8 at B(1): peak 21.)
// So budget >= 21 costs 6, 15..20 cost 7 (stage 0 runs twice), below 15 nothing fits.
Chain three_stage_chain() {
  Chain c;
  c.input_bytes = 1;
  c.stages = {stage(1, 2, 2, 8, 2), stage(1, 2, 2, 8, 2, 0, 0, 2), stage(0, 0, 0, 0, 0, 0, 0, 2)};
  return c;
}

TEST(RematSimulateTest, CountsTheHandWorkedRecomputation) {
  const Chain c = three_stage_chain();
  const Ops ops = {{kF, 0}, {kFA, 1}, {kFA, 2}, {kB, 2}, {kB, 1}, {kFree, 0}, {kFA, 0}, {kB, 0}};
  const RematRun run = simulate_remat(c, ops);
  EXPECT_EQ(run.peak_bytes, 15);
  EXPECT_EQ(run.cost, 7);
  const RematRun all = simulate_remat(c, keep_all_schedule(c));
  EXPECT_EQ(all.peak_bytes, 21);
  EXPECT_EQ(all.cost, 6);
}

TEST(RematSimulateTest, RefusesSequencesThatAreNotATrainingStep) {
  const Chain c = three_stage_chain();
  const std::vector<Ops> bad = {
      {{kFA, 1}},                                       // input of stage 1 not live
      {{kFA, 0}, {kFA, 1}, {kFA, 2}, {kB, 1}},          // backward out of order
      {{kFA, 0}, {kF, 1}, {kFA, 2}, {kB, 2}, {kB, 1}},  // backward without kept
      {{kFA, 0}, {kFA, 0}},                             // output still live
      {{kFree, 0}},                                     // not a live checkpoint
      {{kFA, 0}, {kFA, 1}, {kFA, 2}, {kB, 2}},          // backward missing
      {{kF, 0}, {kFA, 1}, {kFA, 2}, {kB, 2}, {kB, 1}, {kFA, 0}, {kB, 0}},  // forward over live
      {{kFA, 3}},                                                          // no such stage
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_THROW(simulate_remat(c, bad[i]), Error) << "sequence " << i;
  }
}

TEST(RematSolveTest, TwoStagesHandWorked) {
  const Chain c = two_stage_chain();
  EXPECT_EQ(min_remat_budget_bytes(c), 12);
  for (int64_t budget = 0; budget <= 25; ++budget) {
    const RematSchedule s = solve_remat(c, budget, {.slot_bytes = 1});
    EXPECT_EQ(s.keep_all_peak_bytes, 21);
    EXPECT_EQ(s.min_budget_bytes, 12);
    EXPECT_EQ(s.base_cost, 6);
    if (budget < 12) {
      EXPECT_FALSE(s.fits) << budget;
      EXPECT_TRUE(s.ops.empty());
      EXPECT_EQ(s.extra_cost(), 0);
      continue;
    }
    ASSERT_TRUE(s.fits) << budget;
    EXPECT_LE(s.peak_bytes, budget);
    if (budget >= 21) {
      EXPECT_EQ(s.cost, 6) << budget;
      EXPECT_EQ(s.ops, keep_all_schedule(c));
    } else {
      EXPECT_EQ(s.cost, 9) << budget;
      EXPECT_EQ(s.peak_bytes, 12);
      EXPECT_EQ(s.forward_runs, (std::vector<int32_t>{2, 1}));
      EXPECT_EQ(s.ops, (Ops{{kF, 0}, {kFA, 1}, {kB, 1}, {kFree, 0}, {kFA, 0}, {kB, 0}}));
    }
  }
}

TEST(RematSolveTest, ThreeStagesHandWorked) {
  const Chain c = three_stage_chain();
  EXPECT_EQ(min_remat_budget_bytes(c), 15);
  for (int64_t budget = 10; budget <= 25; ++budget) {
    const RematSchedule s = solve_remat(c, budget, {.slot_bytes = 1});
    if (budget < 15) {
      EXPECT_FALSE(s.fits) << budget;
      EXPECT_EQ(s.min_budget_bytes, 15);
      continue;
    }
    ASSERT_TRUE(s.fits) << budget;
    if (budget >= 21) {
      EXPECT_EQ(s.cost, 6) << budget;
      EXPECT_EQ(s.forward_runs, (std::vector<int32_t>{1, 1, 1}));
    } else {
      EXPECT_EQ(s.cost, 7) << budget;
      EXPECT_EQ(s.peak_bytes, 15);
      EXPECT_EQ(s.forward_runs, (std::vector<int32_t>{2, 1, 1}));
      EXPECT_EQ(s.kept, (std::vector<bool>{false, true, true}));
      EXPECT_EQ(s.checkpointed, (std::vector<bool>{true, false, false}));
    }
  }
}

TEST(RematSolveTest, UnlimitedMemoryKeepsEverything) {
  const Chain c = three_stage_chain();
  const RematSchedule s = solve_remat(c, std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(s.fits);
  EXPECT_EQ(s.ops, keep_all_schedule(c));
  EXPECT_EQ(s.cost, 1 + 1 + 0 + 2 + 2 + 0);  // one forward and one backward of each stage
  EXPECT_EQ(s.extra_cost(), 0);
  EXPECT_EQ(s.kept, (std::vector<bool>{true, true, true}));
}

TEST(RematSolveTest, ExplainsKeptAndRecomputedStages) {
  Chain c = three_stage_chain();
  c.stages[0].name = "conv";
  c.stages[1].name = "dense";
  c.stages[2].name = "loss";
  const std::string text = explain_remat(c, solve_remat(c, 15, {.slot_bytes = 1}));
  EXPECT_NE(text.find("extra compute 16.7%"), std::string::npos) << text;  // 1 of 6
  EXPECT_NE(text.find("recompute (runs 2x), checkpoint"), std::string::npos) << text;
  EXPECT_NE(text.find("keep all"), std::string::npos) << text;
  const std::string none = explain_remat(c, solve_remat(c, 14, {.slot_bytes = 1}));
  EXPECT_NE(none.find("no schedule fits"), std::string::npos) << none;
  EXPECT_NE(none.find("15 B"), std::string::npos) << none;
}

TEST(RematSolveTest, RefusesInvalidChainsAndBudgets) {
  EXPECT_THROW(solve_remat(Chain{}, 10), Error);
  Chain c = two_stage_chain();
  EXPECT_THROW(solve_remat(c, -1), Error);
  EXPECT_THROW(solve_remat(c, 10, {.memory_slots = 0}), Error);
  c.stages[0].kept_bytes = 0;  // less than its output
  EXPECT_THROW(solve_remat(c, 10), Error);
  c = two_stage_chain();
  c.stages[1].forward_cost = -1;
  EXPECT_THROW(solve_remat(c, 10), Error);
}

// --- Exhaustive search over persistent schedules, with its own simulator.

// Every persistent schedule of stages s..t: at s either keep all and recurse on s+1..t, or run
// s..j-1 keeping only outputs, recurse on j..t, free the checkpoint and recurse on s..j-1.
std::vector<Ops> all_schedules(int32_t s, int32_t t) {
  if (s == t) return {{{kFA, s}, {kB, s}}};
  std::vector<Ops> result;
  for (const Ops& rest : all_schedules(s + 1, t)) {
    Ops ops = {{kFA, s}};
    ops.insert(ops.end(), rest.begin(), rest.end());
    ops.push_back({kB, s});
    result.push_back(ops);
  }
  for (int32_t j = s + 1; j <= t; ++j) {
    Ops forward = {{kF, s}};
    for (int32_t k = s + 1; k < j; ++k) {
      forward.push_back({kF, k});
      forward.push_back({kFree, k - 1});
    }
    const std::vector<Ops> left = all_schedules(s, j - 1);
    for (const Ops& right : all_schedules(j, t)) {
      for (const Ops& l : left) {
        Ops ops = forward;
        ops.insert(ops.end(), right.begin(), right.end());
        ops.push_back({kFree, j - 1});
        ops.insert(ops.end(), l.begin(), l.end());
        result.push_back(ops);
      }
    }
  }
  return result;
}

struct OracleRun {
  int64_t peak = 0;
  double cost = 0;
};

// The memory model, written out independently: a map of named live tensors.
OracleRun oracle(const Chain& c, const Ops& ops) {
  std::map<std::string, int64_t> live = {{"input", c.input_bytes},
                                         {"grad", c.stages.back().grad_bytes}};
  const auto total = [&] {
    int64_t sum = 0;
    for (const auto& [name, bytes] : live) sum += bytes;
    return sum;
  };
  OracleRun r;
  r.peak = total();
  for (const RematOp& op : ops) {
    const ChainStage& st = c.stages[static_cast<size_t>(op.stage)];
    const std::string id = std::to_string(op.stage);
    switch (op.kind) {
      case RematOpKind::kForward:
        r.peak = std::max(r.peak, total() + st.output_bytes + st.forward_temp_bytes);
        live["out" + id] = st.output_bytes;
        r.cost += st.forward_cost;
        break;
      case RematOpKind::kForwardAll:
        r.peak = std::max(r.peak, total() + st.kept_bytes + st.forward_all_temp_bytes);
        live["kept" + id] = st.kept_bytes;
        r.cost += st.forward_cost;
        break;
      case RematOpKind::kBackward:
        r.peak = std::max(r.peak, total() + st.backward_temp_bytes);
        live.erase("kept" + id);
        live["grad"] = op.stage == 0 ? 0 : c.stages[static_cast<size_t>(op.stage - 1)].grad_bytes;
        r.cost += st.backward_cost;
        break;
      case RematOpKind::kFree:
        live.erase("out" + id);
        break;
    }
  }
  return r;
}

Chain random_chain(uint64_t seed) {
  Rng rng(seed);
  Chain c;
  c.input_bytes = static_cast<int64_t>(rng.below(4));
  const int n = 1 + static_cast<int>(rng.below(6));
  for (int i = 0; i < n; ++i) {
    const auto r = [&](uint64_t k) { return static_cast<int64_t>(rng.below(k)); };
    const int64_t out = r(6);
    c.stages.push_back(stage(static_cast<double>(r(6)), static_cast<double>(1 + r(6)), out,
                             out + r(8), r(5), r(6), r(6), r(8)));
  }
  return c;
}

TEST(RematSolveTest, MatchesExhaustiveSearchOnRandomChains) {
  int64_t compared = 0, recomputing = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    const Chain c = random_chain(seed);
    const int32_t n = static_cast<int32_t>(c.stages.size());
    const std::vector<Ops> schedules = all_schedules(0, n - 1);
    std::vector<OracleRun> runs;
    int64_t min_peak = std::numeric_limits<int64_t>::max();
    for (const Ops& ops : schedules) {
      runs.push_back(oracle(c, ops));
      min_peak = std::min(min_peak, runs.back().peak);
    }
    ASSERT_EQ(min_remat_budget_bytes(c), min_peak) << "seed " << seed;
    const int64_t keep_all = oracle(c, keep_all_schedule(c)).peak;
    for (int64_t budget = std::max<int64_t>(0, min_peak - 2); budget <= keep_all + 1; ++budget) {
      double best = std::numeric_limits<double>::infinity();
      for (const OracleRun& run : runs) {
        if (run.peak <= budget) best = std::min(best, run.cost);
      }
      const RematSchedule s = solve_remat(c, budget, {.slot_bytes = 1});
      ASSERT_EQ(s.fits, budget >= min_peak) << "seed " << seed << " budget " << budget;
      if (!s.fits) continue;
      ASSERT_EQ(s.cost, best) << "seed " << seed << " budget " << budget;
      const OracleRun mine = oracle(c, s.ops);
      ASSERT_LE(mine.peak, budget) << "seed " << seed << " budget " << budget;
      ASSERT_EQ(mine.peak, s.peak_bytes);
      ASSERT_EQ(mine.cost, s.cost);
      ++compared;
      recomputing += s.extra_cost() > 0 ? 1 : 0;
    }
  }
  // The random chains must exercise recomputation, not only the keep-everything endpoint.
  EXPECT_GT(compared, 1000);
  EXPECT_GT(recomputing, compared / 5);
}

TEST(RematSolveTest, MoreMemoryNeverCostsMore) {
  for (uint64_t seed = 1000; seed < 1200; ++seed) {
    const Chain c = random_chain(seed);
    const int64_t keep_all = simulate_remat(c, keep_all_schedule(c)).peak_bytes;
    const int64_t min_budget = min_remat_budget_bytes(c);
    // Coarse slots make the DP round sizes up: the answer must still fit and never get dearer.
    for (int32_t slots : {3, 7, 500}) {
      double previous = std::numeric_limits<double>::infinity();
      for (int64_t budget = std::max<int64_t>(0, min_budget - 1); budget <= keep_all + 1;
           ++budget) {
        const RematSchedule s = solve_remat(c, budget, {.memory_slots = slots});
        ASSERT_EQ(s.fits, budget >= min_budget) << "seed " << seed << " budget " << budget;
        if (!s.fits) continue;
        ASSERT_LE(s.peak_bytes, budget);
        ASSERT_LE(s.cost, previous)
            << "seed " << seed << " budget " << budget << " slots " << slots;
        previous = s.cost;
      }
      EXPECT_EQ(previous, simulate_remat(c, keep_all_schedule(c)).cost);
    }
  }
}

// --- Chain extraction from hand-built training graphs.

int64_t f32_bytes(std::initializer_list<int64_t> dims) {
  int64_t n = 4;
  for (int64_t d : dims) n *= d;
  return n;
}

struct Built {
  Graph g;
  ValueId loss = kNoValue;
};

ValueId param(Graph& g, const std::string& name, Shape shape) {
  return g.add_value(name, {shape, DType::kF32}, ValueKind::kParameter);
}

void finish(Graph& g, ValueId logits, ValueId* loss) {
  const int64_t n = g.value(logits).spec.shape[0];
  const ValueId labels = g.add_value("labels", {Shape{n}, DType::kI32}, ValueKind::kInput);
  *loss = g.add(ops::softmax_cross_entropy(), {logits, labels}, "loss", Phase::kLoss);
  g.value(*loss).is_output = true;
  add_backward(g, *loss, ops::add(), ops::copy());
}

std::vector<std::string> node_names(const Graph& g, const std::vector<NodeId>& nodes) {
  std::vector<std::string> names;
  for (NodeId n : nodes) names.push_back(g.node(n).name);
  return names;
}

TEST(ExtractChainTest, DenseChainGivesOneStagePerNode) {
  // x (2,3) -> d1 (2,4) -> d2 (2,5) -> d3 (2,6) -> loss. Each dense's backward reads its input,
  // so every output is kept and every value is a cut.
  Graph g;
  const ValueId x = g.add_value("x", {Shape{2, 3}, DType::kF32}, ValueKind::kInput);
  const ValueId h1 = g.add(ops::dense(), {x, param(g, "w1", {3, 4})}, "d1", Phase::kForward);
  const ValueId h2 = g.add(ops::dense(), {h1, param(g, "w2", {4, 5})}, "d2", Phase::kForward);
  const ValueId y = g.add(ops::dense(), {h2, param(g, "w3", {5, 6})}, "d3", Phase::kForward);
  ValueId loss;
  finish(g, y, &loss);
  const Chain c = extract_chain(g);
  ASSERT_EQ(c.stages.size(), 4u);
  EXPECT_EQ(node_names(g, c.stages[0].forward_nodes), (std::vector<std::string>{"d1"}));
  EXPECT_EQ(node_names(g, c.stages[1].forward_nodes), (std::vector<std::string>{"d2"}));
  EXPECT_EQ(node_names(g, c.stages[2].forward_nodes), (std::vector<std::string>{"d3"}));
  EXPECT_EQ(node_names(g, c.stages[3].forward_nodes), (std::vector<std::string>{"loss"}));
  EXPECT_EQ(c.stages[3].name, "loss");
  EXPECT_EQ(c.input_bytes, f32_bytes({2, 3}) + 2 * 4);  // x and the i32 labels
  const std::vector<int64_t> out = {f32_bytes({2, 4}), f32_bytes({2, 5}), f32_bytes({2, 6}), 4};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(c.stages[i].output_bytes, out[i]) << i;
    EXPECT_EQ(c.stages[i].kept_bytes, out[i]) << i;  // nothing but the output is kept
    EXPECT_EQ(c.stages[i].forward_temp_bytes, 0) << i;
  }
  // The gradient entering each backward is that of the stage's output (the loss's: none).
  EXPECT_EQ(c.stages[0].grad_bytes, out[0]);
  EXPECT_EQ(c.stages[1].grad_bytes, out[1]);
  EXPECT_EQ(c.stages[2].grad_bytes, out[2]);
  EXPECT_EQ(c.stages[3].grad_bytes, 0);
  // Each backward writes the gradient of its input while its output's gradient is still read;
  // its kept output already died in the next stage's backward (the next dense's backward-weights
  // read it last). Peak: both gradients; the model adds to its kept + grad (twice the output)
  // only what exceeds them: input - output, or nothing. The loss writes its gradient over the
  // dying logits.
  EXPECT_EQ(c.stages[1].backward_temp_bytes, std::max<int64_t>(0, out[0] - out[1]));
  EXPECT_EQ(c.stages[2].backward_temp_bytes, std::max<int64_t>(0, out[1] - out[2]));
  EXPECT_EQ(c.stages[3].backward_temp_bytes, 0);
  EXPECT_EQ(c.stages[0].backward_temp_bytes, 0);  // only the weight gradient (persistent)
  // 2 FLOPs per multiply-add; x needs no gradient, so d1 has no backward-data product.
  EXPECT_EQ(c.stages[0].forward_cost, 2 * 2 * 3 * 4);
  EXPECT_EQ(c.stages[0].backward_cost, 2 * 2 * 3 * 4);
  EXPECT_EQ(c.stages[1].forward_cost, 2 * 2 * 4 * 5);
  EXPECT_EQ(c.stages[1].backward_cost, 2 * (2 * 2 * 4 * 5));
  EXPECT_EQ(c.stages[2].backward_cost, 2 * (2 * 2 * 5 * 6));
  EXPECT_EQ(c.stages[3].forward_cost, 4 * 2 * 6);  // 4 per logit
  EXPECT_EQ(c.cost_unit, "FLOP");

  // Measured seconds replace the estimate: one per node.
  std::vector<double> seconds(static_cast<size_t>(g.num_nodes()));
  for (size_t i = 0; i < seconds.size(); ++i) seconds[i] = 0.5 * static_cast<double>(i + 1);
  const Chain timed = extract_chain(g, {.node_seconds = seconds});
  EXPECT_EQ(timed.cost_unit, "s");
  EXPECT_EQ(timed.stages[1].forward_cost, seconds[static_cast<size_t>(g.value(h2).producer)]);
  double backward = 0;
  for (NodeId n : timed.stages[1].backward_nodes) backward += seconds[static_cast<size_t>(n)];
  EXPECT_EQ(timed.stages[1].backward_cost, backward);
  EXPECT_EQ(timed.stages[1].backward_nodes.size(), 2u);  // backward-weights and backward-data
  EXPECT_THROW(extract_chain(g, {.node_seconds = std::span<const double>(seconds).first(2)}),
               Error);
}

TEST(ExtractChainTest, ValueNoBackwardReadsSharesAStageWithItsReader) {
  // x (2,6,6,2) -> conv 3x3 same, 4 filters -> BatchNorm -> ReLU6 -> depthwise 3x3 same ->
  // global average pool -> dense 4->3 -> loss.
  // - conv's output: BatchNorm's backward reads it: a cut.
  // - BatchNorm's output: ReLU6's backward reads its own output, so no backward reads it: no
  //   cut; BatchNorm and ReLU6 share a stage (ReLU6 writes over it in place).
  // - ReLU6's output: the depthwise backward reads its input: a cut.
  // - depthwise output: the pool's backward needs only its shape: no cut.
  // - pool output: the dense backward reads it: a cut. Logits: the loss backward reads them.
  Graph g;
  const ValueId x = g.add_value("x", {Shape{2, 6, 6, 2}, DType::kF32}, ValueKind::kInput);
  ops::ConvAttrs same3{.kernel_h = 3, .kernel_w = 3, .padding = ops::Padding::kSame};
  const ValueId c1 =
      g.add(ops::conv2d(same3), {x, param(g, "k1", {3, 3, 2, 4})}, "conv", Phase::kForward);
  const ValueId bn = g.add_node(ops::batch_norm(true, 0.99f, 1e-3f),
                                {c1, param(g, "gamma", {4}), param(g, "beta", {4}),
                                 g.add_value("mean", {Shape{4}, DType::kF32}, ValueKind::kState),
                                 g.add_value("var", {Shape{4}, DType::kF32}, ValueKind::kState)},
                                "bn", Phase::kForward)[0];
  const ValueId r =
      g.add(ops::activation(ops::ActivationKind::kRelu6), {bn}, "relu6", Phase::kForward);
  const ValueId dw =
      g.add(ops::depthwise_conv2d(same3), {r, param(g, "k2", {3, 3, 4, 1})}, "dw", Phase::kForward);
  const ValueId pool = g.add(ops::global_avg_pool(), {dw}, "pool", Phase::kForward);
  const ValueId y = g.add(ops::dense(), {pool, param(g, "w", {4, 3})}, "dense", Phase::kForward);
  ValueId loss;
  finish(g, y, &loss);
  const Chain c = extract_chain(g);
  ASSERT_EQ(c.stages.size(), 5u);
  EXPECT_EQ(node_names(g, c.stages[0].forward_nodes), (std::vector<std::string>{"conv"}));
  EXPECT_EQ(node_names(g, c.stages[1].forward_nodes), (std::vector<std::string>{"bn", "relu6"}));
  EXPECT_EQ(node_names(g, c.stages[2].forward_nodes), (std::vector<std::string>{"dw", "pool"}));
  EXPECT_EQ(node_names(g, c.stages[3].forward_nodes), (std::vector<std::string>{"dense"}));
  EXPECT_EQ(c.stages[1].output, r);
  EXPECT_EQ(c.stages[1].name, "bn..relu6");
  const int64_t act = f32_bytes({2, 6, 6, 4});
  // BatchNorm keeps its batch mean and variance (4 floats each); ReLU6 its output.
  EXPECT_EQ(c.stages[1].kept_bytes, act + 2 * f32_bytes({4}));
  // Keeping only the output, ReLU6 overwrites BatchNorm's output: the peak is the output (with
  // the 16-byte mean and variance, written and dropped at once).
  EXPECT_EQ(c.stages[1].forward_temp_bytes, 2 * f32_bytes({4}));
  // The depthwise output dies in the pool: it is not kept.
  EXPECT_EQ(c.stages[2].kept_bytes, f32_bytes({2, 4}));
  EXPECT_EQ(c.stages[2].forward_temp_bytes, act);
  // conv: 2 x (2*6*6*4 outputs) x (3*3*2 taps); x needs no gradient: backward-weights only.
  EXPECT_EQ(c.stages[0].forward_cost, 2.0 * 288 * 18);
  EXPECT_EQ(c.stages[0].backward_cost, 2.0 * 288 * 18);
  // BatchNorm 8 per element, ReLU6 1.
  EXPECT_EQ(c.stages[1].forward_cost, 8.0 * 288 + 288);
  // depthwise 2 x 288 x 9, pool 1 per input element; backward: pool 288, depthwise data and
  // weights 2 x 288 x 9 each.
  EXPECT_EQ(c.stages[2].forward_cost, 2.0 * 288 * 9 + 288);
  EXPECT_EQ(c.stages[2].backward_cost, 288 + 2 * (2.0 * 288 * 9));
  EXPECT_EQ(estimate_node_flops(g, g.value(dw).producer), 2.0 * 288 * 9);
}

TEST(ExtractChainTest, ResidualBlockIsOneStage) {
  // h = d1(x) (2,4); a = d2(h) (2,6); r = relu(a); s = d3(r) (2,4); y = h + s; z = d4(y) (2,5).
  // Between h and y two tensors are live (h and the branch), so the block d2..add is one
  // stage: [d1], [d2, relu, d3, add], [d4], [loss].
  Graph g;
  const ValueId x = g.add_value("x", {Shape{2, 3}, DType::kF32}, ValueKind::kInput);
  const ValueId h = g.add(ops::dense(), {x, param(g, "w1", {3, 4})}, "d1", Phase::kForward);
  const ValueId a = g.add(ops::dense(), {h, param(g, "w2", {4, 6})}, "d2", Phase::kForward);
  const ValueId r =
      g.add(ops::activation(ops::ActivationKind::kRelu), {a}, "relu", Phase::kForward);
  const ValueId s = g.add(ops::dense(), {r, param(g, "w3", {6, 4})}, "d3", Phase::kForward);
  const ValueId y = g.add(ops::add(), {h, s}, "add", Phase::kForward);
  const ValueId z = g.add(ops::dense(), {y, param(g, "w4", {4, 5})}, "d4", Phase::kForward);
  ValueId loss;
  finish(g, z, &loss);
  const Chain c = extract_chain(g);
  ASSERT_EQ(c.stages.size(), 4u);
  EXPECT_EQ(node_names(g, c.stages[1].forward_nodes),
            (std::vector<std::string>{"d2", "relu", "d3", "add"}));
  const ChainStage& block = c.stages[1];
  EXPECT_EQ(block.output, y);
  const int64_t narrow = f32_bytes({2, 4}), wide = f32_bytes({2, 6});
  // Kept: relu's output (its own backward and d3's read it) and the block output (d4's
  // backward reads it). d2's output dies at relu; d3's output feeds only the Add, whose
  // backward reads nothing.
  EXPECT_EQ(block.kept_bytes, wide + narrow);
  // Keeping only the output: a (wide), relu over it, s (narrow) while r lives: wide + narrow;
  // then y beside s: 2 narrow. Peak wide + narrow, above the narrow output: wide.
  EXPECT_EQ(block.forward_temp_bytes, wide);
  // Keeping all: r (wide) stays, so s and y are live beside it: wide + 2 narrow, above kept.
  EXPECT_EQ(block.forward_all_temp_bytes, narrow);
  // Backward, each kept tensor dying at its last read: at the start r and y's gradient are live
  // (y, kept for d4's backward, died there); d3's backward-data adds r's gradient (wide): 2 wide
  // + narrow, the peak; relu's backward writes over it and r dies; d2's backward-data adds a
  // narrow gradient: wide + 2 narrow. Above the model's kept + grad (wide + 2 narrow): wide -
  // narrow.
  EXPECT_EQ(block.backward_temp_bytes, wide - narrow);
  // Gradients: d4 gets the loss's gradient of z; the block gets y's; the stage before the block
  // gets two contributions for h (y's gradient through the Add, and d2's backward-data), which
  // autodiff sums there: that sum is a backward node of stage 0.
  EXPECT_EQ(c.stages[3].grad_bytes, 0);
  EXPECT_EQ(c.stages[2].grad_bytes, f32_bytes({2, 5}));
  EXPECT_EQ(c.stages[1].grad_bytes, narrow);
  EXPECT_EQ(c.stages[0].grad_bytes, 2 * narrow);
  bool sum_in_stage0 = false;
  for (NodeId n : c.stages[0].backward_nodes) sum_in_stage0 |= g.node(n).op->type() == "Add";
  EXPECT_TRUE(sum_in_stage0);
  // The model runs on the extracted chain: keeping everything fits its own peak.
  const RematSchedule all = solve_remat(c, simulate_remat(c, keep_all_schedule(c)).peak_bytes);
  EXPECT_TRUE(all.fits);
  EXPECT_EQ(all.extra_cost(), 0);
}

TEST(ExtractChainTest, LogitsThatViewAnEarlierTensorShareItsStage) {
  // x (2,3) -> d1 (2,4) -> d2 (2,6) -> reshape to (2,6) (a view) -> loss. The loss's backward
  // reads the view, i.e. d2's bytes: d2 and the reshape are one stage.
  Graph g;
  const ValueId x = g.add_value("x", {Shape{2, 3}, DType::kF32}, ValueKind::kInput);
  const ValueId h = g.add(ops::dense(), {x, param(g, "w1", {3, 4})}, "d1", Phase::kForward);
  const ValueId y = g.add(ops::dense(), {h, param(g, "w2", {4, 6})}, "d2", Phase::kForward);
  const ValueId v = g.add(ops::reshape(Shape{6}), {y}, "flat", Phase::kForward);
  ValueId loss;
  finish(g, v, &loss);
  const Chain c = extract_chain(g);
  ASSERT_EQ(c.stages.size(), 3u);
  EXPECT_EQ(node_names(g, c.stages[1].forward_nodes), (std::vector<std::string>{"d2", "flat"}));
  EXPECT_EQ(c.stages[1].output, v);
  EXPECT_EQ(c.stages[1].output_bytes, f32_bytes({2, 6}));  // the view's bytes are d2's, once
  EXPECT_EQ(c.stages[1].kept_bytes, f32_bytes({2, 6}));
  EXPECT_EQ(c.stages[1].forward_temp_bytes, 0);
}

TEST(ExtractChainTest, RefusesGraphsItCannotChain) {
  Graph g;
  const ValueId x = g.add_value("x", {Shape{2, 3}, DType::kF32}, ValueKind::kInput);
  const ValueId h = g.add(ops::dense(), {x, param(g, "w1", {3, 4})}, "d1", Phase::kForward);
  const ValueId y = g.add(ops::dense(), {h, param(g, "w2", {4, 4})}, "d2", Phase::kForward);
  EXPECT_THROW(extract_chain(g), Error);  // no loss, no backward
  // A metric that reads h as well as the loss reading y: the loss stage gets two tensors.
  const ValueId labels = g.add_value("labels", {Shape{2}, DType::kI32}, ValueKind::kInput);
  const ValueId loss = g.add(ops::softmax_cross_entropy(), {y, labels}, "loss", Phase::kLoss);
  g.add(ops::top1_correct(), {h, labels}, "metric", Phase::kLoss);
  add_backward(g, loss, ops::add(), ops::copy());
  try {
    extract_chain(g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_NE(std::string(e.what()).find("'d1'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace leantrain::passes

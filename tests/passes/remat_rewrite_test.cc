// apply_remat: a training graph rewritten to run a rematerialization schedule trains bit for bit
// as the original (MobileNetV2 and a residual model with BatchNormalization and Dropout, fast and
// reference kernels, several budgets); the bytes its plan holds at any step stay within the
// schedule's predicted peak plus kernel scratch and the host's outputs, and fit_remat keeps the
// planned arena itself within a budget; the keep-everything schedule gives the original graph
// back; recomputed nodes are counted and wired as the schedule says (a kForward run's
// intermediates are read inside that run only); a recomputed BatchNormalization does not update
// the moving statistics a second time; and the errors.
#include "leantrain/passes/remat.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/graph/memory_plan.h"
#include "leantrain/memory/allocator.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/nn/layers.h"
#include "leantrain/nn/model.h"
#include "leantrain/nn/zoo.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/trainer.h"
#include "ops/ops.h"
#include "testing/testing.h"

namespace leantrain::passes {
namespace {

using graph::Graph;
using graph::GraphMemoryPlan;
using graph::is_persistent;
using graph::KernelChoice;
using graph::kNoValue;
using graph::Node;
using graph::NodeId;
using graph::Phase;
using graph::StepState;
using graph::Value;
using graph::ValueId;

constexpr int64_t kBatch = 8;
constexpr int32_t kClasses = 10;

// Two residual blocks with BatchNormalization and Dropout inside (each block one stage of the
// chain), between a stem (conv, BN, ReLU) and a head (strided conv, BN, ReLU, Dropout, global
// pooling, dense logits).
nn::Model residual_model(const Shape& input) {
  const nn::Tensor in = nn::Input({.shape = input});
  nn::Tensor x = nn::Conv2D({.filters = 8, .kernel_size = 3, .padding = "same"})(in);
  x = nn::ReLU()(nn::BatchNormalization()(x));
  for (int b = 0; b < 2; ++b) {
    nn::Tensor y = nn::Conv2D({.filters = 16, .kernel_size = 1})(x);
    y = nn::ReLU()(nn::BatchNormalization()(y));
    y = nn::Dropout({.rate = 0.25f})(y);
    y = nn::BatchNormalization()(nn::Conv2D({.filters = 8, .kernel_size = 1})(y));
    x = nn::Add()({x, y});
  }
  x = nn::Conv2D({.filters = 16, .kernel_size = 3, .strides = 2, .padding = "same"})(x);
  x = nn::ReLU()(nn::BatchNormalization()(x));
  x = nn::Dropout({.rate = 0.3f})(x);
  x = nn::GlobalAveragePooling2D()(x);
  return nn::Model(in, nn::Dense({.units = kClasses})(x), "residual");
}

nn::Model mobilenet_v2() {
  return nn::make_model("mobilenet_v2", Shape{32, 32, 1}, kClasses, 3, {.alpha = 0.35});
}

// The rewrite is tested on training graphs as built (updates after the backward pass,
// persistent gradients); the Trainer moves updates into the backward pass after it
// (passes/step_local_gradients.h, tested with the Trainer's budget plans).
std::unique_ptr<train::Trainer> make_trainer(nn::Model model, KernelChoice choice) {
  return std::make_unique<train::Trainer>(
      std::move(model),
      train::CompileOptions{.optimizer = train::SGD({.learning_rate = 0.05f, .momentum = 0.9f}),
                            .seed = 42,
                            .kernels = {.choice = choice},
                            .keep_gradients = true});
}

// What a run leaves: the loss of every step and every variable at the end (weights and
// BatchNormalization moving statistics).
struct Trajectory {
  std::vector<float> losses;
  std::vector<std::vector<float>> variables;
};

// Runs `steps` training steps of `p` (a program over t's store) on seeded images and labels.
Trajectory run_steps(train::Trainer& t, runtime::Program& p, int steps) {
  const std::string input = t.model().inputs()[0].call().layer->name();
  Trajectory r;
  for (int s = 0; s < steps; ++s) {
    const TensorView x = p.view(input);
    const std::vector<float> images = testing::random_floats(x.num_elements(), 1000 + s);
    std::copy(images.begin(), images.end(), x.f32());
    const TensorView y = p.view("labels");
    const std::vector<int32_t> labels =
        testing::random_labels(y.num_elements(), kClasses, 2000 + s);
    std::copy(labels.begin(), labels.end(), y.i32());
    p.run(StepState{s + 1, t.options().optimizer.learning_rate, t.options().seed});
    r.losses.push_back(p.view("loss").f32()[0]);
  }
  r.variables = t.get_weights();
  return r;
}

void expect_bitwise_equal(const Trajectory& expected, const Trajectory& actual,
                          const nn::Model& model, const std::string& what) {
  ASSERT_EQ(expected.losses.size(), actual.losses.size());
  for (size_t s = 0; s < expected.losses.size(); ++s) {
    EXPECT_EQ(std::memcmp(&expected.losses[s], &actual.losses[s], sizeof(float)), 0)
        << what << ": step " << s + 1 << " loss " << actual.losses[s] << ", keeping everything "
        << expected.losses[s];
  }
  const std::vector<nn::ModelVariable> vars = model.variables();
  ASSERT_EQ(expected.variables.size(), vars.size());
  ASSERT_EQ(actual.variables.size(), vars.size());
  for (size_t i = 0; i < vars.size(); ++i) {
    ASSERT_EQ(expected.variables[i].size(), actual.variables[i].size());
    EXPECT_EQ(std::memcmp(expected.variables[i].data(), actual.variables[i].data(),
                          expected.variables[i].size() * sizeof(float)),
              0)
        << what << ": variable " << vars[i].full_name() << " differs after the run";
  }
}

// A budget as a fraction of the keep-everything peak (0: the smallest budget that fits).
struct Budget {
  double fraction;
  std::string name() const {
    return fraction == 0 ? "the smallest budget" : std::to_string(fraction) + " of keep-all";
  }
};

RematSchedule solve_at(const Chain& chain, Budget budget) {
  const RematSchedule all = solve_remat(chain, 0);
  int64_t bytes = all.min_budget_bytes;
  if (budget.fraction > 0) {
    bytes = static_cast<int64_t>(budget.fraction * static_cast<double>(all.keep_all_peak_bytes));
  }
  return solve_remat(chain, std::max(bytes, all.min_budget_bytes));
}

int32_t recomputed_stages(const RematSchedule& s) {
  return static_cast<int32_t>(
      std::count_if(s.forward_runs.begin(), s.forward_runs.end(), [](int32_t r) { return r > 1; }));
}

// Trains `steps` steps with the trainer's own program and, for each budget, with a fresh
// trainer of the same seed running the rewritten graph; everything must match bit for bit.
void check_bitwise(const std::function<nn::Model()>& make_model, KernelChoice choice,
                   const std::vector<Budget>& budgets, int steps) {
  auto a = make_trainer(make_model(), choice);
  const Trajectory expected = run_steps(*a, a->training_program(kBatch), steps);
  // The run must be able to tell programs apart: the loss moves and is finite.
  EXPECT_NE(expected.losses.front(), expected.losses.back());
  for (float l : expected.losses) ASSERT_TRUE(std::isfinite(l));
  for (const Budget& budget : budgets) {
    auto b = make_trainer(make_model(), choice);
    const Graph& g = b->training_program(kBatch).graph();
    const Chain chain = extract_chain(g);
    const RematSchedule schedule = solve_at(chain, budget);
    ASSERT_TRUE(schedule.fits);
    ASSERT_LT(schedule.peak_bytes, schedule.keep_all_peak_bytes) << budget.name();
    ASSERT_GT(recomputed_stages(schedule), 0) << budget.name();
    runtime::SharedArena arena;
    runtime::Program p(apply_remat(g, {.chain = chain, .schedule = schedule}), b->store(), arena,
                       {.choice = choice});
    EXPECT_TRUE(p.all_pointers_inside());
    const Trajectory actual = run_steps(*b, p, steps);
    expect_bitwise_equal(
        expected, actual, a->model(),
        budget.name() + " (" + std::to_string(recomputed_stages(schedule)) + " stages recomputed)");
  }
}

TEST(ApplyRematTest, MobileNetV2TrainsBitwiseAsKeepingEverything) {
  check_bitwise(mobilenet_v2, KernelChoice::kFast, {{0.5}, {0.35}, {0}}, 20);
}

TEST(ApplyRematTest, ResidualModelWithBatchNormAndDropoutTrainsBitwise) {
  check_bitwise(
      [] {
        return residual_model(Shape{16, 16, 3});
      },
      KernelChoice::kFast, {{0.5}, {0.35}, {0}}, 20);
}

TEST(ApplyRematTest, ReferenceKernelsTrainBitwiseOnATinyModel) {
  check_bitwise([] { return residual_model(Shape{6, 6, 2}); }, KernelChoice::kReference, {{0}}, 5);
}

// --- Structure.

// The nodes of each run of the schedule in the rewritten graph, in order: runs[i] lists the
// node ids of forward op i (empty for backward and free ops).
std::vector<std::vector<NodeId>> runs_of(const Chain& chain, const RematSchedule& schedule) {
  std::vector<std::vector<NodeId>> runs;
  NodeId next = 0;
  for (const RematOp& op : schedule.ops) {
    const ChainStage& st = chain.stages[static_cast<size_t>(op.stage)];
    std::vector<NodeId> nodes;
    if (op.kind == RematOpKind::kForward || op.kind == RematOpKind::kForwardAll) {
      for (size_t k = 0; k < st.forward_nodes.size(); ++k) nodes.push_back(next++);
    } else if (op.kind == RematOpKind::kBackward) {
      next += static_cast<NodeId>(st.backward_nodes.size());
    }
    runs.push_back(std::move(nodes));
  }
  return runs;
}

Graph residual_training_graph(std::unique_ptr<train::Trainer>& t) {
  t = make_trainer(residual_model(Shape{16, 16, 3}), KernelChoice::kFast);
  return t->training_program(kBatch).graph();
}

TEST(ApplyRematTest, KeepEverythingGivesTheOriginalGraph) {
  for (const bool mobilenet : {false, true}) {
    auto t = make_trainer(mobilenet ? mobilenet_v2() : residual_model(Shape{16, 16, 3}),
                          KernelChoice::kFast);
    const Graph& g = t->training_program(kBatch).graph();
    const Chain chain = extract_chain(g);
    const RematSchedule all = solve_remat(chain, solve_remat(chain, 0).keep_all_peak_bytes);
    ASSERT_EQ(all.ops, keep_all_schedule(chain));
    const Graph r = apply_remat(g, {.chain = chain, .schedule = all});
    ASSERT_EQ(r.num_nodes(), g.num_nodes());
    ASSERT_EQ(r.num_values(), g.num_values());
    const auto names = [](const Graph& graph, const std::vector<ValueId>& ids) {
      std::vector<std::string> out;
      for (ValueId v : ids) out.push_back(graph.value(v).name);
      return out;
    };
    for (NodeId n = 0; n < g.num_nodes(); ++n) {
      const Node &a = g.node(n), &b = r.node(n);
      ASSERT_EQ(a.name, b.name) << "node " << n;
      EXPECT_EQ(a.op, b.op) << a.name;
      EXPECT_EQ(a.phase, b.phase) << a.name;
      EXPECT_EQ(a.layer, b.layer) << a.name;
      EXPECT_EQ(a.forward_of, b.forward_of) << a.name;
      EXPECT_FALSE(b.recomputed) << a.name;
      EXPECT_EQ(names(g, a.inputs), names(r, b.inputs)) << a.name;
      EXPECT_EQ(names(g, a.outputs), names(r, b.outputs)) << a.name;
    }
    for (const Value& v : g.values()) {
      const ValueId id = r.find(v.name);
      ASSERT_NE(id, kNoValue) << v.name;
      EXPECT_EQ(r.value(id).kind, v.kind) << v.name;
      EXPECT_EQ(r.value(id).is_output, v.is_output) << v.name;
      EXPECT_EQ(r.value(id).spec.shape, v.spec.shape) << v.name;
    }
    // The same schedule, the same plan.
    runtime::SharedArena arena;
    runtime::Program p(r, t->store(), arena);
    EXPECT_EQ(p.arena_bytes(), t->training_program(kBatch).arena_bytes());
  }
}

TEST(ApplyRematTest, RecomputedNodesAreRunsTimesStageNodesAndReadOnlyTheirRun) {
  for (const bool mobilenet : {false, true}) {
    auto t = make_trainer(mobilenet ? mobilenet_v2() : residual_model(Shape{16, 16, 3}),
                          KernelChoice::kFast);
    const Graph& g = t->training_program(kBatch).graph();
    const Chain chain = extract_chain(g);
    for (const Budget budget : {Budget{0.5}, Budget{0}}) {
      const RematSchedule schedule = solve_at(chain, budget);
      const Graph r = apply_remat(g, {.chain = chain, .schedule = schedule});
      int64_t expected = 0, extra_backward_reads = 0;
      for (size_t s = 0; s < chain.stages.size(); ++s) {
        expected += (schedule.forward_runs[s] - 1) *
                    static_cast<int64_t>(chain.stages[s].forward_nodes.size());
      }
      int64_t recomputed = 0;
      for (const Node& n : r.nodes()) {
        if (!n.recomputed) continue;
        ++recomputed;
        EXPECT_EQ(n.phase, Phase::kForward) << n.name;
        EXPECT_NE(n.name.find("/recompute"), std::string::npos) << n.name;
        for (ValueId v : n.outputs) EXPECT_FALSE(r.value(v).is_output) << r.value(v).name;
        EXPECT_TRUE(n.op->mutated_inputs().empty()) << n.name;
      }
      EXPECT_GT(expected, 0) << budget.name();
      EXPECT_EQ(recomputed, expected) << budget.name();
      EXPECT_EQ(r.num_nodes(), g.num_nodes() + expected);

      // Every run but a stage's last keeps only its output: no node outside the run reads
      // another value it writes. The last run of each stage is the one its backward reads.
      const std::vector<std::vector<NodeId>> runs = runs_of(chain, schedule);
      std::vector<int32_t> last_run(chain.stages.size(), -1);
      for (size_t i = 0; i < schedule.ops.size(); ++i) {
        if (!runs[i].empty()) last_run[static_cast<size_t>(schedule.ops[i].stage)] = int32_t(i);
      }
      std::vector<std::vector<NodeId>> readers(static_cast<size_t>(r.num_values()));
      for (NodeId n = 0; n < r.num_nodes(); ++n) {
        for (ValueId v : r.node(n).inputs) readers[static_cast<size_t>(v)].push_back(n);
      }
      for (size_t i = 0; i < schedule.ops.size(); ++i) {
        if (runs[i].empty()) continue;
        const ChainStage& st = chain.stages[static_cast<size_t>(schedule.ops[i].stage)];
        const std::set<NodeId> in_run(runs[i].begin(), runs[i].end());
        for (size_t k = 0; k < runs[i].size(); ++k) {
          const Node& node = r.node(runs[i][k]);
          // The run's nodes are the stage's nodes, clones after the first run.
          EXPECT_EQ(node.op->type(), g.node(st.forward_nodes[k]).op->type());
          for (size_t o = 0; o < node.outputs.size(); ++o) {
            const bool stage_output = g.node(st.forward_nodes[k]).outputs[o] == st.output;
            for (NodeId reader : readers[static_cast<size_t>(node.outputs[o])]) {
              if (in_run.contains(reader) || stage_output) continue;
              if (r.node(reader).phase == Phase::kBackward &&
                  static_cast<int32_t>(i) == last_run[static_cast<size_t>(schedule.ops[i].stage)]) {
                continue;
              }
              ++extra_backward_reads;
              ADD_FAILURE() << r.node(reader).name << " reads " << r.value(node.outputs[o]).name
                            << " of run " << i << " (" << remat_op_kind_name(schedule.ops[i].kind)
                            << " of stage " << schedule.ops[i].stage << ")";
            }
          }
        }
      }
      EXPECT_EQ(extra_backward_reads, 0);
    }
  }
}

TEST(ApplyRematTest, RecomputedBatchNormLeavesTheMovingStatisticsAlone) {
  // One step of the rewritten graph at the smallest budget against one step of the original:
  // the moving statistics moved once (away from their initial 0 and 1) and equal bit for bit.
  auto a = make_trainer(residual_model(Shape{16, 16, 3}), KernelChoice::kFast);
  const std::vector<std::vector<float>> initial = a->get_weights();
  const Trajectory once = run_steps(*a, a->training_program(kBatch), 1);

  std::unique_ptr<train::Trainer> b;
  const Graph g = residual_training_graph(b);
  const Chain chain = extract_chain(g);
  const RematSchedule schedule = solve_at(chain, {0});
  const Graph r = apply_remat(g, {.chain = chain, .schedule = schedule});
  int32_t bn_clones = 0, dropout_clones = 0;
  for (const Node& n : r.nodes()) {
    if (!n.recomputed) continue;
    if (n.op->type() == "BatchNormalization") {
      ++bn_clones;
      EXPECT_TRUE(n.op->mutated_inputs().empty()) << n.name;
      // The original it copies does update them.
      const std::string original = n.name.substr(0, n.name.find("/recompute"));
      bool found = false;
      for (const Node& o : g.nodes()) {
        if (o.name != original) continue;
        found = true;
        EXPECT_EQ(o.op->mutated_inputs(), (std::vector<int>{3, 4})) << o.name;
      }
      EXPECT_TRUE(found) << original;
    }
    if (n.op->type() == "Dropout") ++dropout_clones;
  }
  ASSERT_GT(bn_clones, 0);
  ASSERT_GT(dropout_clones, 0);

  runtime::SharedArena arena;
  runtime::Program p(r, b->store(), arena);
  const Trajectory rewritten = run_steps(*b, p, 1);
  const std::vector<nn::ModelVariable> vars = a->model().variables();
  int32_t moving = 0;
  for (size_t i = 0; i < vars.size(); ++i) {
    const std::string& name = vars[i].variable.name;
    if (name != "moving_mean" && name != "moving_variance") continue;
    ++moving;
    EXPECT_NE(once.variables[i], initial[i]) << vars[i].full_name() << " did not move";
    EXPECT_EQ(std::memcmp(once.variables[i].data(), rewritten.variables[i].data(),
                          once.variables[i].size() * sizeof(float)),
              0)
        << vars[i].full_name();
  }
  EXPECT_EQ(moving, 2 * 6);  // six BatchNormalization layers
}

// --- Memory.

struct Figures {
  int64_t keep_all_arena = 0;
  int64_t arena = 0;
  int64_t max_live_values = 0;    // largest sum of live value slots at one step
  int64_t max_live = 0;           // the same with kernel scratch
  int64_t max_scratch = 0;        // largest scratch of one node
  int64_t host_output_bytes = 0;  // values the host reads: live to the last step
};

// What the planner holds at each step of `plan`.
Figures figures_of(const Graph& g, const runtime::Program& p) {
  Figures f;
  const GraphMemoryPlan& plan = p.plan();
  std::set<int32_t> scratch_slots;
  for (NodeId n = 0; n < g.num_nodes(); ++n) {
    const int32_t b = plan.scratch_buffer_of_node[static_cast<size_t>(n)];
    if (b >= 0) scratch_slots.insert(plan.slots.slot_of[static_cast<size_t>(b)]);
    f.max_scratch = std::max(f.max_scratch, p.scratch_bytes(n));
  }
  std::vector<int64_t> live(static_cast<size_t>(g.num_nodes()), 0), values = live;
  for (size_t s = 0; s < plan.slots.slots.size(); ++s) {
    const memory::Buffer& b = plan.slots.slots[s];
    for (int32_t step = b.first_step; step <= b.last_step; ++step) {
      live[static_cast<size_t>(step)] += b.bytes;
      if (!scratch_slots.contains(static_cast<int32_t>(s))) {
        values[static_cast<size_t>(step)] += b.bytes;
      }
    }
  }
  f.max_live = *std::max_element(live.begin(), live.end());
  f.max_live_values = *std::max_element(values.begin(), values.end());
  for (const Value& v : g.values()) {
    if (v.is_output && !is_persistent(v.kind)) {
      f.host_output_bytes += v.spec.shape.num_elements() * dtype_size(v.spec.dtype);
    }
  }
  f.arena = p.arena_bytes();
  return f;
}

// The rewritten graph's plan against the schedule's prediction. The chain model counts every
// step-local tensor but two kinds:
// - kernel scratch, live during its own node only: at most the largest node's;
// - the values the host reads (loss, metrics), which the planner keeps to the last step and the
//   model frees with the loss stage's backward.
// So the bytes live at any step stay within the prediction plus those two. The arena is at
// least that largest live set and more by the offset planner's fragmentation, which no chain
// model counts: fit_remat() lowers the DP's budget until the arena itself fits.
void check_live_bytes(const Graph& g, const Chain& chain, train::Trainer& t, Budget budget,
                      runtime::SharedArena& arena, int64_t keep_all_arena, bool print) {
  const RematSchedule schedule = solve_at(chain, budget);
  ASSERT_TRUE(schedule.fits);
  runtime::Program p(apply_remat(g, {.chain = chain, .schedule = schedule}), t.store(), arena);
  const Figures f = figures_of(p.graph(), p);
  EXPECT_LE(f.max_live_values, schedule.peak_bytes + f.host_output_bytes) << budget.name();
  EXPECT_LE(f.max_live, schedule.peak_bytes + f.host_output_bytes + f.max_scratch) << budget.name();
  EXPECT_GE(f.arena, f.max_live);
  EXPECT_LT(f.arena, keep_all_arena) << budget.name();
  if (print) {
    using memory::format_iec_bytes;
    const auto pct = [&](int64_t v) {
      return 100.0 * static_cast<double>(v - schedule.peak_bytes) /
             static_cast<double>(schedule.peak_bytes);
    };
    std::printf(
        "  %-20s predicted peak %10s | planned arena %10s (%+.2f%%) | live tensors %10s "
        "(%+.2f%%) | with scratch %10s | largest scratch %9s | %d stages recomputed, extra "
        "compute %.1f%%\n",
        budget.name().c_str(), format_iec_bytes(schedule.peak_bytes).c_str(),
        format_iec_bytes(f.arena).c_str(), pct(f.arena),
        format_iec_bytes(f.max_live_values).c_str(), pct(f.max_live_values),
        format_iec_bytes(f.max_live).c_str(), format_iec_bytes(f.max_scratch).c_str(),
        recomputed_stages(schedule), 100.0 * schedule.extra_fraction());
  }
}

// fit_remat at a budget: when it fits, the arena of its graph is within the budget; when the
// plain schedule's arena at that budget does not fit, it took more than one attempt.
void check_fit(const Graph& g, const Chain& chain, train::Trainer& t, int64_t budget_bytes,
               runtime::SharedArena& arena, bool print) {
  const auto arena_of = [&](const Graph& r) {
    return runtime::Program(r, t.store(), arena).arena_bytes();
  };
  const RematSchedule plain = solve_remat(chain, budget_bytes);
  const bool plain_fits =
      plain.fits && arena_of(apply_remat(g, {.chain = chain, .schedule = plain})) <= budget_bytes;
  const FittedRemat fit = fit_remat(g, chain, budget_bytes, arena_of);
  if (plain_fits) {
    EXPECT_EQ(fit.attempts, 1);
  } else if (plain.fits) {
    EXPECT_TRUE(fit.attempts > 1 || !fit.schedule.fits);
  }
  if (print) {
    std::printf("  fit_remat at %10s: %s after %d attempt(s), planned arena %s\n",
                memory::format_iec_bytes(budget_bytes).c_str(),
                fit.schedule.fits ? "fits" : "does not fit", fit.attempts,
                memory::format_iec_bytes(fit.arena_bytes).c_str());
  }
  if (!fit.schedule.fits) {
    EXPECT_TRUE(fit.schedule.ops.empty());
    EXPECT_EQ(fit.graph.num_nodes(), 0);
    return;
  }
  EXPECT_LE(fit.arena_bytes, budget_bytes);
  runtime::Program p(fit.graph, t.store(), arena);
  EXPECT_EQ(p.arena_bytes(), fit.arena_bytes);
  EXPECT_LE(fit.schedule.peak_bytes, budget_bytes);
}

TEST(ApplyRematTest, LiveBytesStayWithinThePredictedPeakPlusScratch) {
  for (const bool mobilenet : {false, true}) {
    auto t = make_trainer(mobilenet ? mobilenet_v2() : residual_model(Shape{16, 16, 3}),
                          KernelChoice::kFast);
    const Graph& g = t->training_program(kBatch).graph();
    const Chain chain = extract_chain(g);
    const int64_t keep_all_arena = t->training_program(kBatch).arena_bytes();
    runtime::SharedArena arena;
    for (const Budget budget : {Budget{0.5}, Budget{0.35}, Budget{0}}) {
      check_live_bytes(g, chain, *t, budget, arena, keep_all_arena, false);
    }
    const RematSchedule all = solve_remat(chain, 0);
    for (double fraction : {0.5, 0.35}) {
      check_fit(g, chain, *t,
                static_cast<int64_t>(fraction * static_cast<double>(all.keep_all_peak_bytes)),
                arena, false);
    }
    // A budget the schedule's peak meets exactly: the planner's fragmentation shows.
    check_fit(g, chain, *t, solve_at(chain, {0.35}).peak_bytes, arena, false);
  }
}

// MobileNetV2 (alpha 1.0) at 224x224x3, batch 32: compiled only, through an allocator that
// commits pages when they are touched (nothing is). Prints the figures.
TEST(ApplyRematTest, MobileNetV2At224Batch32StaysWithinItsPredictions) {
  const nn::Model model = nn::make_model("mobilenet_v2", Shape{224, 224, 3}, 1000);
  auto t = std::make_unique<train::Trainer>(
      model, train::CompileOptions{.optimizer = train::SGD({.momentum = 0.9f}),
                                   .allocator = {memory::AllocatorMode::kGrow},
                                   .keep_gradients = true});
  const Graph& g = t->training_program(32).graph();
  const Chain chain = extract_chain(g);
  const int64_t keep_all_arena = t->training_program(32).arena_bytes();
  const RematSchedule all = solve_remat(chain, 0);
  std::printf(
      "MobileNetV2 224x224x3 batch 32, %zu stages: model keep-all peak %s, smallest budget %s, "
      "keep-all planned arena %s\n",
      chain.stages.size(), memory::format_iec_bytes(all.keep_all_peak_bytes).c_str(),
      memory::format_iec_bytes(all.min_budget_bytes).c_str(),
      memory::format_iec_bytes(keep_all_arena).c_str());
  runtime::SharedArena arena(
      std::make_shared<memory::Allocator>(memory::AllocatorOptions{memory::AllocatorMode::kGrow}));
  for (const Budget budget : {Budget{0.5}, Budget{0.35}, Budget{0}}) {
    check_live_bytes(g, chain, *t, budget, arena, keep_all_arena, true);
  }
  for (double fraction : {0.5, 0.35}) {
    check_fit(g, chain, *t,
              static_cast<int64_t>(fraction * static_cast<double>(all.keep_all_peak_bytes)), arena,
              true);
  }
  check_fit(g, chain, *t, solve_at(chain, {0.35}).peak_bytes, arena, true);
  check_fit(g, chain, *t, all.min_budget_bytes, arena, true);
}

// --- Errors.

TEST(ApplyRematTest, RefusesAScheduleThatDoesNotFitOrAnotherGraphsChain) {
  std::unique_ptr<train::Trainer> t;
  const Graph g = residual_training_graph(t);
  const Chain chain = extract_chain(g);
  const RematSchedule none = solve_remat(chain, 1);
  ASSERT_FALSE(none.fits);
  try {
    apply_remat(g, {.chain = chain, .schedule = none});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("does not fit"), std::string::npos) << e.what();
  }
  // MobileNetV2's chain does not cover the residual model's graph.
  auto m = make_trainer(mobilenet_v2(), KernelChoice::kFast);
  const Chain other = extract_chain(m->training_program(kBatch).graph());
  EXPECT_THROW(apply_remat(g, {.chain = other, .schedule = solve_at(other, {0})}), Error);
}

}  // namespace
}  // namespace leantrain::passes

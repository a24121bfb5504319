// CompileOptions::memory_budget_bytes: the Trainer chooses keep-all or rematerialization for a
// batch's training program, cheapest first, so that the persistent block plus the planned arena
// fit the budget; a rematerialized program trains bit for bit as keeping everything; a budget
// nothing meets fails before any step with the smallest budget that fits and the largest batch
// that does; find_batch_size returns the largest fitting batch; runtime::planned_arena_bytes
// predicts a compiled program's arena without reserving it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/nn/zoo.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/trainer.h"
#include "testing/testing.h"

namespace leantrain::train {
namespace {

constexpr int32_t kClasses = 10;

// A small residual model: MobileNetV2 at alpha 0.35 on 32x32x1 (inverted residual blocks are
// chain stages of their own).
nn::Model small_mobilenet_v2() {
  return nn::make_model("mobilenet_v2", Shape{32, 32, 1}, kClasses, 3, {.alpha = 0.35});
}

std::unique_ptr<Trainer> make_trainer(int64_t budget_bytes) {
  return std::make_unique<Trainer>(
      small_mobilenet_v2(),
      CompileOptions{.optimizer = SGD({.learning_rate = 0.05f, .momentum = 0.9f}),
                     .seed = 42,
                     .memory_budget_bytes = budget_bytes});
}

// Per step: the loss; after the run: every variable (weights and moving statistics).
struct Trajectory {
  std::vector<float> losses;
  std::vector<std::vector<float>> variables;
};

// Runs `steps` steps of the trainer's training program for `batch` on seeded images and labels.
Trajectory run_steps(Trainer& t, int64_t batch, int steps) {
  runtime::Program& p = t.training_program(batch);
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
    p.run(graph::StepState{s + 1, t.options().optimizer.learning_rate, t.options().seed});
    r.losses.push_back(p.view("loss").f32()[0]);
  }
  r.variables = t.get_weights();
  return r;
}

// What the training and evaluation programs of `batch` take beside the persistent block.
int64_t planned_total(Trainer& t, int64_t batch) {
  const MemoryReport r = t.plan(batch);
  return r.persistent_bytes + r.arena_bytes;
}

TEST(PlannedArenaBytesTest, MatchesTheCompiledProgramWithoutReserving) {
  auto t = make_trainer(0);
  for (const int64_t batch : {1, 8}) {
    const runtime::Program& train = t->training_program(batch);
    const runtime::Program& eval = t->evaluation_program(batch);
    EXPECT_EQ(runtime::planned_arena_bytes(train.graph()), train.arena_bytes()) << batch;
    EXPECT_EQ(runtime::planned_arena_bytes(eval.graph()), eval.arena_bytes()) << batch;
  }
  // A far larger batch is planned without the shared arena growing or a program compiling.
  const int64_t reserved = t->arena().bytes();
  const BatchPlan big = t->plan_for_budget(64, 0);
  EXPECT_GT(big.train_arena_bytes, reserved);
  EXPECT_EQ(t->arena().bytes(), reserved);
  auto other = make_trainer(0);
  EXPECT_EQ(other->training_program(64).arena_bytes(), big.train_arena_bytes);
}

TEST(MemoryBudgetTest, NoBudgetOrAnAmpleOneKeepsEverything) {
  auto plain = make_trainer(0);
  const MemoryReport r = plain->plan(8);
  EXPECT_EQ(r.plan_kind, PlanKind::kKeepAll);
  EXPECT_EQ(r.memory_budget_bytes, 0);
  EXPECT_NE(r.to_string().find("plan: keep all"), std::string::npos) << r.to_string();
  // The plan, plus room for the compiled programs' own memory, which the budget covers too and
  // which is measured (resident growth while compiling), so it varies with what the process
  // already holds: 64 MiB more than this model's programs could take.
  const int64_t need = r.persistent_bytes + r.arena_bytes + (int64_t{64} << 20);
  auto ample = make_trainer(need);
  const MemoryReport a = ample->plan(8);
  EXPECT_EQ(a.plan_kind, PlanKind::kKeepAll);
  EXPECT_EQ(a.train_arena_bytes, r.train_arena_bytes);
  EXPECT_EQ(a.extra_compute_fraction, 0.0);
  EXPECT_EQ(ample->training_program(8).graph().num_nodes(),
            plain->training_program(8).graph().num_nodes());
}

TEST(MemoryBudgetTest, RematerializationFitsTheBudgetAndTrainsBitForBitAsKeepingEverything) {
  constexpr int64_t kBatch = 8;
  auto plain = make_trainer(0);
  const MemoryReport keep_all = plain->plan(kBatch);
  const int64_t keep_all_total = keep_all.persistent_bytes + keep_all.arena_bytes;
  // Halfway between the smallest plan and keeping everything.
  const BatchPlan smallest = plain->plan_for_budget(kBatch, keep_all.persistent_bytes + 1);
  ASSERT_FALSE(smallest.fits);
  ASSERT_GT(smallest.min_bytes, keep_all.persistent_bytes);
  ASSERT_LT(smallest.min_bytes, keep_all_total) << "rematerialization should need less";
  const int64_t budget = (smallest.min_bytes + keep_all_total) / 2;
  ASSERT_GT(keep_all_total, budget);

  auto lean = make_trainer(budget);
  const MemoryReport r = lean->plan(kBatch);
  EXPECT_EQ(r.plan_kind, PlanKind::kRemat);
  EXPECT_EQ(r.memory_budget_bytes, budget);
  EXPECT_LE(r.persistent_bytes + r.arena_bytes, budget);
  EXPECT_EQ(r.predicted_peak_bytes,
            r.persistent_bytes + r.arena_bytes + r.runtime_bytes);  // no pipeline
  EXPECT_LT(r.train_arena_bytes, keep_all.train_arena_bytes);
  // Recomputed tensors live only during the backward pass: they are not kept from the forward.
  EXPECT_LT(r.kept_for_backward_bytes, keep_all.kept_for_backward_bytes);
  EXPECT_GT(r.recomputed_stages, 0);
  EXPECT_GT(r.extra_compute_fraction, 0.0);
  EXPECT_NE(r.plan_explanation.to_string().find("recompute (runs"), std::string::npos)
      << r.plan_explanation.to_string();
  EXPECT_NE(r.to_string().find("plan: rematerialization"), std::string::npos) << r.to_string();
  // The program holds recomputed nodes and is what the arena was reserved for.
  const graph::Graph& g = lean->training_program(kBatch).graph();
  EXPECT_TRUE(std::any_of(g.nodes().begin(), g.nodes().end(),
                          [](const graph::Node& n) { return n.recomputed; }));
  EXPECT_LE(lean->store().total_bytes() + lean->arena().bytes(), budget);

  const Trajectory expected = run_steps(*plain, kBatch, 10);
  const Trajectory actual = run_steps(*lean, kBatch, 10);
  ASSERT_EQ(expected.losses.size(), actual.losses.size());
  for (size_t s = 0; s < expected.losses.size(); ++s) {
    EXPECT_EQ(std::memcmp(&expected.losses[s], &actual.losses[s], sizeof(float)), 0)
        << "step " << s + 1 << ": loss " << actual.losses[s] << ", keeping everything "
        << expected.losses[s];
  }
  ASSERT_EQ(expected.variables.size(), actual.variables.size());
  for (size_t i = 0; i < expected.variables.size(); ++i) {
    ASSERT_EQ(expected.variables[i].size(), actual.variables[i].size());
    EXPECT_EQ(std::memcmp(expected.variables[i].data(), actual.variables[i].data(),
                          expected.variables[i].size() * sizeof(float)),
              0)
        << "variable " << i << " differs after 10 steps";
  }
}

// The batch the message names as the largest that fits.
int64_t largest_batch_in(const std::string& message) {
  std::smatch m;
  const bool found =
      std::regex_search(message, m, std::regex("the largest batch that fits is (\\d+)"));
  EXPECT_TRUE(found) << message;
  return found ? std::stoll(m[1]) : 0;
}

TEST(MemoryBudgetTest, ABudgetBelowTheSmallestPlanFailsBeforeAnyStepNamingWhatWouldFit) {
  constexpr int64_t kBatch = 8;
  auto probe = make_trainer(0);
  const int64_t persistent = probe->store().total_bytes();
  const int64_t smallest = probe->plan_for_budget(kBatch, persistent + 1).min_bytes;
  // The smallest budget fits the batch.
  EXPECT_TRUE(probe->plan_for_budget(kBatch, smallest).fits);
  // Well below it, above what a batch of 1 needs.
  const int64_t one = probe->plan_for_budget(1, persistent + 1).min_bytes;
  ASSERT_LT(one, smallest);
  const int64_t budget = (one + smallest) / 2;

  auto t = make_trainer(budget);
  std::string message;
  try {
    t->plan(kBatch);
    ADD_FAILURE() << "expected Error(kOutOfBudget)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfBudget);
    message = e.what();
  }
  EXPECT_EQ(t->iterations(), 0);
  EXPECT_NE(message.find("memory budget " + memory::format_iec_bytes(budget)), std::string::npos)
      << message;
  EXPECT_NE(message.find("batch 8 needs " + memory::format_iec_bytes(smallest)), std::string::npos)
      << message;
  const int64_t largest = largest_batch_in(message);
  ASSERT_GE(largest, 1) << message;
  ASSERT_LT(largest, kBatch) << message;
  // It fits: the programs compile within the budget; one more image does not.
  EXPECT_LE(planned_total(*t, largest), budget);
  EXPECT_LE(t->store().total_bytes() + t->arena().bytes(), budget);
  EXPECT_FALSE(t->plan_for_budget(largest + 1, budget).fits);
  EXPECT_THROW(t->training_program(largest + 1), Error);
}

TEST(MemoryBudgetTest, ABudgetUnderThePersistentBlockFitsNoBatch) {
  auto probe = make_trainer(0);
  const int64_t persistent = probe->store().total_bytes();
  auto t = make_trainer(persistent / 2);
  try {
    t->find_batch_size(64);
    ADD_FAILURE() << "expected Error(kOutOfBudget)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfBudget);
    EXPECT_NE(std::string(e.what()).find("no batch fits"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_trainer(0)->find_batch_size(), Error);  // no budget to search under
}

// Under the persistent block no batch fits: the budget the message names must be one that works
// (what batch 1 needs), not the persistent block alone, which still fits nothing.
TEST(MemoryBudgetTest, ABudgetUnderThePersistentBlockNamesABudgetThatFitsBatchOne) {
  constexpr int64_t kBatch = 8;
  auto probe = make_trainer(0);
  const int64_t persistent = probe->store().total_bytes();
  const int64_t one = probe->plan_for_budget(1, persistent + 1).min_bytes;
  ASSERT_GT(one, persistent);
  auto t = make_trainer(persistent / 2);
  std::string message;
  try {
    t->plan(kBatch);
    ADD_FAILURE() << "expected Error(kOutOfBudget)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfBudget);
    message = e.what();
  }
  EXPECT_NE(message.find("use a budget of at least " + memory::format_iec_bytes(one) +
                         " (what batch 1 needs)"),
            std::string::npos)
      << message;
  EXPECT_TRUE(probe->plan_for_budget(1, one).fits);
  EXPECT_EQ(message.find("persistent block alone (persistent block"), std::string::npos) << message;
}

// Evaluation and prediction alone: their plan compiles no training program, so a budget that
// holds the persistent block and the evaluation arena but not training is enough to evaluate.
TEST(MemoryBudgetTest, AnInferencePlanNeedsOnlyItsOwnProgramToFit) {
  auto probe = make_trainer(0);
  const int64_t persistent = probe->store().total_bytes();
  const int64_t eval_arena = probe->evaluation_program(8).arena_bytes();
  const int64_t budget = persistent + eval_arena;
  auto t = make_trainer(budget);
  const MemoryReport r = t->plan(Inference::kEvaluate, 8, 20);
  EXPECT_EQ(r.persistent_bytes, persistent);
  EXPECT_EQ(r.eval_arena_bytes, eval_arena);
  EXPECT_EQ(r.train_arena_bytes, 0);
  EXPECT_EQ(r.pipeline_bytes, data::Batcher::bytes_for(20));
  EXPECT_EQ(r.memory_budget_bytes, budget);
  EXPECT_EQ(r.predicted_peak_bytes,
            r.persistent_bytes + r.arena_bytes + r.pipeline_bytes + r.runtime_bytes);
  EXPECT_GE(r.arena_bytes, eval_arena);
  try {
    t->plan(8);  // training: its smallest plan needs more than evaluation
    ADD_FAILURE() << "expected Error(kOutOfBudget)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfBudget) << e.what();
  }
  // One byte less and evaluation does not fit either: refused before any step, naming the step.
  auto tight = make_trainer(budget - 1);
  try {
    tight->plan(Inference::kEvaluate, 8);
    ADD_FAILURE() << "expected Error(kOutOfBudget)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfBudget);
    EXPECT_NE(std::string(e.what()).find("evaluation step for batch 8"), std::string::npos)
        << e.what();
  }
}

TEST(MemoryBudgetTest, APredictionPlanCompilesTheLastSmallerBatchToo) {
  auto t = make_trainer(0);
  const MemoryReport r = t->plan(Inference::kPredict, 8, 20);  // batches of 8, 8 and 4
  EXPECT_EQ(r.batch_size, 8);
  EXPECT_EQ(r.train_arena_bytes, 0);
  EXPECT_GT(r.eval_arena_bytes, 0);
  EXPECT_EQ(r.pipeline_bytes, data::Batcher::bytes_for(20));
  EXPECT_EQ(r.predicted_peak_bytes,
            r.persistent_bytes + r.arena_bytes + r.pipeline_bytes + r.runtime_bytes);
  EXPECT_THROW(t->plan(Inference::kPredict, 0), Error);
  EXPECT_THROW(t->plan(Inference::kPredict, 8, -1), Error);
}

TEST(MemoryBudgetTest, FindBatchSizeReturnsTheLargestBatchWithinEachOfThreeBudgets) {
  auto probe = make_trainer(0);
  const int64_t persistent = probe->store().total_bytes();
  // Three budgets: keep-all of batch 3; the smallest plan of batch 12; and between keep-all of
  // batch 20 and its smallest plan.
  const int64_t keep_all_3 = probe->plan_for_budget(3, 0).predicted_bytes;
  const int64_t smallest_12 = probe->plan_for_budget(12, persistent + 1).min_bytes;
  const BatchPlan b20 = probe->plan_for_budget(20, persistent + 1);
  const int64_t between_20 = (b20.min_bytes + probe->plan_for_budget(20, 0).predicted_bytes) / 2;
  std::map<int64_t, int64_t> found;  // budget -> batch
  for (const int64_t budget : {keep_all_3, smallest_12, between_20}) {
    auto t = make_trainer(budget);
    const int64_t batch = t->find_batch_size(256);
    found[budget] = batch;
    SCOPED_TRACE("budget " + memory::format_iec_bytes(budget) + ", batch " + std::to_string(batch));
    ASSERT_GE(batch, 1);
    ASSERT_LT(batch, 256);
    const BatchPlan plan = t->plan_for_budget(batch, budget);
    EXPECT_TRUE(plan.fits);
    EXPECT_LE(plan.predicted_bytes, budget);
    EXPECT_LE(planned_total(*t, batch), budget);  // compiled, not only predicted
    for (int64_t more = batch + 1; more <= batch + 3; ++more) {
      EXPECT_FALSE(t->plan_for_budget(more, budget).fits) << "batch " << more << " fits too";
    }
  }
  // Each budget was made from a batch that fits it.
  EXPECT_GE(found[keep_all_3], 3);
  EXPECT_GE(found[smallest_12], 12);
}

// Below the bf16 plan, with bf16 allowed: rematerialization whose kept activations are stored
// in bf16 too, recomputing less than the f32 schedule under the same budget; within budget,
// and one step's gradients within 1% of keeping everything in f32. (Gradients, not a loss
// curve: at batch 8 this model's f32 trajectories part after a few steps under any 0.2%
// perturbation; see Bf16StorageTrainingTest.)
TEST(MemoryBudgetTest, Bf16StorageWithRematerializationRecomputesLessThanF32Alone) {
  constexpr int64_t kBatch = 8;
  // Gradients kept in the store, to compare them.
  const auto make = [](int64_t budget, bool bf16) {
    return std::make_unique<Trainer>(
        small_mobilenet_v2(),
        CompileOptions{.optimizer = SGD({.learning_rate = 0.05f, .momentum = 0.9f}),
                       .seed = 42,
                       .memory_budget_bytes = budget,
                       .bf16_storage = bf16,
                       .keep_gradients = true});
  };
  auto plain = make(0, false);
  const MemoryReport keep_all = plain->plan(kBatch);
  // A budget halfway between the smallest plan and keeping everything.
  const int64_t smallest = plain->plan_for_budget(kBatch, keep_all.persistent_bytes + 1).min_bytes;
  const int64_t budget = (smallest + keep_all.persistent_bytes + keep_all.arena_bytes) / 2;
  auto strict = make(budget, false);
  const MemoryReport f32 = strict->plan(kBatch);
  ASSERT_EQ(f32.plan_kind, PlanKind::kRemat) << f32.plan_explanation.to_string();
  ASSERT_GT(f32.extra_compute_fraction, 0);
  auto allowed = make(budget, true);
  const MemoryReport both = allowed->plan(kBatch);
  ASSERT_EQ(both.plan_kind, PlanKind::kBf16StorageRemat) << both.plan_explanation.to_string();
  EXPECT_LT(both.extra_compute_fraction, f32.extra_compute_fraction);
  EXPECT_LE(both.persistent_bytes + both.arena_bytes, budget);
  EXPECT_NE(both.plan_explanation.to_string().find("in bf16 (gradients approximate)"),
            std::string::npos)
      << both.plan_explanation.to_string();
  const graph::Graph& g = allowed->training_program(kBatch).graph();
  EXPECT_TRUE(std::any_of(g.nodes().begin(), g.nodes().end(),
                          [](const graph::Node& n) { return n.recomputed; }));
  EXPECT_TRUE(std::any_of(g.nodes().begin(), g.nodes().end(), [](const graph::Node& n) {
    return n.op->type().starts_with("CastToBF16");
  }));
  const Trajectory exact = run_steps(*plain, kBatch, 1);
  const Trajectory approx = run_steps(*allowed, kBatch, 1);
  EXPECT_EQ(std::memcmp(&exact.losses[0], &approx.losses[0], sizeof(float)), 0);
  double diff = 0, norm = 0;
  for (const std::string& name : plain->store().names()) {
    if (plain->store().kind(name) != graph::ValueKind::kGradient) continue;
    const TensorView x = plain->store().view(name);
    const TensorView y = allowed->store().view(name);
    ASSERT_EQ(x.num_elements(), y.num_elements()) << name;
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      diff += std::pow(double{x.f32()[i]} - double{y.f32()[i]}, 2);
      norm += std::pow(double{x.f32()[i]}, 2);
    }
  }
  ASSERT_GT(norm, 0);
  EXPECT_GT(diff, 0) << "no gradient saw a bf16 value";
  EXPECT_LT(std::sqrt(diff / norm), 0.01);
}

}  // namespace
}  // namespace leantrain::train

namespace leantrain::train {
namespace {

TEST(MemoryBudgetTest, Bf16StorageIsThePlanBeforeRematerializationWhenAllowed) {
  constexpr int64_t kBatch = 8;
  auto plain = make_trainer(0);
  const MemoryReport keep_all = plain->plan(kBatch);
  const auto with_bf16 = [](int64_t budget) {
    return std::make_unique<Trainer>(
        small_mobilenet_v2(),
        CompileOptions{.optimizer = SGD({.learning_rate = 0.05f, .momentum = 0.9f}),
                       .seed = 42,
                       .memory_budget_bytes = budget,
                       .bf16_storage = true});
  };
  // Without a budget, bf16 storage applies as asked: a smaller training arena.
  auto unbounded = with_bf16(0);
  const MemoryReport b = unbounded->plan(kBatch);
  EXPECT_EQ(b.plan_kind, PlanKind::kBf16Storage);
  ASSERT_LT(b.train_arena_bytes, keep_all.train_arena_bytes);
  const graph::Graph& g = unbounded->training_program(kBatch).graph();
  EXPECT_TRUE(std::any_of(g.nodes().begin(), g.nodes().end(),
                          [](const graph::Node& n) { return n.op->type() == "CastToBF16"; }));

  // A budget between the bf16 plan and keeping everything: bf16 storage when allowed,
  // rematerialization (no bf16 anywhere) when not.
  const int64_t bf16_total = b.persistent_bytes + std::max(b.train_arena_bytes, b.eval_arena_bytes);
  const int64_t keep_all_total = keep_all.persistent_bytes + keep_all.arena_bytes;
  const int64_t budget = (bf16_total + keep_all_total) / 2;
  auto allowed = with_bf16(budget);
  const MemoryReport a = allowed->plan(kBatch);
  EXPECT_EQ(a.plan_kind, PlanKind::kBf16Storage) << a.plan_explanation.to_string();
  EXPECT_LE(a.persistent_bytes + a.arena_bytes, budget);
  EXPECT_NE(a.plan_explanation.to_string().find("stored in bf16"), std::string::npos)
      << a.plan_explanation.to_string();
  auto strict = make_trainer(budget);
  EXPECT_EQ(strict->plan(kBatch).plan_kind, PlanKind::kRemat);

  // The forward pass reads the f32 activations, so the first step's loss is the same bits; the
  // backward reads bf16-rounded ones, so later steps differ but stay finite.
  const Trajectory exact = run_steps(*plain, kBatch, 5);
  const Trajectory rounded = run_steps(*allowed, kBatch, 5);
  EXPECT_EQ(std::memcmp(&exact.losses[0], &rounded.losses[0], sizeof(float)), 0);
  for (const float loss : rounded.losses) EXPECT_TRUE(std::isfinite(loss));
  EXPECT_NE(exact.variables, rounded.variables);
}

}  // namespace
}  // namespace leantrain::train

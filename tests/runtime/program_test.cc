#include "leantrain/runtime/program.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "leantrain/graph/autodiff.h"
#include "leantrain/memory/allocator.h"
#include "leantrain/memory/bytes.h"
#include "ops/ops.h"
#include "testing/testing.h"

namespace leantrain::runtime {
namespace {

using graph::ValueId;
using graph::ValueKind;

enum class Step { kTrain, kEvaluate, kPredict };

graph::Graph small_graph(int64_t batch, Step step) {
  graph::Graph g;
  const ValueId x = g.add_value("input", {Shape{batch, 6, 6, 1}, DType::kF32}, ValueKind::kInput);
  const ValueId w =
      g.add_value("conv/kernel", {Shape{3, 3, 1, 4}, DType::kF32}, ValueKind::kParameter);
  const ValueId c = g.add(ops::conv2d({3, 3, 1, 1, 1, 1, ops::Padding::kSame}), {x, w}, "conv",
                          graph::Phase::kForward);
  const ValueId r =
      g.add(ops::activation(ops::ActivationKind::kRelu), {c}, "relu", graph::Phase::kForward);
  const ValueId p =
      g.add(ops::max_pool({2, 2, 2, 2, ops::Padding::kValid}), {r}, "pool", graph::Phase::kForward);
  const ValueId f = g.add(ops::reshape(Shape{36}), {p}, "flat", graph::Phase::kForward);
  const ValueId w2 =
      g.add_value("dense/kernel", {Shape{36, 3}, DType::kF32}, ValueKind::kParameter);
  const ValueId y = g.add(ops::dense(), {f, w2}, "dense", graph::Phase::kForward);
  if (step == Step::kPredict) {
    g.value(y).is_output = true;
    return g;
  }
  const ValueId labels = g.add_value("labels", {Shape{batch}, DType::kI32}, ValueKind::kInput);
  const ValueId loss =
      g.add(ops::softmax_cross_entropy(), {y, labels}, "loss", graph::Phase::kLoss);
  g.value(loss).is_output = true;
  if (step == Step::kEvaluate) return g;
  for (const auto& [param, grad] : graph::add_backward(g, loss, ops::add(), ops::copy())) {
    g.add_node(ops::sgd_update(0.0f, false), {param, grad}, g.value(param).name + "/update",
               graph::Phase::kUpdate);
  }
  return g;
}

graph::Graph small_training_graph(int64_t batch) { return small_graph(batch, Step::kTrain); }

PersistentStore make_store(const graph::Graph& g, std::shared_ptr<memory::Allocator> allocator =
                                                      memory::Allocator::default_allocator()) {
  PersistentStore store(std::move(allocator));
  for (const graph::Value& v : g.values()) {
    if (graph::is_persistent(v.kind)) store.declare(v.name, v.spec, v.kind);
  }
  store.allocate();
  return store;
}

TEST(ProgramTest, EveryPointerLiesInTheArenaOrTheStore) {
  PersistentStore store = make_store(small_training_graph(1));
  SharedArena arena;
  Program p(small_training_graph(8), store, arena);
  EXPECT_GE(arena.bytes(), p.arena_bytes());
  EXPECT_TRUE(p.all_pointers_inside());
  EXPECT_LT(p.arena_bytes(), p.plan().sum_of_buffers_bytes());
}

TEST(ProgramTest, ProgramsOfDifferentBatchSizesShareStoreAndArena) {
  PersistentStore store = make_store(small_training_graph(1));
  auto w = testing::random_floats(36 * 3, 1);
  std::copy(w.begin(), w.end(), store.view("dense/kernel").f32());
  auto k = testing::random_floats(9 * 4, 2);
  std::copy(k.begin(), k.end(), store.view("conv/kernel").f32());
  SharedArena arena;
  Program small(small_training_graph(3), store, arena);
  const int64_t small_arena = arena.bytes();
  Program big(small_training_graph(16), store, arena);
  EXPECT_GT(arena.bytes(), small_arena);
  // The small program rebinds to the grown arena before it runs.
  const graph::StepState state{1, 0.1f, 0};
  for (Program* p : {&small, &big}) {
    const TensorView in = p->view("input");
    auto values = testing::random_floats(in.num_elements(), 3, 0.0f, 1.0f);
    std::copy(values.begin(), values.end(), in.f32());
    auto labels = testing::random_labels(in.shape[0], 3, 4);
    std::copy(labels.begin(), labels.end(), p->view("labels").i32());
    const float before = store.view("dense/kernel").f32()[0];
    p->run(state);
    EXPECT_TRUE(p->all_pointers_inside());
    EXPECT_TRUE(std::isfinite(p->view("loss").f32()[0]));
    EXPECT_NE(store.view("dense/kernel").f32()[0], before) << "SGD must update the weights";
  }
}

TEST(PersistentStoreTest, RejectsConflictingDeclarations) {
  PersistentStore store;
  store.declare("a", {Shape{3}, DType::kF32}, ValueKind::kParameter);
  store.declare("a", {Shape{3}, DType::kF32}, ValueKind::kParameter);
  EXPECT_THROW(store.declare("a", {Shape{4}, DType::kF32}, ValueKind::kParameter), Error);
  store.allocate();
  EXPECT_EQ(store.view("a").num_elements(), 3);
  EXPECT_THROW(store.view("b"), Error);
  EXPECT_THROW(store.declare("c", {Shape{1}, DType::kF32}, ValueKind::kParameter), Error);
}

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;

int64_t round_up_64(int64_t bytes) { return (bytes + 63) / 64 * 64; }

std::shared_ptr<memory::Allocator> make_allocator(memory::AllocatorMode mode,
                                                  int64_t limit_bytes = 0) {
  return std::make_shared<memory::Allocator>(
      memory::AllocatorOptions{.mode = mode, .limit_bytes = limit_bytes});
}

// Runs `f`, expecting Error(kOutOfBudget); returns its message.
template <typename F>
std::string out_of_budget_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfBudget) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected Error(kOutOfBudget)";
  return "";
}

bool all_zero(const void* p, int64_t bytes) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (int64_t i = 0; i < bytes; ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

TEST(ProgramTest, LimitSmallerThanThePlanFailsAtCompileTimeNamingTheStepAndTheSizes) {
  // The plan's sizes, from an unlimited compile of the same graphs.
  PersistentStore unlimited_store = make_store(small_training_graph(1));
  SharedArena unlimited_arena;
  const Program planned(small_training_graph(8), unlimited_store, unlimited_arena);
  const int64_t store_bytes = unlimited_store.total_bytes();
  const int64_t arena_bytes = round_up_64(planned.arena_bytes());
  ASSERT_GT(store_bytes, 0);
  ASSERT_GT(arena_bytes, 0);

  const int64_t limit = store_bytes + arena_bytes - 1;
  const auto allocator = make_allocator(memory::AllocatorMode::kPreallocate, limit);
  PersistentStore store = make_store(small_training_graph(1), allocator);
  SharedArena arena(allocator);
  const std::string message =
      out_of_budget_message([&] { Program p(small_training_graph(8), store, arena); });
  EXPECT_EQ(message.rfind("training step arena for batch 8 needs ", 0), 0u) << message;
  EXPECT_NE(message.find(std::to_string(arena_bytes) + " bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("limit of " + memory::format_iec_bytes(limit) + " (" +
                         std::to_string(limit) + " bytes)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("(" + std::to_string(store_bytes) +
                         " bytes) already held by persistent block (parameters, gradients)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("(" + std::to_string(store_bytes + arena_bytes) + " bytes)"),
            std::string::npos)
      << "suggests what would fit: " << message;
  EXPECT_EQ(arena.bytes(), 0);

  // Exactly the plan fits, and runs.
  const auto exact = make_allocator(memory::AllocatorMode::kPreallocate, limit + 1);
  PersistentStore exact_store = make_store(small_training_graph(1), exact);
  SharedArena exact_arena(exact);
  Program p(small_training_graph(8), exact_store, exact_arena);
  p.run(graph::StepState{1, 0.1f, 0});
  EXPECT_EQ(exact->held_bytes(), limit + 1);
}

TEST(ProgramTest, ArenaRequestsAreNamedAfterTheKindOfStepAndItsBatch) {
  PersistentStore store = make_store(small_training_graph(1));
  const struct {
    Step step;
    int64_t batch;
    std::string expected;
  } cases[] = {{Step::kTrain, 5, "training step arena for batch 5 needs "},
               {Step::kEvaluate, 4, "evaluation step arena for batch 4 needs "},
               {Step::kPredict, 2, "prediction step arena for batch 2 needs "}};
  for (const auto& c : cases) {
    SharedArena arena(make_allocator(memory::AllocatorMode::kGrow, 64));
    const std::string message =
        out_of_budget_message([&] { Program p(small_graph(c.batch, c.step), store, arena); });
    EXPECT_EQ(message.rfind(c.expected, 0), 0u) << message;
  }
}

TEST(ProgramTest, GrowModeCommitsTheArenaAsTheStepRunsAndTrainsBitwiseLikePreallocate) {
  const auto w = testing::random_floats(36 * 3, 11);
  const auto k = testing::random_floats(9 * 4, 12);
  const auto input = testing::random_floats(8 * 6 * 6, 13, 0.0f, 1.0f);
  const auto labels = testing::random_labels(8, 3, 14);
  std::vector<float> losses[2];
  const memory::AllocatorMode modes[2] = {memory::AllocatorMode::kPreallocate,
                                          memory::AllocatorMode::kGrow};
  for (int m = 0; m < 2; ++m) {
    const auto allocator = make_allocator(modes[m]);
    PersistentStore store = make_store(small_training_graph(1), allocator);
    if (modes[m] == memory::AllocatorMode::kGrow) {
      EXPECT_EQ(store.arena().committed_bytes(), 0);
    } else {
      EXPECT_EQ(store.arena().committed_bytes(), store.total_bytes());
    }
    std::copy(w.begin(), w.end(), store.view("dense/kernel").f32());
    std::copy(k.begin(), k.end(), store.view("conv/kernel").f32());
    SharedArena arena(allocator);
    Program p(small_training_graph(8), store, arena);
    const int64_t reserved = round_up_64(arena.bytes());
    if (modes[m] == memory::AllocatorMode::kGrow) {
      EXPECT_EQ(arena.arena().committed_bytes(), 0) << "compiling touches no page";
    } else {
      EXPECT_EQ(arena.arena().committed_bytes(), reserved);
    }
    for (int step = 0; step < 3; ++step) {
      // Inputs are planned buffers: later nodes may reuse their space, so refill every step.
      std::copy(input.begin(), input.end(), p.view("input").f32());
      std::copy(labels.begin(), labels.end(), p.view("labels").i32());
      p.run(graph::StepState{step + 1, 0.1f, 0});
      losses[m].push_back(p.view("loss").f32()[0]);
    }
    EXPECT_GT(arena.arena().committed_bytes(), 0);
    EXPECT_LE(arena.arena().committed_bytes(), reserved);
  }
  ASSERT_EQ(losses[0].size(), losses[1].size());
  for (size_t i = 0; i < losses[0].size(); ++i) {
    EXPECT_TRUE(std::isfinite(losses[0][i]));
    EXPECT_EQ(std::memcmp(&losses[0][i], &losses[1][i], sizeof(float)), 0)
        << "step " << i << ": " << losses[0][i] << " vs " << losses[1][i];
  }
}

TEST(SharedArenaTest, GrowsUnderEachModeIntoAFreshZeroBlockReleasingTheOld) {
  for (const memory::AllocatorMode mode :
       {memory::AllocatorMode::kPreallocate, memory::AllocatorMode::kGrow}) {
    SCOPED_TRACE(memory::allocator_mode_name(mode));
    const auto allocator = make_allocator(mode, 4 * kMiB);
    SharedArena arena(allocator);
    EXPECT_EQ(arena.allocator(), allocator);
    arena.reserve(kMiB, "small step");
    std::memset(arena.base(), 0xcd, kMiB);
    arena.reserve(4 * kMiB, "large step");  // 1 + 4 MiB > limit: the old block goes first
    EXPECT_EQ(arena.bytes(), 4 * kMiB);
    EXPECT_EQ(allocator->held_bytes(), 4 * kMiB);
    if (mode == memory::AllocatorMode::kGrow) {
      EXPECT_EQ(arena.arena().committed_bytes(), 0) << "nothing copied, nothing touched";
    } else {
      EXPECT_EQ(arena.arena().committed_bytes(), 4 * kMiB);
    }
    EXPECT_TRUE(all_zero(arena.base(), arena.bytes()));
    std::byte* const base = arena.base();
    arena.reserve(2 * kMiB, "smaller step");
    EXPECT_EQ(arena.base(), base);
    EXPECT_EQ(arena.bytes(), 4 * kMiB);
  }
}

TEST(SharedArenaTest, DefaultsToTheDefaultAllocator) {
  SharedArena arena;
  EXPECT_EQ(arena.allocator(), memory::Allocator::default_allocator());
  arena.reserve(100);
  EXPECT_EQ(arena.arena().committed_bytes(), 128);
  EXPECT_EQ(arena.arena().what(), "step arena");
}

TEST(PersistentStoreTest, LimitSmallerThanTheBlockFailsNamingTheKindsItHolds) {
  const auto allocator = make_allocator(memory::AllocatorMode::kPreallocate, 4 * kKiB);
  PersistentStore store(allocator);
  store.declare("dense/kernel", {Shape{32, 16}, DType::kF32}, ValueKind::kParameter);
  store.declare("dense/kernel/grad", {Shape{32, 16}, DType::kF32}, ValueKind::kGradient);
  store.declare("dense/kernel/m", {Shape{32, 16}, DType::kF32}, ValueKind::kOptimizerState);
  store.declare("bn/moving_mean", {Shape{16}, DType::kF32}, ValueKind::kState);
  const int64_t bytes = 3 * 32 * 16 * 4 + 16 * 4;  // each already a multiple of 64
  const std::string message = out_of_budget_message([&] { store.allocate(); });
  EXPECT_EQ(message.rfind("persistent block (parameters, gradients, optimizer state, batch-norm "
                          "statistics) needs ",
                          0),
            0u)
      << message;
  EXPECT_NE(message.find(std::to_string(bytes) + " bytes"), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(4 * kKiB) + " bytes"), std::string::npos) << message;
  EXPECT_FALSE(store.allocated());
}

TEST(PersistentStoreTest, BlockIsZeroInEitherModeAndGrowCommitsOnWrite) {
  for (const memory::AllocatorMode mode :
       {memory::AllocatorMode::kPreallocate, memory::AllocatorMode::kGrow}) {
    SCOPED_TRACE(memory::allocator_mode_name(mode));
    const auto allocator = make_allocator(mode);
    PersistentStore store(allocator);
    store.declare("big", {Shape{256, 1024}, DType::kF32}, ValueKind::kParameter);  // 1 MiB
    store.declare("small", {Shape{3}, DType::kF32}, ValueKind::kParameter);
    store.allocate();
    EXPECT_EQ(store.allocator(), allocator);
    EXPECT_EQ(allocator->held_bytes(), kMiB + 64);
    const int64_t committed = store.arena().committed_bytes();
    EXPECT_EQ(committed, mode == memory::AllocatorMode::kGrow ? 0 : kMiB + 64);
    const TensorView big = store.view("big");
    big.f32()[0] = 1.0f;  // one page written
    if (mode == memory::AllocatorMode::kGrow) {
      EXPECT_GT(store.arena().committed_bytes(), 0);
      EXPECT_LT(store.arena().committed_bytes(), kMiB / 2);
    }
    EXPECT_TRUE(all_zero(big.f32() + 1, big.bytes() - 4));
    EXPECT_TRUE(all_zero(store.view("small").data, 12));
  }
}

}  // namespace
}  // namespace leantrain::runtime

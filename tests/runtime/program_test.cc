#include "leantrain/runtime/program.h"

#include <gtest/gtest.h>

#include <cmath>

#include "leantrain/graph/autodiff.h"
#include "ops/ops.h"
#include "testing/testing.h"

namespace leantrain::runtime {
namespace {

using graph::ValueId;
using graph::ValueKind;

graph::Graph small_training_graph(int64_t batch) {
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
  const ValueId labels = g.add_value("labels", {Shape{batch}, DType::kI32}, ValueKind::kInput);
  const ValueId loss =
      g.add(ops::softmax_cross_entropy(), {y, labels}, "loss", graph::Phase::kLoss);
  g.value(loss).is_output = true;
  for (const auto& [param, grad] : graph::add_backward(g, loss, ops::add(), ops::copy())) {
    g.add_node(ops::sgd_update(0.0f, false), {param, grad}, g.value(param).name + "/update",
               graph::Phase::kUpdate);
  }
  return g;
}

PersistentStore make_store(const graph::Graph& g) {
  PersistentStore store;
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

}  // namespace
}  // namespace leantrain::runtime

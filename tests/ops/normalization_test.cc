// The Normalization op: its input gradient through autodiff and the compiled program (reference
// and fast kernels) with mean and variance as non-trainable state, its forward values in the
// program, backward written over the incoming gradient, the declared memory facts, the error for
// trainable statistics and shape errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/graph/autodiff.h"
#include "leantrain/runtime/program.h"
#include "ops/ops.h"
#include "testing/testing.h"

namespace leantrain {
namespace {

using graph::KernelChoice;
using graph::ValueId;
using graph::ValueKind;

// x (a parameter, optionally through tanh so that its gradient is a step-local tensor) ->
// normalization(x, mean, variance) with mean and variance as state -> flattened -> softmax
// cross-entropy against fixed labels. Checks x's gradient against central differences and calls
// `inspect` on the program after one run.
void check_gradient(const Shape& x_shape, KernelChoice choice, bool through_tanh,
                    const std::function<void(runtime::Program&)>& inspect = nullptr) {
  const int64_t c = x_shape.dim(-1);
  graph::Graph g;
  ValueId x = g.add_value("x", {x_shape, DType::kF32}, ValueKind::kParameter);
  if (through_tanh) {
    x = g.add(ops::activation(ops::ActivationKind::kTanh), {x}, "t", graph::Phase::kForward);
  }
  const ValueId mean = g.add_value("mean", {Shape{c}, DType::kF32}, ValueKind::kState);
  const ValueId variance = g.add_value("variance", {Shape{c}, DType::kF32}, ValueKind::kState);
  const ValueId y = g.add(ops::normalization(), {x, mean, variance}, "op", graph::Phase::kForward);
  const int64_t batch = x_shape[0], width = x_shape.num_elements() / batch;
  const ValueId flat = g.add(ops::reshape(Shape{width}), {y}, "flat", graph::Phase::kForward);
  const ValueId labels = g.add_value("labels", {Shape{batch}, DType::kI32}, ValueKind::kInput);
  const ValueId loss =
      g.add(ops::softmax_cross_entropy(), {flat, labels}, "loss", graph::Phase::kLoss);
  g.value(loss).is_output = true;
  graph::add_backward(g, loss, ops::add(), ops::copy());

  runtime::PersistentStore store;
  for (const graph::Value& v : g.values()) {
    if (graph::is_persistent(v.kind)) store.declare(v.name, v.spec, v.kind);
  }
  store.allocate();
  EXPECT_FALSE(store.contains("mean/grad"));
  EXPECT_FALSE(store.contains("variance/grad"));
  std::vector<float> xv = testing::random_floats(x_shape.num_elements(), 1);
  const std::vector<float> mv = testing::random_floats(c, 2);
  const std::vector<float> vv = testing::random_floats(c, 3, 0.1f, 3.0f);
  std::copy(mv.begin(), mv.end(), store.view("mean").f32());
  std::copy(vv.begin(), vv.end(), store.view("variance").f32());
  runtime::SharedArena arena;
  runtime::Program program(std::move(g), store, arena, {.choice = choice});
  ASSERT_TRUE(program.all_pointers_inside());
  const std::vector<int32_t> label_values =
      testing::random_labels(batch, static_cast<int32_t>(width), 7);
  const graph::StepState state{1, 0.0f, 42};
  auto run = [&]() -> double {
    std::copy(xv.begin(), xv.end(), store.view("x").f32());
    std::copy(label_values.begin(), label_values.end(), program.view("labels").i32());
    program.run(state);
    return program.view("loss").f32()[0];
  };
  run();
  if (inspect) inspect(program);
  const TensorView gv = store.view("x/grad");
  const std::vector<float> analytic(gv.f32(), gv.f32() + gv.num_elements());
  EXPECT_TRUE(testing::gradient_check(run, {&xv}, {analytic}, 1e-2, 3e-2, 2e-4));
}

class NormalizationOpTest : public ::testing::TestWithParam<KernelChoice> {};

TEST_P(NormalizationOpTest, InputGradientMatchesCentralDifferences) {
  for (const Shape& s : {Shape{2, 3, 4, 3}, Shape{3, 5}, Shape{1, 2, 2, 7}}) {
    SCOPED_TRACE(s.to_string());
    check_gradient(s, GetParam(), false);
  }
}

TEST_P(NormalizationOpTest, BackwardWritesOverTheIncomingGradient) {
  check_gradient(Shape{2, 3, 3, 3}, GetParam(), true, [](runtime::Program& p) {
    EXPECT_EQ(p.view("op/bwd").data, p.view("flat/bwd").data);
  });
}

TEST_P(NormalizationOpTest, ForwardMatchesKerasFormulaInTheProgram) {
  // Inference graph: x (input) -> normalization -> output; mean (0.5, -1), variance (4, 0):
  // channel 0 is (x - 0.5) / 2, channel 1 (x + 1) / 1e-7 (the floored standard deviation).
  graph::Graph g;
  const ValueId x = g.add_value("x", {Shape{2, 2}, DType::kF32}, ValueKind::kInput);
  const ValueId mean = g.add_value("mean", {Shape{2}, DType::kF32}, ValueKind::kState);
  const ValueId variance = g.add_value("variance", {Shape{2}, DType::kF32}, ValueKind::kState);
  const ValueId y = g.add(ops::normalization(), {x, mean, variance}, "op", graph::Phase::kForward);
  g.value(y).is_output = true;
  runtime::PersistentStore store;
  store.declare("mean", g.value(mean).spec, ValueKind::kState);
  store.declare("variance", g.value(variance).spec, ValueKind::kState);
  store.allocate();
  store.view("mean").f32()[0] = 0.5f;
  store.view("mean").f32()[1] = -1.0f;
  store.view("variance").f32()[0] = 4.0f;
  store.view("variance").f32()[1] = 0.0f;
  runtime::SharedArena arena;
  runtime::Program program(std::move(g), store, arena, {.choice = GetParam()});
  const std::vector<float> in = {2.5f, -1.0f, -1.5f, -0.9999f};
  std::copy(in.begin(), in.end(), program.view("x").f32());
  program.run(graph::StepState{});
  const float* out = program.view("op").f32();
  EXPECT_FLOAT_EQ(out[0], 1.0f);
  EXPECT_FLOAT_EQ(out[1], 0.0f);
  EXPECT_FLOAT_EQ(out[2], -1.0f);
  EXPECT_NEAR(out[3], (-0.9999f + 1.0f) / 1e-7f, 5.0);  // about 1000
}

INSTANTIATE_TEST_SUITE_P(Kernels, NormalizationOpTest,
                         ::testing::Values(KernelChoice::kReference, KernelChoice::kFast),
                         [](const auto& info) {
                           return info.param == KernelChoice::kFast ? "Fast" : "Reference";
                         });

TEST(NormalizationOpFactsTest, KeepsOnlyTheVarianceAndRunsInPlace) {
  const graph::SavedForBackward saved = ops::normalization()->saved_for_backward();
  EXPECT_EQ(saved.inputs, (std::vector<int>{2}));
  EXPECT_TRUE(saved.outputs.empty());
  EXPECT_EQ(ops::normalization()->inplace_input(), 0);
}

TEST(NormalizationOpFactsTest, TrainableStatisticsAreAnError) {
  graph::Graph g;
  const ValueId x = g.add_value("x", {Shape{2, 3}, DType::kF32}, ValueKind::kParameter);
  const ValueId mean = g.add_value("mean", {Shape{3}, DType::kF32}, ValueKind::kParameter);
  const ValueId variance = g.add_value("variance", {Shape{3}, DType::kF32}, ValueKind::kState);
  const ValueId y = g.add(ops::normalization(), {x, mean, variance}, "op", graph::Phase::kForward);
  const ValueId labels = g.add_value("labels", {Shape{2}, DType::kI32}, ValueKind::kInput);
  const ValueId loss =
      g.add(ops::softmax_cross_entropy(), {y, labels}, "loss", graph::Phase::kLoss);
  try {
    graph::add_backward(g, loss, ops::add(), ops::copy());
    FAIL() << "a trainable mean must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_NE(std::string(e.what()).find("non-trainable"), std::string::npos) << e.what();
  }
}

TEST(NormalizationOpFactsTest, RejectsStatisticsOfTheWrongShape) {
  graph::Graph g;
  const ValueId x = g.add_value("x", {Shape{2, 4, 4, 3}, DType::kF32}, ValueKind::kInput);
  const ValueId m3 = g.add_value("m3", {Shape{3}, DType::kF32}, ValueKind::kState);
  const ValueId m4 = g.add_value("m4", {Shape{4}, DType::kF32}, ValueKind::kState);
  try {
    g.add(ops::normalization(), {x, m3, m4}, "op", graph::Phase::kForward);
    FAIL() << "a variance of 4 channels for a 3-channel input must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("variance"), std::string::npos) << e.what();
  }
  const ValueId v = g.add_value("v", {Shape{3}, DType::kF32}, ValueKind::kInput);
  EXPECT_THROW(g.add(ops::normalization(), {v, m3, m3}, "op1", graph::Phase::kForward), Error);
}

}  // namespace
}  // namespace leantrain

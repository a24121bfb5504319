// ZeroPadding2D and Concatenate: gradients through autodiff and the compiled program (reference
// and fast kernels), their backward writing over the incoming gradient when the planner allows,
// the split made only for inputs that need a gradient, and shape errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/graph/autodiff.h"
#include "ops/ops.h"
#include "ops/program_gradient_check.h"
#include "testing/testing.h"

namespace leantrain {
namespace {

using graph::KernelChoice;
using graph::ValueKind;
using testing::check_program_gradient;
using testing::ProgramGradientCase;

// Expects values `a` and `b` of `program` to share their first byte (one written over the other).
void expect_same_bytes(runtime::Program& program, const std::string& a, const std::string& b) {
  EXPECT_EQ(program.view(a).data, program.view(b).data) << a << " and " << b;
}

class ShapeOpsGradientTest : public ::testing::TestWithParam<KernelChoice> {};

TEST_P(ShapeOpsGradientTest, ZeroPaddingMatchesCentralDifferences) {
  const std::vector<ProgramGradientCase> cases = {
      {"pad all sides", ops::zero_pad2d(1, 1, 1, 1), {{2, 3, 4, 2}}},
      {"pad bottom-right only", ops::zero_pad2d(0, 2, 0, 1), {{1, 5, 3, 3}}},
      {"pad top of a 1x1 image", ops::zero_pad2d(3, 0, 0, 0), {{2, 1, 1, 1}}},
      {"no padding", ops::zero_pad2d(0, 0, 0, 0), {{1, 2, 3, 2}}},
  };
  for (const ProgramGradientCase& c : cases) check_program_gradient(c, GetParam());
}

TEST_P(ShapeOpsGradientTest, ZeroPaddingBackwardCropsInPlace) {
  const ProgramGradientCase c{
      "pad through tanh", ops::zero_pad2d(2, 1, 1, 3), {{2, 3, 4, 3}}, nullptr, true};
  check_program_gradient(c, GetParam(),
                         [](runtime::Program& p) { expect_same_bytes(p, "op/bwd", "flat/bwd"); });
}

TEST_P(ShapeOpsGradientTest, ConcatenateMatchesCentralDifferences) {
  const std::vector<ProgramGradientCase> cases = {
      {"two images", ops::concat(2), {{2, 3, 2, 3}, {2, 3, 2, 1}}},
      {"three images, odd channels", ops::concat(3), {{1, 2, 3, 1}, {1, 2, 3, 4}, {1, 2, 3, 2}}},
      {"rank 2", ops::concat(2), {{3, 5}, {3, 2}}},
  };
  for (const ProgramGradientCase& c : cases) check_program_gradient(c, GetParam());
}

TEST_P(ShapeOpsGradientTest, ConcatenateBackwardSplitsInPlace) {
  const ProgramGradientCase c{"concat through tanh",
                              ops::concat(3),
                              {{2, 2, 3, 2}, {2, 2, 3, 3}, {2, 2, 3, 1}},
                              nullptr,
                              true};
  check_program_gradient(c, GetParam(),
                         [](runtime::Program& p) { expect_same_bytes(p, "op/bwd:0", "flat/bwd"); });
}

INSTANTIATE_TEST_SUITE_P(Kernels, ShapeOpsGradientTest,
                         ::testing::Values(KernelChoice::kReference, KernelChoice::kFast),
                         [](const auto& info) {
                           return info.param == KernelChoice::kFast ? "Fast" : "Reference";
                         });

TEST(ShapeOpsTest, ConcatenateSlicesOnlyInputsThatNeedGradients) {
  // x0 is an input (no gradient), x1 and x2 parameters: the backward node has two outputs, the
  // channels of x1 (offset 1) and of x2 (offset 4).
  graph::Graph g;
  const auto x0 = g.add_value("x0", {Shape{2, 1}, DType::kF32}, ValueKind::kInput);
  const auto x1 = g.add_value("x1", {Shape{2, 3}, DType::kF32}, ValueKind::kParameter);
  const auto x2 = g.add_value("x2", {Shape{2, 2}, DType::kF32}, ValueKind::kParameter);
  const auto y = g.add(ops::concat(3), {x0, x1, x2}, "op", graph::Phase::kForward);
  const auto labels = g.add_value("labels", {Shape{2}, DType::kI32}, ValueKind::kInput);
  const auto loss = g.add(ops::softmax_cross_entropy(), {y, labels}, "loss", graph::Phase::kLoss);
  const auto grads = graph::add_backward(g, loss, ops::add(), ops::copy());
  EXPECT_EQ(grads.size(), 2u);
  const graph::Node* split = nullptr;
  for (const graph::Node& n : g.nodes()) {
    if (n.op->type() == "ConcatenateBackward") split = &n;
  }
  ASSERT_NE(split, nullptr);
  ASSERT_EQ(split->outputs.size(), 2u);
  EXPECT_EQ(g.value(split->outputs[0]).spec.shape, (Shape{2, 3}));
  EXPECT_EQ(g.value(split->outputs[1]).spec.shape, (Shape{2, 2}));

  // The slices are the right channels of d loss / d logits = (softmax(logits) - onehot) / N,
  // logits row n = [x0[n], x1[n, :], x2[n, :]]: columns 1..3 go to x1, 4..5 to x2.
  runtime::PersistentStore store;
  for (const graph::Value& v : g.values()) {
    if (graph::is_persistent(v.kind)) store.declare(v.name, v.spec, v.kind);
  }
  store.allocate();
  const std::vector<float> v0 = {0.5f, -0.5f};
  const std::vector<float> v1 = testing::random_floats(6, 1), v2 = testing::random_floats(4, 2);
  const std::vector<int32_t> label_values = {2, 5};
  std::copy(v1.begin(), v1.end(), store.view("x1").f32());
  std::copy(v2.begin(), v2.end(), store.view("x2").f32());
  runtime::SharedArena arena;
  runtime::Program program(std::move(g), store, arena, {.choice = KernelChoice::kReference});
  std::copy(v0.begin(), v0.end(), program.view("x0").f32());
  std::copy(label_values.begin(), label_values.end(), program.view("labels").i32());
  program.run(graph::StepState{});
  const float* g1 = store.view("x1/grad").f32();
  const float* g2 = store.view("x2/grad").f32();
  for (size_t n = 0; n < 2; ++n) {
    const std::vector<double> logits = {v0[n],         v1[n * 3], v1[n * 3 + 1],
                                        v1[n * 3 + 2], v2[n * 2], v2[n * 2 + 1]};
    double total = 0.0;
    for (double z : logits) total += std::exp(z);
    std::vector<double> expected(6);
    for (size_t c = 0; c < 6; ++c) {
      expected[c] =
          (std::exp(logits[c]) / total - (static_cast<int32_t>(c) == label_values[n])) / 2;
    }
    for (size_t c = 0; c < 3; ++c)
      EXPECT_NEAR(g1[n * 3 + c], expected[1 + c], 1e-6) << n << ", " << c;
    for (size_t c = 0; c < 2; ++c)
      EXPECT_NEAR(g2[n * 2 + c], expected[4 + c], 1e-6) << n << ", " << c;
  }
}

TEST(ShapeOpsTest, DeclareNothingSavedAndInPlaceBackward) {
  EXPECT_TRUE(ops::zero_pad2d(1, 2, 3, 4)->saved_for_backward().inputs.empty());
  EXPECT_TRUE(ops::concat(2)->saved_for_backward().inputs.empty());
  EXPECT_EQ(ops::zero_pad2d(1, 2, 3, 4)->inplace_input(), -1);  // output larger than input
}

TEST(ShapeOpsTest, RejectBadAttributesAndShapes) {
  EXPECT_THROW(ops::zero_pad2d(-1, 0, 0, 0), Error);
  EXPECT_THROW(ops::concat(1), Error);
  graph::Graph g;
  const auto image = g.add_value("image", {Shape{2, 4, 4, 3}, DType::kF32}, ValueKind::kInput);
  const auto other = g.add_value("other", {Shape{2, 4, 5, 3}, DType::kF32}, ValueKind::kInput);
  const auto flat = g.add_value("flat", {Shape{2, 48}, DType::kF32}, ValueKind::kInput);
  try {
    g.add(ops::concat(2), {image, other}, "cat", graph::Phase::kForward);
    FAIL() << "concatenating (2, 4, 4, 3) and (2, 4, 5, 3) must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("(2, 4, 5, 3)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(g.add(ops::concat(2), {image, flat}, "cat2", graph::Phase::kForward), Error);
  EXPECT_THROW(g.add(ops::zero_pad2d(1, 1, 1, 1), {flat}, "pad", graph::Phase::kForward), Error);
}

}  // namespace
}  // namespace leantrain

// Resizing (bilinear): values through a compiled program worked out by hand, gradients through
// autodiff and the compiled program (reference and fast kernels), and attribute and shape errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "ops/ops.h"
#include "ops/program_gradient_check.h"

namespace leantrain {
namespace {

using graph::KernelChoice;
using graph::ValueKind;
using testing::check_program_gradient;
using testing::ProgramGradientCase;

class ResizingOpTest : public ::testing::TestWithParam<KernelChoice> {};

TEST_P(ResizingOpTest, UpsamplesByHandWorkedValues) {
  // Two channels: channel 0 = [[1, 2], [3, 4]], channel 1 = its negation. Per axis the outputs
  // weigh the inputs (1, 0), (3/4, 1/4), (1/4, 3/4), (0, 1) (half-pixel centers, edges clamped).
  graph::Graph g;
  const auto x = g.add_value("x", {Shape{1, 2, 2, 2}, DType::kF32}, ValueKind::kInput);
  const auto y = g.add(ops::resize_bilinear(4, 4), {x}, "resize", graph::Phase::kForward);
  g.value(y).is_output = true;
  EXPECT_EQ(g.value(y).spec.shape, (Shape{1, 4, 4, 2}));
  runtime::PersistentStore store;
  store.allocate();
  runtime::SharedArena arena;
  runtime::Program program(std::move(g), store, arena, {.choice = GetParam()});
  const std::vector<float> src = {1, -1, 2, -2, 3, -3, 4, -4};
  std::copy(src.begin(), src.end(), program.view("x").f32());
  program.run(graph::StepState{});
  const std::vector<float> expected = {1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f,
                                       2.5f, 2.75f, 3.25f, 3.5f, 3.0f, 3.25f, 3.75f, 4.0f};
  const float* out = program.view("resize").f32();
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(out[2 * i], expected[i], 1e-6) << i;
    EXPECT_NEAR(out[2 * i + 1], -expected[i], 1e-6) << i;
  }
}

TEST_P(ResizingOpTest, GradientMatchesCentralDifferences) {
  const std::vector<ProgramGradientCase> cases = {
      {"upsample 2x3 to 5x4", ops::resize_bilinear(5, 4), {{2, 2, 3, 2}}},
      {"downsample 6x5 to 3x2", ops::resize_bilinear(3, 2), {{1, 6, 5, 3}}},
      {"one axis up, one down", ops::resize_bilinear(2, 7), {{2, 4, 3, 1}}},
      {"through tanh", ops::resize_bilinear(3, 3), {{1, 4, 2, 2}}, nullptr, true},
  };
  for (const ProgramGradientCase& c : cases) check_program_gradient(c, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Kernels, ResizingOpTest,
                         ::testing::Values(KernelChoice::kReference, KernelChoice::kFast),
                         [](const auto& info) {
                           return info.param == KernelChoice::kFast ? "Fast" : "Reference";
                         });

TEST(ResizingOpErrorsTest, RejectsEmptySizesAndNonImages) {
  EXPECT_THROW(ops::resize_bilinear(0, 4), Error);
  EXPECT_THROW(ops::resize_bilinear(4, -1), Error);
  EXPECT_TRUE(ops::resize_bilinear(4, 4)->saved_for_backward().inputs.empty());
  graph::Graph g;
  const auto flat = g.add_value("flat", {Shape{2, 12}, DType::kF32}, ValueKind::kInput);
  EXPECT_THROW(g.add(ops::resize_bilinear(4, 4), {flat}, "resize", graph::Phase::kForward), Error);
}

}  // namespace
}  // namespace leantrain

// Multiply (including the squeeze-and-excitation gate) and Rescaling: gradients through autodiff
// and the compiled program (reference and fast kernels), the input gradient written over the
// incoming gradient when the planner allows, declared memory facts, and shape errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
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

class MultiplyOpGradientTest : public ::testing::TestWithParam<KernelChoice> {};

TEST_P(MultiplyOpGradientTest, MatchesCentralDifferences) {
  const std::vector<ProgramGradientCase> cases = {
      {"same shape, rank 2", ops::multiply(), {{3, 4}, {3, 4}}},
      {"same shape, rank 4", ops::multiply(), {{2, 3, 2, 3}, {2, 3, 2, 3}}},
      {"squeeze-and-excitation gate", ops::multiply(), {{2, 3, 5, 4}, {2, 1, 1, 4}}},
      {"gate on a 1x1 image (same shape)", ops::multiply(), {{2, 1, 1, 3}, {2, 1, 1, 3}}},
      {"rescaling", ops::rescale(-0.7f, 0.25f), {{2, 3, 4}}},
  };
  for (const ProgramGradientCase& c : cases) check_program_gradient(c, GetParam());
}

TEST_P(MultiplyOpGradientTest, InputGradientOverwritesIncomingGradient) {
  // After the scale gradient has read dy, dx = dy * s may take dy's bytes; Rescaling's backward
  // likewise.
  const ProgramGradientCase gate{
      "gate through tanh", ops::multiply(), {{2, 3, 4, 5}, {2, 1, 1, 5}}, nullptr, true};
  check_program_gradient(gate, GetParam(), [](runtime::Program& p) {
    EXPECT_EQ(p.view("op/bwd_data").data, p.view("flat/bwd").data);
  });
  const ProgramGradientCase same{
      "same shape through tanh", ops::multiply(), {{3, 7}, {3, 7}}, nullptr, true};
  check_program_gradient(same, GetParam(), [](runtime::Program& p) {
    EXPECT_EQ(p.view("op/bwd_data").data, p.view("flat/bwd").data);
  });
  const ProgramGradientCase rescale{
      "rescaling through tanh", ops::rescale(2.5f, -1.0f), {{2, 3, 3, 2}}, nullptr, true};
  check_program_gradient(rescale, GetParam(), [](runtime::Program& p) {
    EXPECT_EQ(p.view("op/bwd").data, p.view("flat/bwd").data);
  });
}

INSTANTIATE_TEST_SUITE_P(Kernels, MultiplyOpGradientTest,
                         ::testing::Values(KernelChoice::kReference, KernelChoice::kFast),
                         [](const auto& info) {
                           return info.param == KernelChoice::kFast ? "Fast" : "Reference";
                         });

TEST(MultiplyOpTest, DeclaresWhatBackwardReadsAndInPlace) {
  const graph::SavedForBackward saved = ops::multiply()->saved_for_backward();
  EXPECT_EQ(saved.inputs, (std::vector<int>{0, 1}));
  EXPECT_TRUE(saved.outputs.empty());
  EXPECT_EQ(ops::multiply()->inplace_input(), 0);
  EXPECT_TRUE(ops::rescale(2.0f, 1.0f)->saved_for_backward().inputs.empty());
  EXPECT_EQ(ops::rescale(2.0f, 1.0f)->inplace_input(), 0);
}

TEST(MultiplyOpTest, RescalingRunsInPlaceWhenItsInputDies) {
  // Forward only: the input image is read by Rescaling alone, so y may take its bytes.
  graph::Graph g;
  const auto x = g.add_value("x", {Shape{2, 4, 4, 3}, DType::kF32}, ValueKind::kInput);
  const auto y = g.add(ops::rescale(1.0f / 255.0f, 0.0f), {x}, "rescale", graph::Phase::kForward);
  const auto z =
      g.add(ops::activation(ops::ActivationKind::kRelu), {y}, "relu", graph::Phase::kForward);
  g.value(z).is_output = true;
  runtime::PersistentStore store;
  store.allocate();
  runtime::SharedArena arena;
  runtime::Program program(std::move(g), store, arena, {.choice = KernelChoice::kFast});
  EXPECT_EQ(program.view("rescale").data, program.view("x").data);
  float* in = program.view("x").f32();
  for (int i = 0; i < 96; ++i) in[i] = static_cast<float>(i);
  program.run(graph::StepState{});
  const float* out = program.view("relu").f32();
  for (int i = 0; i < 96; ++i) EXPECT_FLOAT_EQ(out[i], static_cast<float>(i) / 255.0f) << i;
}

TEST(MultiplyOpTest, RejectsShapesThatDoNotBroadcast) {
  graph::Graph g;
  const auto x = g.add_value("x", {Shape{2, 4, 4, 3}, DType::kF32}, ValueKind::kInput);
  const auto wrong_channels =
      g.add_value("s1", {Shape{2, 1, 1, 4}, DType::kF32}, ValueKind::kInput);
  const auto batch_of_one = g.add_value("s2", {Shape{1, 1, 1, 3}, DType::kF32}, ValueKind::kInput);
  const auto row = g.add_value("s3", {Shape{2, 1, 4, 3}, DType::kF32}, ValueKind::kInput);
  for (const auto s : {wrong_channels, batch_of_one, row}) {
    try {
      g.add(ops::multiply(), {x, s}, g.unique_name("mul"), graph::Phase::kForward);
      ADD_FAILURE() << "multiplying (2, 4, 4, 3) by " << g.value(s).spec.shape.to_string();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("(N, 1, 1, C)"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(ops::rescale(std::numeric_limits<float>::quiet_NaN(), 0.0f), Error);
  EXPECT_THROW(ops::rescale(1.0f, std::numeric_limits<float>::infinity()), Error);
}

}  // namespace
}  // namespace leantrain

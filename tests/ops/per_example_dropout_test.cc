// The per-example Dropout op (noise_shape=(None, 1, 1, 1)): its gradient through autodiff and the
// compiled program (reference and fast kernels), whole examples kept or dropped in the program,
// masks that change with the step and agree between kernels, backward in place, memory facts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "ops/ops.h"
#include "ops/program_gradient_check.h"
#include "testing/testing.h"

namespace leantrain {
namespace {

using graph::KernelChoice;
using graph::ValueId;
using graph::ValueKind;
using testing::check_program_gradient;
using testing::ProgramGradientCase;

class PerExampleDropoutOpTest : public ::testing::TestWithParam<KernelChoice> {};

TEST_P(PerExampleDropoutOpTest, MatchesCentralDifferences) {
  const std::vector<ProgramGradientCase> cases = {
      {"images", ops::per_example_dropout(0.5f, 3), {{6, 2, 2, 3}}},
      {"rank 2, low rate", ops::per_example_dropout(0.1f, 4), {{5, 7}}},
  };
  for (const ProgramGradientCase& c : cases) check_program_gradient(c, GetParam());
}

TEST_P(PerExampleDropoutOpTest, BackwardWritesOverTheIncomingGradient) {
  const ProgramGradientCase c{
      "through tanh", ops::per_example_dropout(0.3f, 5), {{4, 3, 3, 2}}, nullptr, true};
  check_program_gradient(c, GetParam(), [](runtime::Program& p) {
    EXPECT_EQ(p.view("op/bwd").data, p.view("flat/bwd").data);
  });
}

INSTANTIATE_TEST_SUITE_P(Kernels, PerExampleDropoutOpTest,
                         ::testing::Values(KernelChoice::kReference, KernelChoice::kFast),
                         [](const auto& info) {
                           return info.param == KernelChoice::kFast ? "Fast" : "Reference";
                         });

// Runs x (16, 3, 3, 4) -> per-example dropout(0.5) for `iterations` steps with one kernel choice;
// returns the outputs of each step.
std::vector<std::vector<float>> forward_steps(KernelChoice choice, int iterations,
                                              const std::vector<float>& x) {
  graph::Graph g;
  const ValueId in = g.add_value("x", {Shape{16, 3, 3, 4}, DType::kF32}, ValueKind::kInput);
  const ValueId y = g.add(ops::per_example_dropout(0.5f, 77), {in}, "op", graph::Phase::kForward);
  g.value(y).is_output = true;
  runtime::PersistentStore store;
  store.allocate();
  runtime::SharedArena arena;
  runtime::Program program(std::move(g), store, arena, {.choice = choice});
  std::vector<std::vector<float>> out;
  for (int it = 1; it <= iterations; ++it) {
    std::copy(x.begin(), x.end(), program.view("x").f32());
    program.run(graph::StepState{it, 0.0f, 9});
    const TensorView v = program.view("op");
    out.emplace_back(v.f32(), v.f32() + v.num_elements());
  }
  return out;
}

TEST(PerExampleDropoutOpFactsTest, WholeExamplesDropAndMasksChangeWithTheStep) {
  const std::vector<float> x = testing::random_floats(16 * 36, 1, 0.5f, 1.5f);  // never zero
  const auto reference = forward_steps(KernelChoice::kReference, 3, x);
  const auto fast = forward_steps(KernelChoice::kFast, 3, x);
  std::vector<std::vector<bool>> masks;
  for (size_t step = 0; step < reference.size(); ++step) {
    EXPECT_EQ(reference[step], fast[step]) << "step " << step + 1;
    std::vector<bool> kept;
    for (int64_t b = 0; b < 16; ++b) {
      const float* y = reference[step].data() + b * 36;
      const bool first_kept = y[0] != 0.0f;
      for (int64_t i = 0; i < 36; ++i) {
        if (first_kept) {
          ASSERT_FLOAT_EQ(y[i], x[static_cast<size_t>(b * 36 + i)] / 0.5f);
        } else {
          ASSERT_EQ(y[i], 0.0f) << "example " << b << " is dropped as a whole";
        }
      }
      kept.push_back(first_kept);
    }
    masks.push_back(kept);
  }
  // 16 fair draws per step: three identical masks would be a 2^-32 coincidence.
  EXPECT_FALSE(masks[0] == masks[1] && masks[1] == masks[2]);
}

TEST(PerExampleDropoutOpFactsTest, KeepsNothingAndRunsInPlace) {
  const ops::OpPtr op = ops::per_example_dropout(0.2f, 1);
  EXPECT_TRUE(op->saved_for_backward().inputs.empty());
  EXPECT_TRUE(op->saved_for_backward().outputs.empty());
  EXPECT_EQ(op->inplace_input(), 0);
  EXPECT_THROW(ops::per_example_dropout(1.0f, 1), Error);
  EXPECT_THROW(ops::per_example_dropout(-0.1f, 1), Error);
}

}  // namespace
}  // namespace leantrain

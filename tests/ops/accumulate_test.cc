// Accumulate: dst += alpha * src in place, the declared memory facts, and refused shapes.
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "leantrain/core/error.h"
#include "ops/ops.h"
#include "testing/testing.h"

namespace leantrain {
namespace {

using graph::KernelChoice;
using graph::TensorSpec;

TEST(AccumulateOpTest, AddsScaledSourceInPlace) {
  const std::vector<TensorSpec> specs = {{Shape{3, 5}, DType::kF32}, {Shape{3, 5}, DType::kF32}};
  const ops::OpPtr op = ops::accumulate(0.25f);
  EXPECT_TRUE(op->infer(specs).empty());
  EXPECT_EQ(op->mutated_inputs(), std::vector<int>{0});
  std::vector<float> dst = testing::random_floats(15, 11);
  const std::vector<float> src = testing::random_floats(15, 12);
  const std::vector<float> before = dst;
  for (const KernelChoice choice : {KernelChoice::kReference, KernelChoice::kFast}) {
    dst = before;
    auto kernel = op->compile(specs, {}, {.choice = choice});
    const std::vector<TensorView> in = {TensorView(dst.data(), Shape{3, 5}),
                                        TensorView(const_cast<float*>(src.data()), Shape{3, 5})};
    const graph::StepState state;
    kernel->run({.inputs = in, .outputs = {}, .state = &state});
    for (size_t i = 0; i < dst.size(); ++i) {
      EXPECT_FLOAT_EQ(dst[i], before[i] + 0.25f * src[i]) << i;
    }
  }
}

TEST(AccumulateOpTest, RefusesShapesThatDifferAndNonFiniteAlpha) {
  const std::vector<TensorSpec> specs = {{Shape{3, 5}, DType::kF32}, {Shape{5, 3}, DType::kF32}};
  EXPECT_THROW(ops::accumulate(1.0f)->infer(specs), Error);
  EXPECT_THROW(ops::accumulate(std::numeric_limits<float>::infinity()), Error);
}

}  // namespace
}  // namespace leantrain

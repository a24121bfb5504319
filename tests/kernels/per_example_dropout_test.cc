// Per-example dropout kernels: one draw per example (the documented dropout_keeps() with the
// example index), kept examples scaled by 1 / (1 - rate), about `rate` of the examples dropped,
// the gradient against central differences, the fast kernel bit for bit against the reference
// (outputs in NaN-prefilled guard bytes, examples straddling the parallel chunks), in place.
#include "kernels/per_example_dropout.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/dropout.h"
#include "testing/kernel_testing.h"
#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::GuardedFloats;
using testing::random_floats;

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// (examples, elements per example): one element, odd sizes, an example larger than a parallel
// chunk (16384), chunks that split examples (56 * 56 * 24 = 75264), a large batch.
struct Case {
  int64_t examples, per_example;
};
constexpr Case kCases[] = {{1, 1}, {5, 7}, {3, 20000}, {8, 56 * 56 * 24}, {64, 1000}, {1000, 3}};

TEST(PerExampleDropoutTest, OneDrawPerExampleScaledByTheKeepProbability) {
  const float rate = 0.4f;
  const int64_t examples = 50, per = 37;
  const std::vector<float> src = random_floats(examples * per, 1, 0.5f, 1.5f);  // never zero
  std::vector<float> dst(src.size());
  per_example_dropout_ref(77, rate, src.data(), dst.data(), examples, per);
  int64_t kept_examples = 0;
  for (int64_t b = 0; b < examples; ++b) {
    const bool kept = dropout_keeps(77, b, rate);
    kept_examples += kept;
    for (int64_t i = b * per; i < (b + 1) * per; ++i) {
      if (kept) {
        ASSERT_FLOAT_EQ(dst[i], src[i] / 0.6f) << "example " << b << " element " << i;
      } else {
        ASSERT_EQ(dst[i], 0.0f) << "example " << b << " element " << i;
      }
    }
  }
  EXPECT_GT(kept_examples, 0);
  EXPECT_LT(kept_examples, examples);
}

TEST(PerExampleDropoutTest, DropsAboutRateOfTheExamples) {
  const int64_t examples = 20000, per = 2;
  const std::vector<float> src = random_floats(examples * per, 2, 0.5f, 1.5f);
  std::vector<float> dst(src.size());
  per_example_dropout_ref(5, 0.2f, src.data(), dst.data(), examples, per);
  int64_t dropped = 0;
  for (int64_t b = 0; b < examples; ++b) dropped += dst[static_cast<size_t>(b * per)] == 0.0f;
  // Binomial(20000, 0.2): standard deviation 57 examples; allow about 3.5 of them.
  EXPECT_NEAR(static_cast<double>(dropped) / examples, 0.2, 0.01);
}

TEST(PerExampleDropoutTest, GradientMatchesCentralDifferences) {
  const int64_t examples = 6, per = 5;
  std::vector<float> x = random_floats(examples * per, 3);
  const std::vector<float> w = testing::loss_weights(examples * per, 4);
  std::vector<float> y(x.size());
  auto loss = [&] {
    per_example_dropout_ref(9, 0.5f, x.data(), y.data(), examples, per);
    return testing::weighted_sum(y, w);
  };
  int64_t kept = 0;
  for (int64_t b = 0; b < examples; ++b) kept += dropout_keeps(9, b, 0.5f);
  ASSERT_TRUE(kept > 0 && kept < examples) << "the draw should keep some examples, drop others";
  std::vector<float> dx(x.size());
  per_example_dropout_ref(9, 0.5f, w.data(), dx.data(), examples, per);  // backward: same mask
  EXPECT_TRUE(testing::gradient_check(loss, {&x}, {dx}));
}

TEST(PerExampleDropoutTest, FastMatchesReferenceBitForBit) {
  for (const Case& k : kCases) {
    SCOPED_TRACE(std::to_string(k.examples) + "x" + std::to_string(k.per_example));
    const int64_t n = k.examples * k.per_example;
    const std::vector<float> src = random_floats(n, 11, -3.0f, 3.0f);
    for (float rate : {0.0f, 0.0125f, 0.5f, 0.9f}) {
      std::vector<float> expected(src.size());
      per_example_dropout_ref(123, rate, src.data(), expected.data(), k.examples, k.per_example);
      GuardedFloats dst(n);
      per_example_dropout_fast(123, rate, src.data(), dst.data(), k.examples, k.per_example);
      EXPECT_TRUE(bitwise_equal(dst.values(), expected)) << "rate " << rate;
      EXPECT_TRUE(dst.buffer.guards_intact()) << "rate " << rate;
    }
  }
}

TEST(PerExampleDropoutTest, RunsInPlace) {
  const Case k{8, 56 * 56 * 24};
  const int64_t n = k.examples * k.per_example;
  const std::vector<float> src = random_floats(n, 21);
  std::vector<float> expected(src.size());
  per_example_dropout_ref(4, 0.3f, src.data(), expected.data(), k.examples, k.per_example);
  for (auto fn : {per_example_dropout_ref, per_example_dropout_fast}) {
    std::vector<float> buf = src;
    fn(4, 0.3f, buf.data(), buf.data(), k.examples, k.per_example);
    EXPECT_TRUE(bitwise_equal(buf, expected));
  }
}

}  // namespace
}  // namespace leantrain::kernels

// Normalization kernels: hand values (including the 1e-7 floor on the standard deviation), the
// reference gradient against central differences, the fast kernels against the reference with
// outputs in NaN-prefilled guard bytes and garbage scratch, and in-place runs.
#include "kernels/normalization.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "testing/kernel_testing.h"
#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::all_close;
using testing::garbage_scratch;
using testing::GuardedBuffer;
using testing::GuardedFloats;
using testing::random_floats;

// (rows, channels): a single element, odd shapes, the RGB input of a 224x224 batch of 2 (parallel
// path, a segment length of 258 that does not divide the array), channels past one segment.
struct Case {
  int64_t rows, c;
};
constexpr Case kCases[] = {
    {1, 1},    {7, 3}, {5, 1}, {13, 5}, {3, 300}, {9, 256}, {64, 32}, {1, 1024}, {2 * 224 * 224, 3},
    {4096, 40}};

std::vector<float> positive_variances(int64_t c, uint64_t seed) {
  return random_floats(c, seed, 0.05f, 4.0f);
}

TEST(NormalizationTest, ReferenceMatchesHandValues) {
  // Two channels: mean (1, -2), variance (4, 0.25) -> stddev (2, 0.5).
  const std::vector<float> x = {3, -2, 1, 0, -1, -1.5f};
  const std::vector<float> mean = {1, -2}, variance = {4, 0.25f};
  std::vector<float> y(6);
  normalization_fwd_ref(x.data(), mean.data(), variance.data(), y.data(), 3, 2);
  EXPECT_EQ(y, (std::vector<float>{1, 0, 0, 4, -1, 1}));
  std::vector<float> dx(6);
  normalization_bwd_ref(x.data(), variance.data(), dx.data(), 3, 2);
  EXPECT_EQ(dx, (std::vector<float>{1.5f, -4, 0.5f, 0, -0.5f, -3}));
  // Keras' defaults (mean 0, variance 1): the identity.
  const std::vector<float> zero = {0, 0}, one = {1, 1};
  normalization_fwd_ref(x.data(), zero.data(), one.data(), y.data(), 3, 2);
  EXPECT_EQ(y, x);
}

TEST(NormalizationTest, StandardDeviationIsFlooredAtKerasEpsilon) {
  // A zero (or tiny) variance divides by 1e-7 rather than by 0 or sqrt(variance).
  const std::vector<float> x = {2e-7f, 1.0f}, mean = {0, 0}, variance = {0, 1e-16f};
  std::vector<float> expected = {2e-7f / 1e-7f, 1.0f / 1e-7f};
  std::vector<float> y(2);
  normalization_fwd_ref(x.data(), mean.data(), variance.data(), y.data(), 1, 2);
  EXPECT_TRUE(all_close(y, expected, 1e-6, 0.0));
  std::vector<float> scratch(static_cast<size_t>(normalization_scratch_floats(2)));
  normalization_fwd_fast(x.data(), mean.data(), variance.data(), y.data(), 1, 2, scratch.data());
  EXPECT_TRUE(all_close(y, expected, 1e-6, 0.0));
  EXPECT_TRUE(std::isfinite(y[1]));
}

TEST(NormalizationTest, ReferenceGradientMatchesCentralDifferences) {
  for (const Case& k : kCases) {
    const int64_t n = k.rows * k.c;
    if (n > 3000) continue;  // central differences rerun the kernel per element
    SCOPED_TRACE(std::to_string(k.rows) + "x" + std::to_string(k.c));
    std::vector<float> x = random_floats(n, 1);
    const std::vector<float> mean = random_floats(k.c, 2), variance = positive_variances(k.c, 3);
    const std::vector<float> w = testing::loss_weights(n, 4);
    std::vector<float> y(x.size());
    auto loss = [&] {
      normalization_fwd_ref(x.data(), mean.data(), variance.data(), y.data(), k.rows, k.c);
      return testing::weighted_sum(y, w);
    };
    std::vector<float> dx(x.size());
    normalization_bwd_ref(w.data(), variance.data(), dx.data(), k.rows, k.c);
    EXPECT_TRUE(testing::gradient_check(loss, {&x}, {dx}));
  }
}

TEST(NormalizationTest, FastMatchesReference) {
  for (const Case& k : kCases) {
    SCOPED_TRACE(std::to_string(k.rows) + "x" + std::to_string(k.c));
    const int64_t n = k.rows * k.c;
    const std::vector<float> x = random_floats(n, 11, -3.0f, 3.0f);
    const std::vector<float> mean = random_floats(k.c, 12), variance = positive_variances(k.c, 13);
    std::vector<float> expected(x.size()), expected_dx(x.size());
    normalization_fwd_ref(x.data(), mean.data(), variance.data(), expected.data(), k.rows, k.c);
    normalization_bwd_ref(x.data(), variance.data(), expected_dx.data(), k.rows, k.c);
    const int64_t scratch_bytes = normalization_scratch_floats(k.c) * 4;

    GuardedFloats y(n), dx(n);
    GuardedBuffer scratch = garbage_scratch(scratch_bytes);
    normalization_fwd_fast(x.data(), mean.data(), variance.data(), y.data(), k.rows, k.c,
                           static_cast<float*>(scratch.data()));
    // Multiplying by the reciprocal instead of dividing: a few ulp.
    EXPECT_TRUE(all_close(y.values(), expected, 1e-6, 1e-6)) << "forward";
    EXPECT_TRUE(y.buffer.guards_intact()) << "forward dst";
    EXPECT_TRUE(scratch.guards_intact()) << "forward scratch";

    GuardedBuffer scratch2 = garbage_scratch(scratch_bytes);
    normalization_bwd_fast(x.data(), variance.data(), dx.data(), k.rows, k.c,
                           static_cast<float*>(scratch2.data()));
    EXPECT_TRUE(all_close(dx.values(), expected_dx, 1e-6, 1e-6)) << "backward";
    EXPECT_TRUE(dx.buffer.guards_intact()) << "backward diff_src";
    EXPECT_TRUE(scratch2.guards_intact()) << "backward scratch";
  }
}

TEST(NormalizationTest, RunsInPlace) {
  for (const Case& k : {Case{13, 5}, Case{2 * 224 * 224, 3}}) {
    const int64_t n = k.rows * k.c;
    const std::vector<float> x = random_floats(n, 21);
    const std::vector<float> mean = random_floats(k.c, 22), variance = positive_variances(k.c, 23);
    std::vector<float> expected(x.size()), expected_dx(x.size());
    normalization_fwd_ref(x.data(), mean.data(), variance.data(), expected.data(), k.rows, k.c);
    normalization_bwd_ref(x.data(), variance.data(), expected_dx.data(), k.rows, k.c);
    std::vector<float> scratch(static_cast<size_t>(normalization_scratch_floats(k.c)));

    std::vector<float> buf = x;
    normalization_fwd_ref(buf.data(), mean.data(), variance.data(), buf.data(), k.rows, k.c);
    EXPECT_TRUE(all_close(buf, expected, 0.0, 0.0));
    buf = x;
    normalization_fwd_fast(buf.data(), mean.data(), variance.data(), buf.data(), k.rows, k.c,
                           scratch.data());
    EXPECT_TRUE(all_close(buf, expected, 1e-6, 1e-6));
    buf = x;
    normalization_bwd_ref(buf.data(), variance.data(), buf.data(), k.rows, k.c);
    EXPECT_TRUE(all_close(buf, expected_dx, 0.0, 0.0));
    buf = x;
    normalization_bwd_fast(buf.data(), variance.data(), buf.data(), k.rows, k.c, scratch.data());
    EXPECT_TRUE(all_close(buf, expected_dx, 1e-6, 1e-6));
  }
}

}  // namespace
}  // namespace leantrain::kernels

#include "kernels/dropout.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "leantrain/core/rng.h"
#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::random_floats;

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(DropoutTest, KeepsFollowsTheDocumentedDraw) {
  for (uint64_t seed : {uint64_t{0}, uint64_t{7}, uint64_t{0xdeadbeefcafeull}}) {
    for (int64_t i = 0; i < 1000; ++i) {
      // u = top 24 bits of mix64(seed ^ mix64(i)) / 2^24
      const uint64_t bits = mix64(seed ^ mix64(static_cast<uint64_t>(i)));
      const double u = static_cast<double>(bits >> 40) / 16777216.0;
      ASSERT_EQ(dropout_keeps(seed, i, 0.3f), u >= 0.3) << "seed " << seed << " index " << i;
    }
  }
  EXPECT_TRUE(dropout_keeps(5, 123, 0.0f));   // rate 0 keeps everything
  EXPECT_FALSE(dropout_keeps(5, 123, 1.0f));  // rate 1 drops everything
}

TEST(DropoutTest, DropsAboutRateOfTheElements) {
  const int64_t n = 100000;
  const std::vector<float> src = random_floats(n, 1, 0.5f, 1.5f);  // never zero
  std::vector<float> dst(src.size());
  dropout_fwd_ref(42, 0.3f, src.data(), dst.data(), n);
  int64_t dropped = 0;
  for (float v : dst) dropped += v == 0.0f;
  // Binomial(1e5, 0.3): standard deviation 145 elements; allow 3.5 of them.
  EXPECT_NEAR(static_cast<double>(dropped) / n, 0.3, 0.005);
}

TEST(DropoutTest, ForwardScalesKeptElementsAndBackwardUsesTheSameMask) {
  const int64_t n = 1001;
  const float rate = 0.3f;
  const std::vector<float> src = random_floats(n, 2, 0.5f, 1.5f);
  const std::vector<float> dd = random_floats(n, 3, 0.5f, 1.5f);
  std::vector<float> dst(src.size()), diff_src(src.size());
  dropout_fwd_ref(9, rate, src.data(), dst.data(), n);
  dropout_bwd_ref(9, rate, dd.data(), diff_src.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const bool kept = dropout_keeps(9, i, rate);
    ASSERT_EQ(dst[i] != 0.0f, kept) << i;
    ASSERT_EQ(diff_src[i] != 0.0f, kept) << i;
    if (kept) {
      ASSERT_FLOAT_EQ(dst[i], src[i] / 0.7f) << i;
      ASSERT_FLOAT_EQ(diff_src[i], dd[i] / 0.7f) << i;
    }
  }
}

TEST(DropoutTest, MaskIsFixedBySeedAndDiffersBetweenSeeds) {
  const int64_t n = 4096;
  const std::vector<float> src = random_floats(n, 4, 0.5f, 1.5f);
  std::vector<float> a(src.size()), b(src.size()), c(src.size());
  dropout_fwd_ref(100, 0.5f, src.data(), a.data(), n);
  dropout_fwd_ref(100, 0.5f, src.data(), b.data(), n);
  dropout_fwd_ref(101, 0.5f, src.data(), c.data(), n);
  EXPECT_TRUE(bitwise_equal(a, b));
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) differ += (a[i] == 0.0f) != (c[i] == 0.0f);
  // Independent masks at rate 0.5 disagree on about half of the elements.
  EXPECT_GT(differ, n / 3);
}

TEST(DropoutTest, RateZeroIsIdentity) {
  const std::vector<float> src = random_floats(333, 5);
  std::vector<float> dst(src.size());
  dropout_fwd_ref(1, 0.0f, src.data(), dst.data(), 333);
  EXPECT_TRUE(bitwise_equal(dst, src));
  dropout_fwd_fast(1, 0.0f, src.data(), dst.data(), 333);
  EXPECT_TRUE(bitwise_equal(dst, src));
}

TEST(DropoutTest, ReferenceGradientMatchesFiniteDifferences) {
  for (int64_t n : {int64_t{1}, int64_t{105}}) {
    SCOPED_TRACE(n);
    std::vector<float> src = random_floats(n, 6);
    const std::vector<float> w = testing::loss_weights(n, 7);
    std::vector<float> dst(src.size()), grad(src.size());
    auto loss = [&] {
      dropout_fwd_ref(77, 0.4f, src.data(), dst.data(), n);
      return testing::weighted_sum(dst, w);
    };
    dropout_bwd_ref(77, 0.4f, w.data(), grad.data(), n);
    EXPECT_TRUE(testing::gradient_check(loss, {&src}, {grad}));
  }
}

TEST(DropoutTest, FastMatchesReferenceBitForBit) {
  for (int64_t n : {int64_t{1}, int64_t{105}, int64_t{32767}, int64_t{32768 + 13},
                    int64_t{128 * 26 * 26 * 32}}) {
    const std::vector<float> src = random_floats(n, 8);
    for (float rate : {0.0f, 0.1f, 0.3f, 0.5f, 0.999f, 1.0f}) {
      SCOPED_TRACE("n=" + std::to_string(n) + " rate=" + std::to_string(rate));
      std::vector<float> ref(src.size()), fast(src.size());
      dropout_fwd_ref(1234, rate, src.data(), ref.data(), n);
      dropout_fwd_fast(1234, rate, src.data(), fast.data(), n);
      EXPECT_TRUE(bitwise_equal(fast, ref));
      dropout_bwd_ref(1234, rate, src.data(), ref.data(), n);
      dropout_bwd_fast(1234, rate, src.data(), fast.data(), n);
      EXPECT_TRUE(bitwise_equal(fast, ref));
    }
  }
}

TEST(DropoutTest, FastRunsInPlace) {
  for (int64_t n : {int64_t{105}, int64_t{1 << 20}}) {
    SCOPED_TRACE(n);
    const std::vector<float> src = random_floats(n, 9);
    std::vector<float> expected(src.size());
    dropout_fwd_ref(5, 0.3f, src.data(), expected.data(), n);
    std::vector<float> buf = src;
    dropout_fwd_fast(5, 0.3f, buf.data(), buf.data(), n);
    EXPECT_TRUE(bitwise_equal(buf, expected));
    buf = src;
    dropout_bwd_fast(5, 0.3f, buf.data(), buf.data(), n);
    EXPECT_TRUE(bitwise_equal(buf, expected));
    buf = src;
    dropout_fwd_ref(5, 0.3f, buf.data(), buf.data(), n);
    EXPECT_TRUE(bitwise_equal(buf, expected));
  }
}

}  // namespace
}  // namespace leantrain::kernels

// Multiply, the channel-broadcast multiply (squeeze-and-excitation gate) with its scale gradient,
// and Rescaling: hand values, the reference gradients against central differences, the fast
// kernels against the reference (outputs inside NaN-prefilled guard bytes), and in-place runs.
#include "kernels/multiply.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "testing/kernel_testing.h"
#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::all_close;
using testing::GuardedFloats;
using testing::random_floats;

// (N, P, C) of the channel-broadcast cases: tiny, odd, a channel count past one block of the
// fast reduction (256), and SE-like shapes big enough for the parallel path.
struct GateCase {
  int64_t n, p, c;
};
constexpr GateCase kGateCases[] = {{1, 1, 1},  {2, 3, 5},      {3, 7, 1},   {1, 4, 300},
                                   {2, 9, 33}, {16, 196, 128}, {8, 49, 520}};

constexpr int64_t kSizes[] = {1, 7, 105, 32767, 32768 + 13, 1 << 20};

TEST(MultiplyTest, ReferenceMatchesHandValues) {
  const std::vector<float> a = {1, -2, 3}, b = {4, 5, -0.5f};
  std::vector<float> y(3);
  multiply_ref(a.data(), b.data(), y.data(), 3);
  EXPECT_EQ(y, (std::vector<float>{4, -10, -1.5f}));

  // (N=2, P=2, C=2): image 0 scales its channels by (2, 3), image 1 by (-1, 0.5).
  const std::vector<float> x = {1, 1, 2, 2, 3, 4, 5, 6}, s = {2, 3, -1, 0.5f};
  std::vector<float> gated(8);
  multiply_channels_ref(x.data(), s.data(), gated.data(), 2, 2, 2);
  EXPECT_EQ(gated, (std::vector<float>{2, 3, 4, 6, -3, 2, -5, 3}));
  // diff_scale[n, c] = sum over p of diff_dst * src, with diff_dst = 1: the channel sums.
  const std::vector<float> ones(8, 1.0f);
  std::vector<float> ds(4);
  multiply_channels_bwd_scale_ref(x.data(), ones.data(), ds.data(), 2, 2, 2);
  EXPECT_EQ(ds, (std::vector<float>{3, 3, 8, 10}));

  std::vector<float> r(3);
  rescale_ref(1.0f / 255.0f, -1.0f, std::vector<float>{0, 255, 127.5f}.data(), r.data(), 3);
  // 1/255 is not exact in float: within a few ulp of 1.
  EXPECT_NEAR(r[0], -1.0f, 1e-6);
  EXPECT_NEAR(r[1], 0.0f, 1e-6);
  EXPECT_NEAR(r[2], -0.5f, 1e-6);
}

TEST(MultiplyTest, ReferenceGradientsMatchCentralDifferences) {
  for (const GateCase& g : kGateCases) {
    const int64_t total = g.n * g.p * g.c;
    if (total > 2000) continue;  // central differences rerun the kernel per element
    SCOPED_TRACE(std::to_string(g.n) + "x" + std::to_string(g.p) + "x" + std::to_string(g.c));
    std::vector<float> x = random_floats(total, 1), s = random_floats(g.n * g.c, 2);
    std::vector<float> y(static_cast<size_t>(total));
    const std::vector<float> lw = testing::loss_weights(total, 3);

    // Same shapes: d/da = w * b, d/db = w * a, both a multiply of the loss weights.
    std::vector<float> b = random_floats(total, 4);
    auto plain_loss = [&] {
      multiply_ref(x.data(), b.data(), y.data(), total);
      return testing::weighted_sum(y, lw);
    };
    std::vector<float> dx(y.size()), db(y.size());
    multiply_ref(lw.data(), b.data(), dx.data(), total);
    multiply_ref(lw.data(), x.data(), db.data(), total);
    EXPECT_TRUE(testing::gradient_check(plain_loss, {&x, &b}, {dx, db})) << "multiply";

    // Broadcast: d/dsrc = w * scale (itself a gated multiply), d/dscale = the channel reduction.
    auto gate_loss = [&] {
      multiply_channels_ref(x.data(), s.data(), y.data(), g.n, g.p, g.c);
      return testing::weighted_sum(y, lw);
    };
    std::vector<float> ds(s.size());
    multiply_channels_ref(lw.data(), s.data(), dx.data(), g.n, g.p, g.c);
    multiply_channels_bwd_scale_ref(x.data(), lw.data(), ds.data(), g.n, g.p, g.c);
    EXPECT_TRUE(testing::gradient_check(gate_loss, {&x, &s}, {dx, ds})) << "gate";

    // Rescaling: d/dx = w * scale.
    auto rescale_loss = [&] {
      rescale_ref(0.37f, -1.5f, x.data(), y.data(), total);
      return testing::weighted_sum(y, lw);
    };
    rescale_ref(0.37f, 0.0f, lw.data(), dx.data(), total);
    EXPECT_TRUE(testing::gradient_check(rescale_loss, {&x}, {dx})) << "rescale";
  }
}

TEST(MultiplyTest, FastMatchesReference) {
  for (int64_t n : kSizes) {
    SCOPED_TRACE(n);
    const std::vector<float> a = random_floats(n, 11, -3.0f, 3.0f), b = random_floats(n, 12);
    std::vector<float> expected(a.size());
    multiply_ref(a.data(), b.data(), expected.data(), n);
    GuardedFloats y(n);
    multiply_fast(a.data(), b.data(), y.data(), n);
    EXPECT_TRUE(all_close(y.values(), expected, 0.0, 0.0)) << "multiply";
    EXPECT_TRUE(y.buffer.guards_intact()) << "multiply";

    rescale_ref(-0.125f, 0.75f, a.data(), expected.data(), n);
    GuardedFloats r(n);
    rescale_fast(-0.125f, 0.75f, a.data(), r.data(), n);
    EXPECT_TRUE(all_close(r.values(), expected, 1e-7, 1e-7)) << "rescale";
    EXPECT_TRUE(r.buffer.guards_intact()) << "rescale";
  }
}

TEST(MultiplyTest, FastChannelGateMatchesReference) {
  for (const GateCase& g : kGateCases) {
    SCOPED_TRACE(std::to_string(g.n) + "x" + std::to_string(g.p) + "x" + std::to_string(g.c));
    const int64_t total = g.n * g.p * g.c;
    const std::vector<float> x = random_floats(total, 21), s = random_floats(g.n * g.c, 22);
    const std::vector<float> dd = random_floats(total, 23);
    std::vector<float> expected(x.size()), expected_ds(s.size());
    multiply_channels_ref(x.data(), s.data(), expected.data(), g.n, g.p, g.c);
    multiply_channels_bwd_scale_ref(x.data(), dd.data(), expected_ds.data(), g.n, g.p, g.c);

    GuardedFloats y(total), ds(g.n * g.c);
    multiply_channels_fast(x.data(), s.data(), y.data(), g.n, g.p, g.c);
    multiply_channels_bwd_scale_fast(x.data(), dd.data(), ds.data(), g.n, g.p, g.c);
    EXPECT_TRUE(all_close(y.values(), expected, 0.0, 0.0)) << "gate";
    EXPECT_TRUE(testing::matches_reference(ds.values(), expected_ds)) << "scale gradient";
    EXPECT_TRUE(y.buffer.guards_intact()) << "gate";
    EXPECT_TRUE(ds.buffer.guards_intact()) << "scale gradient";
  }
}

TEST(MultiplyTest, RunsInPlace) {
  for (int64_t n : {int64_t{105}, int64_t{1 << 20}}) {
    SCOPED_TRACE(n);
    const std::vector<float> a = random_floats(n, 31), b = random_floats(n, 32);
    std::vector<float> expected(a.size());
    multiply_ref(a.data(), b.data(), expected.data(), n);
    for (auto fn : {multiply_ref, multiply_fast}) {
      std::vector<float> buf = a;  // dst is a
      fn(buf.data(), b.data(), buf.data(), n);
      EXPECT_TRUE(all_close(buf, expected, 0.0, 0.0));
      buf = b;  // dst is b
      fn(a.data(), buf.data(), buf.data(), n);
      EXPECT_TRUE(all_close(buf, expected, 0.0, 0.0));
    }
    rescale_ref(3.0f, 0.5f, a.data(), expected.data(), n);
    for (auto fn : {rescale_ref, rescale_fast}) {
      std::vector<float> buf = a;
      fn(3.0f, 0.5f, buf.data(), buf.data(), n);
      EXPECT_TRUE(all_close(buf, expected, 1e-7, 1e-7));
    }
  }
  const GateCase g{16, 196, 128};
  const int64_t total = g.n * g.p * g.c;
  const std::vector<float> x = random_floats(total, 33), s = random_floats(g.n * g.c, 34);
  std::vector<float> expected(x.size());
  multiply_channels_ref(x.data(), s.data(), expected.data(), g.n, g.p, g.c);
  for (auto fn : {multiply_channels_ref, multiply_channels_fast}) {
    std::vector<float> buf = x;
    fn(buf.data(), s.data(), buf.data(), g.n, g.p, g.c);
    EXPECT_TRUE(all_close(buf, expected, 0.0, 0.0));
  }
}

}  // namespace
}  // namespace leantrain::kernels

#include "kernels/softmax.h"

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
using testing::GuardedFloats;
using testing::random_floats;

struct Rows {
  int64_t n, c;
};

std::string name(const Rows& r) { return std::to_string(r.n) + "x" + std::to_string(r.c); }

TEST(SoftmaxTest, ReferenceMatchesHandValues) {
  // Row 0: (1, 2, 3) -> e^j / (e + e^2 + e^3). Row 1: (0, 0, 0) -> 1/3 each.
  const std::vector<float> x = {1.0f, 2.0f, 3.0f, 0.0f, 0.0f, 0.0f};
  std::vector<float> y(6);
  softmax_fwd_ref(x.data(), 2, 3, y.data());
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(y[0], std::exp(1.0) / z, 1e-7);
  EXPECT_NEAR(y[1], std::exp(2.0) / z, 1e-7);
  EXPECT_NEAR(y[2], std::exp(3.0) / z, 1e-7);
  for (int j = 3; j < 6; ++j) EXPECT_NEAR(y[j], 1.0 / 3.0, 1e-7);

  // Backward of row 0 with dy = (1, 0, 0): dx_j = y_j (dy_j - y_0).
  const std::vector<float> dy = {1.0f, 0.0f, 0.0f, 0.5f, 0.5f, 0.5f};
  std::vector<float> dx(6);
  softmax_bwd_ref(y.data(), dy.data(), 2, 3, dx.data());
  const double y0 = std::exp(1.0) / z, y2 = std::exp(3.0) / z;
  EXPECT_NEAR(dx[0], y0 * (1.0 - y0), 1e-7);
  EXPECT_NEAR(dx[2], y2 * (0.0 - y0), 1e-7);
  // A constant dy adds nothing: softmax is invariant to a shift.
  for (int j = 3; j < 6; ++j) EXPECT_NEAR(dx[j], 0.0, 1e-7);
}

TEST(SoftmaxTest, StableForHugeInputsAndOneClass) {
  // (1e4, 1e4 - 1, -1e4): (1, e^-1, 0) / (1 + e^-1); a single class is always 1.
  const std::vector<float> x = {1e4f, 1e4f - 1.0f, -1e4f};
  for (auto fn : {softmax_fwd_ref, softmax_fwd_fast}) {
    std::vector<float> y(3);
    fn(x.data(), 1, 3, y.data());
    EXPECT_NEAR(y[0], 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
    EXPECT_NEAR(y[1], std::exp(-1.0) / (1.0 + std::exp(-1.0)), 1e-6);
    EXPECT_NEAR(y[2], 0.0, 1e-30);  // exp(-2e4); the fast exp stops at exp(-87)
    std::vector<float> one(2);
    const std::vector<float> single = {-3.0f, 50.0f};
    fn(single.data(), 2, 1, one.data());
    EXPECT_EQ(one, (std::vector<float>{1.0f, 1.0f}));
  }
}

TEST(SoftmaxTest, ANaNInARowMakesTheRowNaNAsStdExpDoes) {
  // A NaN input (a NaN pixel, a diverged weight) must reach the output, not become a number:
  // the row (NaN, 1, 2) is NaN throughout; the next row is untouched.
  const std::vector<float> x = {std::nanf(""), 1.0f, 2.0f, 0.0f, 0.0f, 0.0f};
  for (auto fn : {softmax_fwd_ref, softmax_fwd_fast}) {
    std::vector<float> y(6);
    fn(x.data(), 2, 3, y.data());
    for (int j = 0; j < 3; ++j) EXPECT_TRUE(std::isnan(y[j])) << j << ": " << y[j];
    for (int j = 3; j < 6; ++j) EXPECT_NEAR(y[j], 1.0 / 3.0, 1e-7);
  }
}

TEST(SoftmaxTest, ReferenceGradientMatchesFiniteDifferences) {
  for (const Rows& r : {Rows{1, 1}, Rows{1, 4}, Rows{3, 5}, Rows{5, 7}}) {
    SCOPED_TRACE(name(r));
    std::vector<float> x = random_floats(r.n * r.c, 11, -2.0f, 2.0f);
    const std::vector<float> w = testing::loss_weights(r.n * r.c, 12);
    auto loss = [&] {
      std::vector<float> y(x.size());
      softmax_fwd_ref(x.data(), r.n, r.c, y.data());
      return testing::weighted_sum(y, w);
    };
    std::vector<float> y(x.size()), grad(x.size());
    softmax_fwd_ref(x.data(), r.n, r.c, y.data());
    softmax_bwd_ref(y.data(), w.data(), r.n, r.c, grad.data());
    EXPECT_TRUE(testing::gradient_check(loss, {&x}, {grad}, 1e-2, 2e-2, 1e-4));
  }
}

TEST(SoftmaxTest, FastMatchesReferenceInsideGuards) {
  // Small odd shapes, Keras' MNIST head, and shapes large enough to run threaded.
  const Rows shapes[] = {{1, 1}, {1, 3}, {5, 7}, {128, 10}, {4097, 33}, {300, 1000}};
  for (const Rows& r : shapes) {
    SCOPED_TRACE(name(r));
    const int64_t size = r.n * r.c;
    const std::vector<float> x = random_floats(size, 21, -8.0f, 8.0f);
    const std::vector<float> dy = random_floats(size, 22);
    std::vector<float> y_ref(size), dx_ref(size);
    softmax_fwd_ref(x.data(), r.n, r.c, y_ref.data());
    softmax_bwd_ref(y_ref.data(), dy.data(), r.n, r.c, dx_ref.data());

    GuardedFloats y(size), dx(size);
    softmax_fwd_fast(x.data(), r.n, r.c, y.data());
    softmax_bwd_fast(y_ref.data(), dy.data(), r.n, r.c, dx.data());
    EXPECT_TRUE(y.buffer.guards_intact());
    EXPECT_TRUE(dx.buffer.guards_intact());
    EXPECT_TRUE(all_close(y.values(), y_ref, 1e-5, 1e-7));
    EXPECT_TRUE(all_close(dx.values(), dx_ref, 1e-4, 1e-6));
  }
}

TEST(SoftmaxTest, RunsInPlace) {
  const int64_t n = 37, c = 29;
  const std::vector<float> x = random_floats(n * c, 31, -4.0f, 4.0f);
  const std::vector<float> dy = random_floats(n * c, 32);
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "reference");
    auto fwd = fast ? softmax_fwd_fast : softmax_fwd_ref;
    auto bwd = fast ? softmax_bwd_fast : softmax_bwd_ref;
    std::vector<float> y(x.size()), dx(x.size());
    fwd(x.data(), n, c, y.data());
    bwd(y.data(), dy.data(), n, c, dx.data());
    std::vector<float> inplace = x;
    fwd(inplace.data(), n, c, inplace.data());
    EXPECT_EQ(inplace, y);
    std::vector<float> grad = dy;
    bwd(y.data(), grad.data(), n, c, grad.data());
    EXPECT_EQ(grad, dx);
  }
}

}  // namespace
}  // namespace leantrain::kernels

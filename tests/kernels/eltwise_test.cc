#include "kernels/eltwise.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::all_close;
using testing::random_floats;

constexpr Activation kAll[] = {Activation::kRelu, Activation::kRelu6, Activation::kSigmoid,
                               Activation::kTanh, Activation::kSwish};

std::string name(Activation act) {
  switch (act) {
    case Activation::kRelu:
      return "relu";
    case Activation::kRelu6:
      return "relu6";
    case Activation::kSigmoid:
      return "sigmoid";
    case Activation::kTanh:
      return "tanh";
    case Activation::kSwish:
      return "swish";
  }
  return "?";
}

// Random inputs in [-8, 8) moved at least `gap` away from the kinks of relu (0) and relu6 (0, 6),
// so that a central difference of half-width < gap never straddles one.
std::vector<float> inputs_away_from_kinks(int64_t n, uint64_t seed, float gap) {
  std::vector<float> x = random_floats(n, seed, -8.0f, 8.0f);
  for (float& v : x) {
    for (float kink : {0.0f, 6.0f}) {
      if (std::fabs(v - kink) < gap) v = kink + (v < kink ? -gap : gap);
    }
  }
  return x;
}

// The tensor backward reads for `act`: its output or its input.
const std::vector<float>& saved_for(Activation act, const std::vector<float>& src,
                                    const std::vector<float>& dst) {
  return activation_grad_uses_dst(act) ? dst : src;
}

TEST(EltwiseTest, GradientUsesDstExceptSwish) {
  EXPECT_TRUE(activation_grad_uses_dst(Activation::kRelu));
  EXPECT_TRUE(activation_grad_uses_dst(Activation::kRelu6));
  EXPECT_TRUE(activation_grad_uses_dst(Activation::kSigmoid));
  EXPECT_TRUE(activation_grad_uses_dst(Activation::kTanh));
  EXPECT_FALSE(activation_grad_uses_dst(Activation::kSwish));
}

TEST(EltwiseTest, ReferenceMatchesHandValues) {
  const std::vector<float> x = {-2.0f, 0.0f, 0.5f, 6.0f, 7.0f};
  std::vector<float> y(x.size());
  activation_fwd_ref(Activation::kRelu, x.data(), y.data(), 5);
  EXPECT_EQ(y, (std::vector<float>{0.0f, 0.0f, 0.5f, 6.0f, 7.0f}));
  activation_fwd_ref(Activation::kRelu6, x.data(), y.data(), 5);
  EXPECT_EQ(y, (std::vector<float>{0.0f, 0.0f, 0.5f, 6.0f, 6.0f}));
  activation_fwd_ref(Activation::kSigmoid, x.data(), y.data(), 5);
  EXPECT_NEAR(y[0], 1.0 / (1.0 + std::exp(2.0)), 1e-7);
  EXPECT_FLOAT_EQ(y[1], 0.5f);
  activation_fwd_ref(Activation::kTanh, x.data(), y.data(), 5);
  EXPECT_NEAR(y[2], std::tanh(0.5), 1e-7);
  activation_fwd_ref(Activation::kSwish, x.data(), y.data(), 5);
  EXPECT_NEAR(y[2], 0.5 / (1.0 + std::exp(-0.5)), 1e-7);
}

TEST(EltwiseTest, ReluGradientsAreZeroAtTheKinks) {
  // saved = dst: relu's output 0, relu6's outputs 0 and 6 all pass no gradient.
  const std::vector<float> saved = {0.0f, 6.0f, 3.0f};
  const std::vector<float> dd = {1.0f, 1.0f, 1.0f};
  std::vector<float> g(3);
  activation_bwd_ref(Activation::kRelu, saved.data(), dd.data(), g.data(), 3);
  EXPECT_EQ(g, (std::vector<float>{0.0f, 1.0f, 1.0f}));
  activation_bwd_ref(Activation::kRelu6, saved.data(), dd.data(), g.data(), 3);
  EXPECT_EQ(g, (std::vector<float>{0.0f, 0.0f, 1.0f}));
  activation_bwd_fast(Activation::kRelu6, saved.data(), dd.data(), g.data(), 3);
  EXPECT_EQ(g, (std::vector<float>{0.0f, 0.0f, 1.0f}));
}

TEST(EltwiseTest, ReferenceGradientsMatchFiniteDifferences) {
  constexpr double kEps = 1e-2;
  // 1 element, (1,1,1,3), (1,5,7,3), (2,5,7,5)
  for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{105}, int64_t{350}}) {
    for (Activation act : kAll) {
      SCOPED_TRACE(name(act) + " n=" + std::to_string(n));
      std::vector<float> src =
          inputs_away_from_kinks(n, 11 + static_cast<uint64_t>(n), static_cast<float>(3 * kEps));
      const std::vector<float> w = testing::loss_weights(n, 5);
      std::vector<float> dst(src.size());
      auto loss = [&] {
        activation_fwd_ref(act, src.data(), dst.data(), n);
        return testing::weighted_sum(dst, w);
      };
      loss();
      std::vector<float> grad(src.size());
      activation_bwd_ref(act, saved_for(act, src, dst).data(), w.data(), grad.data(), n);
      EXPECT_TRUE(testing::gradient_check(loss, {&src}, {grad}, kEps));
    }
  }
}

// Sizes: tiny, around the serial/parallel switch, and (128, 26, 26, 32).
constexpr int64_t kSizes[] = {1, 7, 105, 32767, 32768 + 13, 128 * 26 * 26 * 32};

double fwd_rtol(Activation act) {
  return (act == Activation::kRelu || act == Activation::kRelu6) ? 0.0 : 2e-6;
}

TEST(EltwiseTest, FastMatchesReference) {
  for (int64_t n : kSizes) {
    const std::vector<float> src = random_floats(n, 21 + static_cast<uint64_t>(n), -10.0f, 10.0f);
    const std::vector<float> dd = random_floats(n, 22 + static_cast<uint64_t>(n));
    for (Activation act : kAll) {
      SCOPED_TRACE(name(act) + " n=" + std::to_string(n));
      std::vector<float> dst_ref(src.size()), dst_fast(src.size());
      activation_fwd_ref(act, src.data(), dst_ref.data(), n);
      activation_fwd_fast(act, src.data(), dst_fast.data(), n);
      EXPECT_TRUE(all_close(dst_fast, dst_ref, fwd_rtol(act), 1e-7));

      const std::vector<float>& saved = saved_for(act, src, dst_ref);
      std::vector<float> g_ref(src.size()), g_fast(src.size());
      activation_bwd_ref(act, saved.data(), dd.data(), g_ref.data(), n);
      activation_bwd_fast(act, saved.data(), dd.data(), g_fast.data(), n);
      EXPECT_TRUE(all_close(g_fast, g_ref, 4 * fwd_rtol(act), 1e-6));
    }
  }
}

TEST(EltwiseTest, FastRunsInPlace) {
  for (int64_t n : {int64_t{105}, int64_t{128 * 26 * 26 * 32}}) {
    const std::vector<float> src = random_floats(n, 31, -10.0f, 10.0f);
    const std::vector<float> dd = random_floats(n, 32);
    for (Activation act : kAll) {
      SCOPED_TRACE(name(act) + " n=" + std::to_string(n));
      std::vector<float> expected(src.size());
      activation_fwd_ref(act, src.data(), expected.data(), n);
      std::vector<float> buf = src;
      activation_fwd_fast(act, buf.data(), buf.data(), n);
      EXPECT_TRUE(all_close(buf, expected, fwd_rtol(act), 1e-7));

      const std::vector<float>& saved = saved_for(act, src, expected);
      std::vector<float> grad(src.size());
      activation_bwd_ref(act, saved.data(), dd.data(), grad.data(), n);
      buf = dd;
      activation_bwd_fast(act, saved.data(), buf.data(), buf.data(), n);
      EXPECT_TRUE(all_close(buf, grad, 4 * fwd_rtol(act), 1e-6));
    }
  }
}

TEST(EltwiseTest, FastIsFiniteAndSaturatesForHugeInputs) {
  const std::vector<float> x = {-1e4f, -100.0f, -88.5f, -20.0f, 20.0f, 88.5f, 100.0f, 1e4f};
  const int64_t n = static_cast<int64_t>(x.size());
  for (Activation act : kAll) {
    SCOPED_TRACE(name(act));
    std::vector<float> y_ref(x.size()), y_fast(x.size());
    activation_fwd_ref(act, x.data(), y_ref.data(), n);
    activation_fwd_fast(act, x.data(), y_fast.data(), n);
    for (float v : y_fast) EXPECT_TRUE(std::isfinite(v));
    EXPECT_TRUE(all_close(y_fast, y_ref, 2e-6, 1e-30));
  }
}

TEST(EltwiseTest, FastTanhIsAccurateNearZero) {
  const std::vector<float> x = {1e-6f, -3e-4f, 0.01f, -0.3f, 0.62f, 0.63f, -0.7f};
  std::vector<float> y(x.size());
  activation_fwd_fast(Activation::kTanh, x.data(), y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(y[i], std::tanh(static_cast<double>(x[i])), 2e-7 * std::fabs(std::tanh(x[i])))
        << "x = " << x[i];
  }
}

TEST(EltwiseTest, AddAndAccumulateMatchReferenceIncludingAliases) {
  for (int64_t n : {int64_t{1}, int64_t{105}, int64_t{32768 + 13}, int64_t{1 << 20}}) {
    SCOPED_TRACE(n);
    const std::vector<float> a = random_floats(n, 41), b = random_floats(n, 42);
    std::vector<float> expected(a.size());
    add_ref(a.data(), b.data(), expected.data(), n);
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(expected[i], a[i] + b[i]);

    std::vector<float> out(a.size());
    add_fast(a.data(), b.data(), out.data(), n);
    EXPECT_TRUE(all_close(out, expected, 0.0, 0.0));
    out = a;  // dst aliases a
    add_fast(out.data(), b.data(), out.data(), n);
    EXPECT_TRUE(all_close(out, expected, 0.0, 0.0));
    out = b;  // dst aliases b
    add_fast(a.data(), out.data(), out.data(), n);
    EXPECT_TRUE(all_close(out, expected, 0.0, 0.0));
    out = a;
    accumulate_fast(b.data(), out.data(), n);
    EXPECT_TRUE(all_close(out, expected, 0.0, 0.0));
  }
}

}  // namespace
}  // namespace leantrain::kernels

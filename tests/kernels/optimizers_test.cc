#include "kernels/optimizers.h"

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

// Three parameters and two steps of gradients, worked through by hand below in double.
const std::vector<float> kParam = {1.0f, -2.0f, 0.5f};
const std::vector<float> kGrad1 = {0.1f, -0.3f, 2.0f};
const std::vector<float> kGrad2 = {-0.2f, 0.05f, 1.0f};

void expect_near_all(const std::vector<float>& actual, const std::vector<double>& expected,
                     const std::string& what, double atol = 1e-7) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], 1e-6 * std::fabs(expected[i]) + atol)
        << what << "[" << i << "]";
  }
}

TEST(OptimizersTest, SgdWithoutMomentumByHand) {
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "ref");
    std::vector<float> p = kParam;
    const SgdHyper h{.learning_rate = 0.1f};
    auto update = fast ? sgd_update_fast : sgd_update_ref;
    update(h, p.data(), kGrad1.data(), nullptr, 3);  // velocity unused without momentum
    update(h, p.data(), kGrad2.data(), nullptr, 3);
    // p - 0.1 * g1 - 0.1 * g2
    expect_near_all(p, {1.0 - 0.01 + 0.02, -2.0 + 0.03 - 0.005, 0.5 - 0.2 - 0.1}, "param");
  }
}

TEST(OptimizersTest, SgdMomentumByHand) {
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "ref");
    auto update = fast ? sgd_update_fast : sgd_update_ref;
    std::vector<float> p = kParam, v = {0.0f, 0.0f, 0.0f};
    const SgdHyper h{.learning_rate = 0.1f, .momentum = 0.9f};
    update(h, p.data(), kGrad1.data(), v.data(), 3);
    update(h, p.data(), kGrad2.data(), v.data(), 3);
    // Element 0: v1 = -0.01, p1 = 0.99; v2 = 0.9 * -0.01 + 0.02 = 0.011, p2 = 1.001.
    // Element 1: v1 = 0.03, p1 = -1.97; v2 = 0.027 - 0.005 = 0.022, p2 = -1.948.
    // Element 2: v1 = -0.2, p1 = 0.3; v2 = -0.18 - 0.1 = -0.28, p2 = 0.02.
    expect_near_all(v, {0.011, 0.022, -0.28}, "velocity");
    expect_near_all(p, {1.001, -1.948, 0.02}, "param");
  }
}

TEST(OptimizersTest, SgdNesterovByHand) {
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "ref");
    auto update = fast ? sgd_update_fast : sgd_update_ref;
    std::vector<float> p = kParam, v = {0.0f, 0.0f, 0.0f};
    const SgdHyper h{.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true};
    update(h, p.data(), kGrad1.data(), v.data(), 3);
    update(h, p.data(), kGrad2.data(), v.data(), 3);
    // Velocities as without Nesterov; the step is 0.9 * v - 0.1 * g.
    // Element 0: step1 = -0.009 - 0.01 = -0.019, p1 = 0.981;
    //            step2 = 0.0099 + 0.02 = 0.0299, p2 = 1.0109.
    // Element 1: step1 = 0.027 + 0.03 = 0.057, p1 = -1.943;
    //            step2 = 0.0198 - 0.005 = 0.0148, p2 = -1.9282.
    // Element 2: step1 = -0.18 - 0.2 = -0.38, p1 = 0.12;
    //            step2 = -0.252 - 0.1 = -0.352, p2 = -0.232.
    expect_near_all(v, {0.011, 0.022, -0.28}, "velocity");
    expect_near_all(p, {1.0109, -1.9282, -0.232}, "param");
  }
}

// Two Adam steps in double, written out from Kingma & Ba with Keras' epsilon placement:
// m_t = b1 m + (1 - b1) g, v_t = b2 v + (1 - b2) g^2,
// p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m_t / (sqrt(v_t) + eps), after p *= 1 - wd * lr.
std::vector<double> adam_by_hand(double lr, double wd) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-7;
  std::vector<double> out;
  for (size_t i = 0; i < kParam.size(); ++i) {
    double p = kParam[i], m = 0.0, v = 0.0;
    const double grads[2] = {kGrad1[i], kGrad2[i]};
    for (int t = 1; t <= 2; ++t) {
      const double g = grads[t - 1];
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      p = p * (1 - wd * lr);
      const double corrected_lr = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
      p -= corrected_lr * m / (std::sqrt(v) + eps);
    }
    out.push_back(p);
  }
  return out;
}

TEST(OptimizersTest, AdamByHand) {
  const std::vector<double> expected = adam_by_hand(0.001, 0.0);
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "ref");
    auto update = fast ? adam_update_fast : adam_update_ref;
    std::vector<float> p = kParam, m(3, 0.0f), v(3, 0.0f);
    AdamHyper h;
    update(h, p.data(), kGrad1.data(), m.data(), v.data(), 3);
    h.step = 2;
    update(h, p.data(), kGrad2.data(), m.data(), v.data(), 3);
    expect_near_all(p, expected, "param");
    // m2 = 0.9 * 0.1 g1 + 0.1 g2; v2 = 0.999 * 0.001 g1^2 + 0.001 g2^2
    expect_near_all(m, {0.009 - 0.02, -0.027 + 0.005, 0.18 + 0.1}, "m");
    expect_near_all(v, {0.999e-5 + 0.04e-3, 0.999e-3 * 0.09 + 0.0025e-3, 0.999e-3 * 4 + 1e-3}, "v");
  }
}

TEST(OptimizersTest, AdamFirstStepMovesEachParameterByTheLearningRate) {
  // Step 1: m = 0.1 g, v = 0.001 g^2, alpha = lr * sqrt(0.001) / 0.1, so
  // alpha * m / sqrt(v) = lr * sign(g) exactly; epsilon changes that by under 1e-4 relative.
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "ref");
    auto update = fast ? adam_update_fast : adam_update_ref;
    std::vector<float> p = kParam, m(3, 0.0f), v(3, 0.0f);
    update(AdamHyper{}, p.data(), kGrad1.data(), m.data(), v.data(), 3);
    expect_near_all(p, {1.0 - 0.001, -2.0 + 0.001, 0.5 - 0.001}, "param");
  }
}

TEST(OptimizersTest, AdamWByHand) {
  const std::vector<double> expected = adam_by_hand(0.01, 0.004);
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "ref");
    auto update = fast ? adam_update_fast : adam_update_ref;
    std::vector<float> p = kParam, m(3, 0.0f), v(3, 0.0f);
    AdamHyper h{.learning_rate = 0.01f, .weight_decay = 0.004f};
    update(h, p.data(), kGrad1.data(), m.data(), v.data(), 3);
    h.step = 2;
    update(h, p.data(), kGrad2.data(), m.data(), v.data(), 3);
    expect_near_all(p, expected, "param");
  }
}

TEST(OptimizersTest, FastMatchesReference) {
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{32768 + 13}, int64_t{200003}}) {
    const std::vector<float> p0 = random_floats(n, 1, -1.0f, 1.0f);
    const std::vector<float> v0 = random_floats(n, 2, -0.1f, 0.1f);
    const std::vector<float> sq0 = random_floats(n, 3, 1e-4f, 1e-2f);  // Adam's v: positive
    const std::vector<SgdHyper> sgds = {
        {0.05f, 0.0f, false}, {0.05f, 0.9f, false}, {0.05f, 0.9f, true}};
    for (const SgdHyper& h : sgds) {
      SCOPED_TRACE("sgd n=" + std::to_string(n) + " momentum=" + std::to_string(h.momentum) +
                   " nesterov=" + std::to_string(h.nesterov));
      std::vector<float> p_ref = p0, p_fast = p0, v_ref = v0, v_fast = v0;
      for (int step = 0; step < 3; ++step) {
        const std::vector<float> g = random_floats(n, 10 + static_cast<uint64_t>(step));
        sgd_update_ref(h, p_ref.data(), g.data(), v_ref.data(), n);
        sgd_update_fast(h, p_fast.data(), g.data(), v_fast.data(), n);
      }
      EXPECT_TRUE(all_close(p_fast, p_ref, 1e-6, 1e-7));
      EXPECT_TRUE(all_close(v_fast, v_ref, 1e-6, 1e-7));
    }
    for (float wd : {0.0f, 0.004f}) {
      SCOPED_TRACE("adam n=" + std::to_string(n) + " weight_decay=" + std::to_string(wd));
      std::vector<float> p_ref = p0, p_fast = p0, m_ref = v0, m_fast = v0;
      std::vector<float> s_ref = sq0, s_fast = sq0;
      AdamHyper h{.learning_rate = 0.01f, .weight_decay = wd};
      for (int64_t step = 1; step <= 3; ++step) {
        h.step = step;
        const std::vector<float> g = random_floats(n, 20 + static_cast<uint64_t>(step));
        adam_update_ref(h, p_ref.data(), g.data(), m_ref.data(), s_ref.data(), n);
        adam_update_fast(h, p_fast.data(), g.data(), m_fast.data(), s_fast.data(), n);
      }
      EXPECT_TRUE(all_close(p_fast, p_ref, 1e-6, 1e-7));
      EXPECT_TRUE(all_close(m_fast, m_ref, 1e-6, 1e-7));
      EXPECT_TRUE(all_close(s_fast, s_ref, 1e-6, 1e-9));
    }
  }
}

}  // namespace
}  // namespace leantrain::kernels

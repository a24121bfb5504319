#include "kernels/losses.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "testing/kernel_testing.h"
#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::all_close;
using testing::GuardedFloats;
using testing::random_floats;
using testing::random_labels;

// -log of the clip bounds in float, as Keras computes them: 1e-7 and 1 - 1e-7 rounded to float.
const double kLogEps = std::log(static_cast<double>(1e-7f));
const double kLogOneMinusEps = std::log(static_cast<double>(1.0f - 1e-7f));

// One loss bound to fixed targets: forward and backward over a prediction, reference or fast.
struct LossCase {
  std::string name;
  std::vector<float> pred;  // in the loss's domain, away from the clip bounds
  std::function<void(const float* pred, bool fast, float* loss)> fwd;
  std::function<void(const float* pred, bool fast, float diff_loss, float* diff)> bwd;
};

// Every loss of losses.h on (n, c) data from `seed`: logits in [-3, 3), probabilities in
// [0.05, 1) (binary: [0.05, 0.95)), soft targets in [0, 1) that need not sum to 1.
std::vector<LossCase> loss_cases(int64_t n, int64_t c, uint64_t seed) {
  const int64_t size = n * c;
  auto soft = std::make_shared<std::vector<float>>(random_floats(size, seed + 1, 0.0f, 1.0f));
  auto labels =
      std::make_shared<std::vector<int32_t>>(random_labels(n, static_cast<int32_t>(c), seed + 2));
  auto values = std::make_shared<std::vector<float>>(random_floats(size, seed + 3, -2.0f, 2.0f));
  const std::vector<float> logits = random_floats(size, seed + 4, -3.0f, 3.0f);
  const std::vector<float> probs = random_floats(size, seed + 5, 0.05f, 1.0f);
  const std::vector<float> binary_probs = random_floats(size, seed + 6, 0.05f, 0.95f);
  std::vector<LossCase> cases;
  for (bool from_logits : {true, false}) {
    const std::string suffix = from_logits ? " from logits" : " from probabilities";
    cases.push_back({"categorical" + suffix, from_logits ? logits : probs,
                     [=](const float* p, bool fast, float* loss) {
                       (fast ? categorical_xent_fwd_fast : categorical_xent_fwd_ref)(
                           p, soft->data(), n, c, from_logits, loss);
                     },
                     [=](const float* p, bool fast, float dl, float* diff) {
                       (fast ? categorical_xent_bwd_fast : categorical_xent_bwd_ref)(
                           p, soft->data(), n, c, from_logits, dl, diff);
                     }});
    cases.push_back({"binary" + suffix, from_logits ? logits : binary_probs,
                     [=](const float* p, bool fast, float* loss) {
                       (fast ? binary_xent_fwd_fast : binary_xent_fwd_ref)(p, soft->data(), size,
                                                                           from_logits, loss);
                     },
                     [=](const float* p, bool fast, float dl, float* diff) {
                       (fast ? binary_xent_bwd_fast : binary_xent_bwd_ref)(p, soft->data(), size,
                                                                           from_logits, dl, diff);
                     }});
  }
  cases.push_back({"sparse categorical from probabilities", probs,
                   [=](const float* p, bool fast, float* loss) {
                     (fast ? sparse_categorical_xent_probs_fwd_fast
                           : sparse_categorical_xent_probs_fwd_ref)(p, labels->data(), n, c, loss);
                   },
                   [=](const float* p, bool fast, float dl, float* diff) {
                     (fast ? sparse_categorical_xent_probs_bwd_fast
                           : sparse_categorical_xent_probs_bwd_ref)(p, labels->data(), n, c, dl,
                                                                    diff);
                   }});
  cases.push_back({"mean squared error", logits,
                   [=](const float* p, bool fast, float* loss) {
                     (fast ? mse_fwd_fast : mse_fwd_ref)(p, values->data(), size, loss);
                   },
                   [=](const float* p, bool fast, float dl, float* diff) {
                     (fast ? mse_bwd_fast : mse_bwd_ref)(p, values->data(), size, dl, diff);
                   }});
  cases.push_back({"l2 penalty", logits,
                   [=](const float* p, bool fast, float* loss) {
                     (fast ? l2_penalty_fwd_fast : l2_penalty_fwd_ref)(p, size, 0.01f, loss);
                   },
                   [=](const float* p, bool fast, float dl, float* diff) {
                     (fast ? l2_penalty_bwd_fast : l2_penalty_bwd_ref)(p, size, 0.01f, dl, diff);
                   }});
  return cases;
}

struct Rows {
  int64_t n, c;
};

std::string name(const Rows& r) { return std::to_string(r.n) + "x" + std::to_string(r.c); }

TEST(LossesTest, CategoricalFromProbabilitiesMatchesKerasExamples) {
  // keras.losses.CategoricalCrossentropy's docstring: 1.1769392 = (-log 0.95 - log 0.1) / 2;
  // the 0 in row 0 is clipped to 1e-7, but its target is 0.
  const std::vector<float> target = {0, 1, 0, 0, 0, 1};
  const std::vector<float> pred = {0.05f, 0.95f, 0.0f, 0.1f, 0.8f, 0.1f};
  for (bool fast : {false, true}) {
    float loss = 0.0f;
    (fast ? categorical_xent_fwd_fast : categorical_xent_fwd_ref)(pred.data(), target.data(), 2, 3,
                                                                  false, &loss);
    EXPECT_NEAR(loss, (-std::log(0.95) - std::log(0.1)) / 2.0, 1e-6);
    EXPECT_NEAR(loss, 1.1769392, 1e-6);
  }
  // keras.ops.categorical_crossentropy's docstring: identity targets give per-row losses
  // 0.10536054, 0.22314355, 0.6931472 (-log 0.9, -log 0.8, -log 0.5).
  const std::vector<float> eye = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  const std::vector<float> out = {0.9f, 0.05f, 0.05f, 0.1f, 0.8f, 0.1f, 0.2f, 0.3f, 0.5f};
  float loss = 0.0f;
  categorical_xent_fwd_ref(out.data(), eye.data(), 3, 3, false, &loss);
  EXPECT_NEAR(loss, (0.10536054 + 0.22314355 + 0.6931472) / 3.0, 1e-6);
  // Unnormalized rows are divided by their sum first: (1, 2, 1) -> (1/4, 1/2, 1/4).
  const std::vector<float> raw = {1.0f, 2.0f, 1.0f};
  const std::vector<float> middle = {0.0f, 1.0f, 0.0f};
  categorical_xent_fwd_ref(raw.data(), middle.data(), 1, 3, false, &loss);
  EXPECT_NEAR(loss, std::log(2.0), 1e-7);
}

TEST(LossesTest, CategoricalFromLogitsMatchesHandArithmetic) {
  // Logits (1, 2, 3); soft target (0.2, 0.3, 0.5) and unnormalized target (1, 1, 0).
  const std::vector<float> logits = {1, 2, 3, 1, 2, 3};
  const std::vector<float> target = {0.2f, 0.3f, 0.5f, 1.0f, 1.0f, 0.0f};
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const double row0 = 0.2 * (lse - 1) + 0.3 * (lse - 2) + 0.5 * (lse - 3);
  const double row1 = (lse - 1) + (lse - 2);
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "reference");
    float loss = 0.0f;
    (fast ? categorical_xent_fwd_fast : categorical_xent_fwd_ref)(logits.data(), target.data(), 2,
                                                                  3, true, &loss);
    EXPECT_NEAR(loss, (row0 + row1) / 2.0, 1e-5);
    // d/dx of -sum_j t_j log_softmax_j = softmax * sum(t) - t, times diff_loss / N = 3 / 2.
    std::vector<float> diff(6);
    (fast ? categorical_xent_bwd_fast : categorical_xent_bwd_ref)(logits.data(), target.data(), 2,
                                                                  3, true, 3.0f, diff.data());
    for (int j = 0; j < 3; ++j) {
      const double softmax = std::exp(1.0 + j - lse);
      EXPECT_NEAR(diff[j], (softmax - target[j]) * 1.5, 1e-6);
      EXPECT_NEAR(diff[3 + j], (2.0 * softmax - target[3 + j]) * 1.5, 1e-6);
    }
  }
}

TEST(LossesTest, CategoricalClippedEntriesPassNoGradient) {
  // Row 0: p = (0, 1, 1), t = (0.5, 0.5, 0). s = 2, q = (0, 1/2, 1/2); q_0 is clipped to eps.
  //   loss = -(0.5 log eps + 0.5 log 1/2). g = dL/dq = (0 [clipped], -0.5/0.5, 0), sum g q = -1/2,
  //   dL/dp = (g + 1/2) / s = (0.25, -0.25, 0.25).
  // Row 1: p = (0, 0.5, 0.5), t = (1, 0, 0): only the clipped entry has a target: no gradient.
  // Row 2: one class only, q = 1 is clipped to 1 - eps: loss -log(1 - eps), no gradient.
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "reference");
    const std::vector<float> p = {0.0f, 1.0f, 1.0f, 0.0f, 0.5f, 0.5f};
    const std::vector<float> t = {0.5f, 0.5f, 0.0f, 1.0f, 0.0f, 0.0f};
    float loss = 0.0f;
    (fast ? categorical_xent_fwd_fast : categorical_xent_fwd_ref)(p.data(), t.data(), 2, 3, false,
                                                                  &loss);
    const double row0 = -(0.5 * kLogEps + 0.5 * std::log(0.5));
    EXPECT_NEAR(loss, (row0 - kLogEps) / 2.0, 1e-5);
    std::vector<float> diff(6);
    (fast ? categorical_xent_bwd_fast : categorical_xent_bwd_ref)(p.data(), t.data(), 2, 3, false,
                                                                  2.0f, diff.data());
    // diff_loss 2 over N = 2 rows: scale 1.
    const std::vector<float> expected = {0.25f, -0.25f, 0.25f, 0.0f, 0.0f, 0.0f};
    EXPECT_TRUE(all_close(diff, expected, 1e-6, 1e-7));

    const std::vector<float> single = {0.3f};
    const std::vector<float> one = {1.0f};
    (fast ? categorical_xent_fwd_fast : categorical_xent_fwd_ref)(single.data(), one.data(), 1, 1,
                                                                  false, &loss);
    EXPECT_NEAR(loss, -kLogOneMinusEps, 1e-9);
    (fast ? categorical_xent_bwd_fast : categorical_xent_bwd_ref)(single.data(), one.data(), 1, 1,
                                                                  false, 1.0f, diff.data());
    EXPECT_EQ(diff[0], 0.0f);
  }
}

TEST(LossesTest, RowOfZeroProbabilitiesGivesNanAsInKeras) {
  // 0 / 0 in the normalization: Keras returns NaN, and so must both kernels (not a number).
  const std::vector<float> p = {0.5f, 0.5f, 0.0f, 0.0f};
  const std::vector<float> t = {1.0f, 0.0f, 1.0f, 0.0f};
  const std::vector<int32_t> labels = {0, 0};
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "reference");
    float loss = 0.0f;
    (fast ? categorical_xent_fwd_fast : categorical_xent_fwd_ref)(p.data(), t.data(), 2, 2, false,
                                                                  &loss);
    EXPECT_TRUE(std::isnan(loss)) << loss;
    (fast ? sparse_categorical_xent_probs_fwd_fast : sparse_categorical_xent_probs_fwd_ref)(
        p.data(), labels.data(), 2, 2, &loss);
    EXPECT_TRUE(std::isnan(loss)) << loss;
  }
}

TEST(LossesTest, SparseFromProbabilitiesEqualsCategoricalWithOneHotTargets) {
  const int64_t n = 33, c = 7;
  std::vector<float> probs = random_floats(n * c, 41, 0.01f, 1.0f);
  for (int64_t i = 0; i < n * c; i += 13) probs[static_cast<size_t>(i)] = 0.0f;  // some clipped
  const std::vector<int32_t> labels = random_labels(n, static_cast<int32_t>(c), 42);
  std::vector<float> onehot(static_cast<size_t>(n * c), 0.0f);
  for (int64_t r = 0; r < n; ++r) onehot[static_cast<size_t>(r * c + labels[r])] = 1.0f;
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "reference");
    float sparse = 0.0f, dense = 0.0f;
    (fast ? sparse_categorical_xent_probs_fwd_fast : sparse_categorical_xent_probs_fwd_ref)(
        probs.data(), labels.data(), n, c, &sparse);
    (fast ? categorical_xent_fwd_fast : categorical_xent_fwd_ref)(probs.data(), onehot.data(), n, c,
                                                                  false, &dense);
    EXPECT_NEAR(sparse, dense, 1e-5 * std::fabs(dense));
    std::vector<float> g_sparse(probs.size()), g_dense(probs.size());
    (fast ? sparse_categorical_xent_probs_bwd_fast : sparse_categorical_xent_probs_bwd_ref)(
        probs.data(), labels.data(), n, c, 0.7f, g_sparse.data());
    (fast ? categorical_xent_bwd_fast : categorical_xent_bwd_ref)(probs.data(), onehot.data(), n, c,
                                                                  false, 0.7f, g_dense.data());
    EXPECT_TRUE(all_close(g_sparse, g_dense, 1e-5, 1e-7));
  }
}

TEST(LossesTest, BinaryMatchesKerasExamples) {
  // keras.losses.BinaryCrossentropy's docstring. Probabilities: y_true [[0, 1], [0, 0]],
  // y_pred [[0.6, 0.4], [0.4, 0.6]] -> 0.815 = (-log .4 - log .4 - log .6 - log .4) / 4.
  const std::vector<float> z = {0, 1, 0, 0};
  const std::vector<float> p = {0.6f, 0.4f, 0.4f, 0.6f};
  // Logits: y_true [0, 1, 0, 0], y_pred [-18.6, 0.51, 2.94, -12.8] -> 0.865.
  const std::vector<float> zl = {0, 1, 0, 0};
  const std::vector<float> x = {-18.6f, 0.51f, 2.94f, -12.8f};
  double expected_logits = 0.0;
  for (int i = 0; i < 4; ++i) {
    const double xi = x[i];
    expected_logits += std::fmax(xi, 0.0) - xi * zl[i] + std::log1p(std::exp(-std::fabs(xi)));
  }
  expected_logits /= 4.0;
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "reference");
    auto fwd = fast ? binary_xent_fwd_fast : binary_xent_fwd_ref;
    float loss = 0.0f;
    fwd(p.data(), z.data(), 4, false, &loss);
    EXPECT_NEAR(loss, -(3.0 * std::log(0.4) + std::log(0.6)) / 4.0, 1e-6);
    EXPECT_NEAR(loss, 0.815, 1e-3);
    fwd(x.data(), zl.data(), 4, true, &loss);
    EXPECT_NEAR(loss, expected_logits, 1e-6);
    EXPECT_NEAR(loss, 0.865, 1e-3);
  }
}

TEST(LossesTest, BinaryClipsProbabilitiesAndStaysStableForHugeLogits) {
  // Probabilities 0 and 1 are clipped to eps and 1 - eps: (p, z) = (0, 0), (1, 1), (0, 1),
  // (1, 0), (0.5, 1). The clipped ones pass no gradient.
  const std::vector<float> p = {0.0f, 1.0f, 0.0f, 1.0f, 0.5f};
  const std::vector<float> z = {0.0f, 1.0f, 1.0f, 0.0f, 1.0f};
  const double log1m_eps = std::log1p(-static_cast<double>(1e-7f));  // log(1 - eps)
  const double expected = (-log1m_eps - kLogOneMinusEps - kLogEps -
                           std::log1p(-static_cast<double>(1.0f - 1e-7f)) + std::log(2.0)) /
                          5.0;
  // Logits +-100: (100, 0) costs 100, (-100, 0) and (100, 1) cost ~e^-100, (-100, 1) costs 100.
  const std::vector<float> x = {100.0f, -100.0f, 100.0f, -100.0f};
  const std::vector<float> zx = {0.0f, 0.0f, 1.0f, 1.0f};
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "reference");
    float loss = 0.0f;
    (fast ? binary_xent_fwd_fast : binary_xent_fwd_ref)(p.data(), z.data(), 5, false, &loss);
    EXPECT_NEAR(loss, expected, 1e-6 * expected);
    std::vector<float> diff(5);
    (fast ? binary_xent_bwd_fast : binary_xent_bwd_ref)(p.data(), z.data(), 5, false, 5.0f,
                                                        diff.data());
    // Only p = 0.5, z = 1 passes: d/dp -log p = -2.
    EXPECT_EQ(diff, (std::vector<float>{0, 0, 0, 0, diff[4]}));
    EXPECT_NEAR(diff[4], -2.0, 1e-6);

    (fast ? binary_xent_fwd_fast : binary_xent_fwd_ref)(x.data(), zx.data(), 4, true, &loss);
    EXPECT_NEAR(loss, 200.0 / 4.0, 1e-5);
    std::vector<float> dx(4);
    (fast ? binary_xent_bwd_fast : binary_xent_bwd_ref)(x.data(), zx.data(), 4, true, 4.0f,
                                                        dx.data());
    // sigmoid(x) - z: (1, 0, 0, -1) up to e^-100.
    EXPECT_TRUE(all_close(dx, {1.0f, 0.0f, 0.0f, -1.0f}, 0.0, 1e-7));
  }
}

TEST(LossesTest, MeanSquaredErrorAndL2MatchHandArithmetic) {
  const std::vector<float> pred = {1.0f, -2.0f, 3.0f};
  const std::vector<float> target = {0.5f, 0.0f, 4.0f};
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "reference");
    float loss = 0.0f;
    (fast ? mse_fwd_fast : mse_fwd_ref)(pred.data(), target.data(), 3, &loss);
    EXPECT_NEAR(loss, (0.25 + 4.0 + 1.0) / 3.0, 1e-7);
    std::vector<float> diff(3);
    (fast ? mse_bwd_fast : mse_bwd_ref)(pred.data(), target.data(), 3, 1.5f, diff.data());
    // 2 (p - t) / 3 * 1.5 = p - t.
    EXPECT_TRUE(all_close(diff, {0.5f, -2.0f, -1.0f}, 1e-6, 0.0));

    // keras.regularizers.L2(0.01): 0.01 * (1 + 4 + 9); gradient 2 * 0.01 * w * 3.
    float penalty = 0.0f;
    (fast ? l2_penalty_fwd_fast : l2_penalty_fwd_ref)(pred.data(), 3, 0.01f, &penalty);
    EXPECT_NEAR(penalty, 0.14, 1e-7);
    (fast ? l2_penalty_bwd_fast : l2_penalty_bwd_ref)(pred.data(), 3, 0.01f, 3.0f, diff.data());
    EXPECT_TRUE(all_close(diff, {0.06f, -0.12f, 0.18f}, 1e-6, 0.0));
  }
}

TEST(LossesTest, SparseLabelOutOfRangeGivesNanLossAndNoGradient) {
  const std::vector<float> probs = {0.2f, 0.8f, 0.5f, 0.5f};
  for (int32_t bad : {-1, 2}) {
    const std::vector<int32_t> labels = {0, bad};
    for (bool fast : {false, true}) {
      SCOPED_TRACE(std::string(fast ? "fast" : "reference") + " label " + std::to_string(bad));
      float loss = 0.0f;
      (fast ? sparse_categorical_xent_probs_fwd_fast : sparse_categorical_xent_probs_fwd_ref)(
          probs.data(), labels.data(), 2, 2, &loss);
      EXPECT_TRUE(std::isnan(loss));
      std::vector<float> diff(4);
      (fast ? sparse_categorical_xent_probs_bwd_fast : sparse_categorical_xent_probs_bwd_ref)(
          probs.data(), labels.data(), 2, 2, 1.0f, diff.data());
      EXPECT_EQ(diff[2], 0.0f);
      EXPECT_EQ(diff[3], 0.0f);
      // Row 0 is unaffected: (1 - [k == 0] / 0.2) / 1 / 2.
      EXPECT_NEAR(diff[0], (1.0 - 5.0) / 2.0, 1e-6);
      EXPECT_NEAR(diff[1], 0.5, 1e-6);
    }
  }
}

TEST(LossesTest, ReferenceGradientsMatchFiniteDifferences) {
  for (const Rows& r : {Rows{1, 1}, Rows{1, 4}, Rows{3, 5}, Rows{5, 7}}) {
    for (LossCase& lc : loss_cases(r.n, r.c, 50)) {
      SCOPED_TRACE(lc.name + " " + name(r));
      std::vector<float> pred = lc.pred;
      auto loss = [&] {
        float l = 0.0f;
        lc.fwd(pred.data(), false, &l);
        return static_cast<double>(l);
      };
      std::vector<float> grad(pred.size());
      lc.bwd(pred.data(), false, 1.0f, grad.data());
      // Probabilities down to 0.05 over row sums up to c: a smaller step keeps the curvature of
      // log q out of the difference.
      EXPECT_TRUE(testing::gradient_check(loss, {&pred}, {grad}, 2e-3, 2e-2, 2e-4));
    }
  }
}

TEST(LossesTest, FastMatchesReferenceInsideGuards) {
  const Rows shapes[] = {{1, 1}, {1, 3}, {5, 7}, {128, 10}, {4097, 33}, {300, 1000}};
  for (const Rows& r : shapes) {
    for (LossCase& lc : loss_cases(r.n, r.c, 60)) {
      SCOPED_TRACE(lc.name + " " + name(r));
      std::vector<float> pred = lc.pred;
      // Some probabilities at 0 and 1 (clipped) and far logits, so every branch is compared
      // (not for one class: a single 0 would leave a row of categorical probabilities summing
      // to 0).
      for (size_t i = 0; i < pred.size() && r.c > 1; i += 17) {
        pred[i] = lc.pred[i] > 0.5f ? 1.0f : 0.0f;
      }
      for (size_t i = 5; i < pred.size(); i += 29) pred[i] *= 30.0f;
      float loss_ref = 0.0f;
      lc.fwd(pred.data(), false, &loss_ref);
      GuardedFloats loss(1);
      lc.fwd(pred.data(), true, loss.data());
      EXPECT_TRUE(loss.buffer.guards_intact());
      EXPECT_NEAR(loss.data()[0], loss_ref, 1e-5 * std::fabs(loss_ref) + 1e-7);

      std::vector<float> g_ref(pred.size());
      lc.bwd(pred.data(), false, 0.7f, g_ref.data());
      GuardedFloats g(static_cast<int64_t>(pred.size()));
      lc.bwd(pred.data(), true, 0.7f, g.data());
      EXPECT_TRUE(g.buffer.guards_intact());
      EXPECT_TRUE(all_close(g.values(), g_ref, 1e-4, testing::scaled_atol(g_ref) * 1e-2));
    }
  }
}

TEST(LossesTest, GradientsMayOverwriteThePrediction) {
  for (LossCase& lc : loss_cases(37, 29, 70)) {
    for (bool fast : {false, true}) {
      SCOPED_TRACE(lc.name + (fast ? " fast" : " reference"));
      std::vector<float> expected(lc.pred.size());
      lc.bwd(lc.pred.data(), fast, 1.3f, expected.data());
      std::vector<float> inplace = lc.pred;
      lc.bwd(inplace.data(), fast, 1.3f, inplace.data());
      EXPECT_TRUE(all_close(inplace, expected, 1e-6, 0.0));
    }
  }
}

TEST(LossesTest, FastLossDoesNotDependOnThreadCount) {
  const int saved = omp_get_max_threads();
  for (LossCase& lc : loss_cases(5000, 100, 80)) {
    SCOPED_TRACE(lc.name);
    float one = 0.0f, two = 0.0f, three = 0.0f;
    omp_set_num_threads(1);
    lc.fwd(lc.pred.data(), true, &one);
    omp_set_num_threads(2);
    lc.fwd(lc.pred.data(), true, &two);
    omp_set_num_threads(3);
    lc.fwd(lc.pred.data(), true, &three);
    EXPECT_EQ(std::memcmp(&one, &two, sizeof(float)), 0) << one << " vs " << two;
    EXPECT_EQ(std::memcmp(&one, &three, sizeof(float)), 0) << one << " vs " << three;
  }
  omp_set_num_threads(saved);
}

}  // namespace
}  // namespace leantrain::kernels

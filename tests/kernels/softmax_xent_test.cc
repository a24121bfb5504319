#include "kernels/softmax_xent.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::all_close;
using testing::random_floats;
using testing::random_labels;

struct Rows {
  int64_t n, c;
};

// batch 1 with one class, batch 1, odd shapes, Keras' MNIST head.
constexpr Rows kSmall[] = {{1, 1}, {1, 3}, {5, 7}, {3, 5}, {128, 10}};

TEST(SoftmaxXentTest, LossMatchesHandArithmetic) {
  // Row 0: logits (1, 2, 3), label 2: log(e + e^2 + e^3) - 3.
  // Row 1: logits (0, 0), label 0: log 2.
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f, 0.0f, 0.0f, -5.0f};
  const std::vector<int32_t> labels = {2, 0};
  const double row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
  const double row1 = std::log(2.0 + std::exp(-5.0));
  float loss = 0.0f;
  softmax_xent_fwd_ref(logits.data(), labels.data(), 2, 3, &loss);
  EXPECT_NEAR(loss, (row0 + row1) / 2.0, 1e-6);
  softmax_xent_fwd_fast(logits.data(), labels.data(), 2, 3, &loss);
  EXPECT_NEAR(loss, (row0 + row1) / 2.0, 1e-6);

  // Gradient of row 0: softmax - onehot, over N = 2, times diff_loss = 3.
  std::vector<float> diff(6);
  softmax_xent_bwd_ref(logits.data(), labels.data(), 2, 3, 3.0f, diff.data());
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(diff[0], std::exp(1.0) / z * 1.5, 1e-6);
  EXPECT_NEAR(diff[2], (std::exp(3.0) / z - 1.0) * 1.5, 1e-6);
}

TEST(SoftmaxXentTest, ReferenceGradientMatchesFiniteDifferences) {
  for (const Rows& r : kSmall) {
    SCOPED_TRACE(std::to_string(r.n) + "x" + std::to_string(r.c));
    std::vector<float> logits = random_floats(r.n * r.c, 3, -2.0f, 2.0f);
    const std::vector<int32_t> labels = random_labels(r.n, static_cast<int32_t>(r.c), 4);
    auto loss = [&] {
      float l = 0.0f;
      softmax_xent_fwd_ref(logits.data(), labels.data(), r.n, r.c, &l);
      return static_cast<double>(l);
    };
    std::vector<float> grad(logits.size());
    softmax_xent_bwd_ref(logits.data(), labels.data(), r.n, r.c, 1.0f, grad.data());
    EXPECT_TRUE(testing::gradient_check(loss, {&logits}, {grad}, 1e-2, 2e-2, 1e-4));
  }
}

TEST(SoftmaxXentTest, StableForHugeLogits) {
  // Rows: (1e4, 1e4 - 1, -1e4) label 0; (-1e4, 1e4, 1e4) label 0; (3e4, -3e4, 0) label 2.
  const std::vector<float> logits = {1e4f, 1e4f - 1.0f, -1e4f, -1e4f, 1e4f,
                                     1e4f, 3e4f,        -3e4f, 0.0f};
  const std::vector<int32_t> labels = {0, 0, 2};
  const double expected = (std::log(1.0 + std::exp(-1.0)) + (2e4 + std::log(2.0)) + 3e4) / 3.0;
  std::vector<float> diff(logits.size());
  float loss = 0.0f;
  softmax_xent_fwd_ref(logits.data(), labels.data(), 3, 3, &loss);
  EXPECT_NEAR(loss, expected, 1e-6 * expected);
  softmax_xent_fwd_fast(logits.data(), labels.data(), 3, 3, &loss);
  EXPECT_NEAR(loss, expected, 1e-6 * expected);
  softmax_xent_bwd_ref(logits.data(), labels.data(), 3, 3, 1.0f, diff.data());
  for (float d : diff) EXPECT_TRUE(std::isfinite(d));
  std::vector<float> diff_fast(logits.size());
  softmax_xent_bwd_fast(logits.data(), labels.data(), 3, 3, 1.0f, diff_fast.data());
  for (float d : diff_fast) EXPECT_TRUE(std::isfinite(d));
  EXPECT_TRUE(all_close(diff_fast, diff, 1e-6, 1e-7));
  // Row 1: softmax (0, 1/2, 1/2), label 0: gradient (-1, 1/2, 1/2) / 3.
  EXPECT_NEAR(diff[3], -1.0 / 3, 1e-7);
  EXPECT_NEAR(diff[4], 0.5 / 3, 1e-7);
}

TEST(SoftmaxXentTest, Top1CountsTiesForTheLowestIndex) {
  const std::vector<float> logits = {
      1.0f, 3.0f,  3.0f,  // tie between 1 and 2: predicts 1
      1.0f, 3.0f,  3.0f,  //
      2.0f, 2.0f,  2.0f,  // all equal: predicts 0
      0.0f, -1.0f, 5.0f,  // predicts 2
      0.0f, -1.0f, 5.0f,
  };
  const std::vector<int32_t> labels = {1, 2, 0, 2, 0};
  float correct = -1.0f;
  sparse_top1_correct(logits.data(), labels.data(), 5, 3, &correct);
  EXPECT_EQ(correct, 3.0f);
}

TEST(SoftmaxXentTest, FastMatchesReference) {
  const Rows shapes[] = {{1, 1}, {1, 3}, {5, 7}, {3, 5}, {128, 10}, {4097, 33}, {1000, 1000}};
  for (const Rows& r : shapes) {
    SCOPED_TRACE(std::to_string(r.n) + "x" + std::to_string(r.c));
    const std::vector<float> logits = random_floats(r.n * r.c, 5, -6.0f, 6.0f);
    const std::vector<int32_t> labels = random_labels(r.n, static_cast<int32_t>(r.c), 6);
    float loss_ref = 0.0f, loss_fast = 0.0f;
    softmax_xent_fwd_ref(logits.data(), labels.data(), r.n, r.c, &loss_ref);
    softmax_xent_fwd_fast(logits.data(), labels.data(), r.n, r.c, &loss_fast);
    EXPECT_NEAR(loss_fast, loss_ref, 2e-6 * std::fabs(loss_ref) + 1e-7);

    std::vector<float> g_ref(logits.size()), g_fast(logits.size());
    softmax_xent_bwd_ref(logits.data(), labels.data(), r.n, r.c, 0.7f, g_ref.data());
    softmax_xent_bwd_fast(logits.data(), labels.data(), r.n, r.c, 0.7f, g_fast.data());
    EXPECT_TRUE(all_close(g_fast, g_ref, 2e-6, 1e-7 / static_cast<double>(r.n)));
  }
}

TEST(SoftmaxXentTest, FastLossDoesNotDependOnThreadCount) {
  const int64_t n = 5000, c = 100;
  const std::vector<float> logits = random_floats(n * c, 7, -6.0f, 6.0f);
  const std::vector<int32_t> labels = random_labels(n, static_cast<int32_t>(c), 8);
  const int saved = omp_get_max_threads();
  float one = 0.0f, two = 0.0f, three = 0.0f;
  omp_set_num_threads(1);
  softmax_xent_fwd_fast(logits.data(), labels.data(), n, c, &one);
  omp_set_num_threads(2);
  softmax_xent_fwd_fast(logits.data(), labels.data(), n, c, &two);
  omp_set_num_threads(3);
  softmax_xent_fwd_fast(logits.data(), labels.data(), n, c, &three);
  omp_set_num_threads(saved);
  EXPECT_EQ(std::memcmp(&one, &two, sizeof(float)), 0) << one << " vs " << two;
  EXPECT_EQ(std::memcmp(&one, &three, sizeof(float)), 0) << one << " vs " << three;
}

}  // namespace
}  // namespace leantrain::kernels

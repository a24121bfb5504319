#include "kernels/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "testing/kernel_testing.h"
#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::GuardedFloats;
using testing::random_floats;
using testing::random_labels;

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// An independent oracle for top-k: JAX's formulation (keras/src/backend/jax/math.py): the label
// is in the top k when its value is >= the k-th largest value, duplicates counted. Non-finite
// rows and out-of-range labels never count (tf.math.in_top_k).
float top_k_by_sorting(const std::vector<float>& pred, const std::vector<int32_t>& labels,
                       int64_t n, int64_t c, int64_t k) {
  int64_t count = 0;
  for (int64_t r = 0; r < n; ++r) {
    std::vector<float> row(pred.begin() + r * c, pred.begin() + (r + 1) * c);
    const int32_t label = labels[static_cast<size_t>(r)];
    if (label < 0 || label >= c) continue;
    if (!std::all_of(row.begin(), row.end(), [](float v) { return std::isfinite(v); })) continue;
    const float value = row[static_cast<size_t>(label)];
    std::sort(row.begin(), row.end(), std::greater<float>());
    const float kth = row[static_cast<size_t>(std::min(k, c) - 1)];
    if (value >= kth) ++count;
  }
  return static_cast<float>(count);
}

// Values on a coarse grid so that ties are common.
std::vector<float> tied_values(int64_t size, uint64_t seed) {
  std::vector<float> v = random_floats(size, seed, 0.0f, 5.0f);
  for (float& x : v) x = std::floor(x);
  return v;
}

TEST(MetricsTest, TopKCountsTiesAtTheBoundaryAsInTfInTopK) {
  // k = 2 throughout.
  const std::vector<float> pred = {
      5, 4,    4,    1,  // label 2: one greater (5) < 2: counts (tie with index 1 straddles)
      5, 4,    4,    1,  // label 3: three greater: does not count
      3, 3,    3,    3,  // label 0: nothing greater: counts
      9, 8,    7,    1,  // label 2: two greater: does not count
      1, kNan, 2,    0,  // non-finite row: never counts
      1, 2,    kInf, 0,  // non-finite row: never counts
      1, 2,    3,    4,  // label 4 is out of range: never counts
  };
  const std::vector<int32_t> labels = {2, 3, 0, 2, 2, 1, 4};
  for (auto fn : {top_k_correct_ref, top_k_correct_fast}) {
    float correct = -1.0f;
    fn(pred.data(), labels.data(), 7, 4, 2, &correct);
    EXPECT_EQ(correct, 2.0f);
    // k = 1: only row 2 (all tied) counts; k >= C: every finite row with a valid label.
    fn(pred.data(), labels.data(), 7, 4, 1, &correct);
    EXPECT_EQ(correct, 1.0f);
    fn(pred.data(), labels.data(), 7, 4, 4, &correct);
    EXPECT_EQ(correct, 4.0f);
    fn(pred.data(), labels.data(), 7, 4, 9, &correct);
    EXPECT_EQ(correct, 4.0f);
  }
}

TEST(MetricsTest, CategoricalTop1ComparesFirstArgmaxes) {
  const std::vector<float> pred = {
      0.1f, 0.7f, 0.2f,  // argmax 1
      0.4f, 0.4f, 0.2f,  // tie: argmax 0
      0.4f, 0.4f, 0.2f,  // tie: argmax 0
      0.0f, 0.0f, 1.0f,  // argmax 2
  };
  const std::vector<float> target = {
      0,    1,    0,  // 1: match
      1,    0,    0,  // 0: match
      0,    1,    0,  // 1: no match
      0.2f, 0.2f, 0,  // soft target, tie: argmax 0: no match
  };
  for (auto fn : {categorical_top1_correct_ref, categorical_top1_correct_fast}) {
    float correct = -1.0f;
    fn(pred.data(), target.data(), 4, 3, &correct);
    EXPECT_EQ(correct, 2.0f);
  }
}

TEST(MetricsTest, BinaryCountsExactMatchesOfTheThresholdedPrediction) {
  const std::vector<float> pred = {0.2f, 0.5f, 0.51f, 0.9f, 0.9f, -3.0f, 0.7f};
  const std::vector<float> target = {0, 0, 1, 1, 0, 0, 0.7f};
  // 0.2 -> 0 == 0; 0.5 -> 0 (not > 0.5) == 0; 0.51 -> 1 == 1; 0.9 -> 1 == 1; 0.9 -> 1 != 0;
  // -3 -> 0 == 0; 0.7 -> 1 != 0.7 (a soft target never matches).
  for (auto fn : {binary_correct_ref, binary_correct_fast}) {
    float correct = -1.0f;
    fn(pred.data(), target.data(), 7, 0.5f, &correct);
    EXPECT_EQ(correct, 5.0f);
  }
  // Logits with threshold 0 agree with sigmoid(logit) > 0.5.
  const std::vector<float> logits = random_floats(1001, 5, -4.0f, 4.0f);
  std::vector<float> probs(logits.size()), labels(logits.size());
  const std::vector<float> coin = random_floats(1001, 6, 0.0f, 1.0f);
  for (size_t i = 0; i < logits.size(); ++i) {
    probs[i] = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(logits[i]))));
    labels[i] = coin[i] > 0.5f ? 1.0f : 0.0f;
  }
  float from_logits = 0.0f, from_probs = 0.0f;
  binary_correct_fast(logits.data(), labels.data(), 1001, 0.0f, &from_logits);
  binary_correct_ref(probs.data(), labels.data(), 1001, 0.5f, &from_probs);
  EXPECT_EQ(from_logits, from_probs);
}

TEST(MetricsTest, FastMatchesReferenceAndSortingOracle) {
  struct Rows {
    int64_t n, c;
  };
  for (const Rows& r : {Rows{1, 1}, Rows{5, 7}, Rows{128, 10}, Rows{4097, 33}, Rows{300, 1000}}) {
    SCOPED_TRACE(std::to_string(r.n) + "x" + std::to_string(r.c));
    const int64_t size = r.n * r.c;
    const std::vector<float> pred = tied_values(size, 91);
    const std::vector<float> target = tied_values(size, 92);
    const std::vector<int32_t> labels = random_labels(r.n, static_cast<int32_t>(r.c), 93);
    for (int64_t k : {1, 3, 5}) {
      float expected = top_k_by_sorting(pred, labels, r.n, r.c, k);
      float ref = -1.0f;
      top_k_correct_ref(pred.data(), labels.data(), r.n, r.c, k, &ref);
      GuardedFloats fast(1);
      top_k_correct_fast(pred.data(), labels.data(), r.n, r.c, k, fast.data());
      EXPECT_TRUE(fast.buffer.guards_intact());
      EXPECT_EQ(ref, expected) << "k " << k;
      EXPECT_EQ(fast.data()[0], expected) << "k " << k;
    }
    float ref = -1.0f;
    GuardedFloats fast(1);
    categorical_top1_correct_ref(pred.data(), target.data(), r.n, r.c, &ref);
    categorical_top1_correct_fast(pred.data(), target.data(), r.n, r.c, fast.data());
    EXPECT_TRUE(fast.buffer.guards_intact());
    EXPECT_EQ(fast.data()[0], ref);

    std::vector<float> binary_target(static_cast<size_t>(size));
    for (size_t i = 0; i < binary_target.size(); ++i) binary_target[i] = target[i] > 2.0f;
    binary_correct_ref(pred.data(), binary_target.data(), size, 2.5f, &ref);
    binary_correct_fast(pred.data(), binary_target.data(), size, 2.5f, fast.data());
    EXPECT_TRUE(fast.buffer.guards_intact());
    EXPECT_EQ(fast.data()[0], ref);
  }
}

}  // namespace
}  // namespace leantrain::kernels

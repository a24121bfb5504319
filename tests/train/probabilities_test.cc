#include "leantrain/train/probabilities.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/nn/layers.h"
#include "leantrain/nn/sequential.h"

namespace leantrain::train {
namespace {

nn::Sequential head(int64_t units, const std::string& activation) {
  return nn::Sequential(Shape{2}, {nn::Dense({.units = units, .activation = activation})});
}

TEST(AsProbabilitiesTest, SoftmaxOfEachRowOfLogits) {
  // Rows worked by hand: softmax(0, ln 3) = (1/4, 3/4); softmax(1000, 1000) = (1/2, 1/2), which
  // overflows unless the max is subtracted first.
  std::vector<float> v{0.0f, std::log(3.0f), 1000.0f, 1000.0f};
  as_probabilities(head(2, "linear"), v);
  EXPECT_NEAR(v[0], 0.25f, 1e-6f);
  EXPECT_NEAR(v[1], 0.75f, 1e-6f);
  EXPECT_FLOAT_EQ(v[2], 0.5f);
  EXPECT_FLOAT_EQ(v[3], 0.5f);
}

TEST(AsProbabilitiesTest, OneUnitIsTheSigmoidOfItsLogit) {
  std::vector<float> v{0.0f, std::log(3.0f)};
  as_probabilities(head(1, "linear"), v);
  EXPECT_FLOAT_EQ(v[0], 0.5f);
  EXPECT_NEAR(v[1], 0.75f, 1e-6f);
}

TEST(AsProbabilitiesTest, ASoftmaxHeadsOutputsAreLeftAsTheyAre) {
  const std::vector<float> given{0.1f, 0.2f, 0.7f, 5.0f, -1.0f, 3.0f};
  std::vector<float> v = given;
  as_probabilities(head(3, "softmax"), v);
  EXPECT_EQ(v, given);
}

TEST(AsProbabilitiesTest, RefusesValuesThatAreNotWholeRows) {
  std::vector<float> v(5, 0.0f);
  try {
    as_probabilities(head(2, "linear"), v);
    FAIL() << "expected Error(kInvalidArgument)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace leantrain::train

// Learning-rate schedules against Keras' formulas worked by hand at chosen steps (cosines of
// multiples of pi/3 and pi/2, powers of 1/2), including boundaries, warmup and staircase.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "leantrain/core/error.h"
#include "leantrain/data/idx.h"
#include "leantrain/nn/layers.h"
#include "leantrain/nn/sequential.h"
#include "leantrain/train/callbacks.h"
#include "leantrain/train/trainer.h"
#include "testing/testing.h"

namespace leantrain::train {
namespace {

constexpr double kTol = 1e-15;

template <typename F>
ErrorCode code_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kInternal;  // nothing thrown
}

TEST(CosineDecayTest, FollowsTheHalfCosineAndStaysAtItsEnd) {
  // decay_steps 6: cos(pi * 2/6) = 1/2, cos(pi * 3/6) = 0, cos(pi * 4/6) = -1/2.
  const LearningRateSchedule s = CosineDecay({.initial_learning_rate = 0.1, .decay_steps = 6});
  EXPECT_NEAR(s(0), 0.1, kTol);
  EXPECT_NEAR(s(2), 0.1 * 0.5 * (1 + 0.5), kTol);
  EXPECT_NEAR(s(3), 0.1 * 0.5, kTol);
  EXPECT_NEAR(s(4), 0.1 * 0.5 * (1 - 0.5), kTol);
  EXPECT_NEAR(s(6), 0.0, kTol);
  EXPECT_NEAR(s(1000), 0.0, kTol);  // step is capped at decay_steps
}

TEST(CosineDecayTest, AlphaIsTheFloorAsAFractionOfTheInitialRate) {
  const LearningRateSchedule s =
      CosineDecay({.initial_learning_rate = 0.1, .decay_steps = 6, .alpha = 0.2});
  EXPECT_NEAR(s(0), 0.1, kTol);
  EXPECT_NEAR(s(3), 0.1 * (0.8 * 0.5 + 0.2), kTol);
  EXPECT_NEAR(s(4), 0.1 * (0.8 * 0.25 + 0.2), kTol);
  EXPECT_NEAR(s(6), 0.1 * 0.2, kTol);
  EXPECT_NEAR(s(7), 0.1 * 0.2, kTol);
}

TEST(CosineDecayTest, WarmsUpLinearlyThenDecaysFromTheTarget) {
  const LearningRateSchedule s = CosineDecay(
      {.initial_learning_rate = 0.0, .decay_steps = 6, .warmup_target = 0.1, .warmup_steps = 4});
  EXPECT_NEAR(s(0), 0.0, kTol);
  EXPECT_NEAR(s(1), 0.025, kTol);
  EXPECT_NEAR(s(3), 0.075, kTol);
  EXPECT_NEAR(s(4), 0.1, kTol);                    // warmup over: decay step 0
  EXPECT_NEAR(s(6), 0.1 * 0.5 * (1 + 0.5), kTol);  // decay step 2
  EXPECT_NEAR(s(8), 0.1 * 0.5 * (1 - 0.5), kTol);  // decay step 4
  EXPECT_NEAR(s(10), 0.0, kTol);
  EXPECT_NEAR(s(50), 0.0, kTol);  // capped at warmup_steps + decay_steps
}

TEST(CosineDecayTest, WarmupStartsFromTheInitialRateAndAlphaAppliesToTheTarget) {
  const LearningRateSchedule s = CosineDecay({.initial_learning_rate = 0.01,
                                              .decay_steps = 6,
                                              .alpha = 0.1,
                                              .warmup_target = 0.05,
                                              .warmup_steps = 4});
  EXPECT_NEAR(s(0), 0.01, kTol);
  EXPECT_NEAR(s(2), 0.01 + 0.04 * 0.5, kTol);
  EXPECT_NEAR(s(7), 0.05 * (0.9 * 0.5 + 0.1), kTol);
  EXPECT_NEAR(s(10), 0.05 * 0.1, kTol);
}

TEST(CosineDecayTest, ATargetWithoutWarmupStepsDecaysFromTheTarget) {
  const LearningRateSchedule s =
      CosineDecay({.initial_learning_rate = 0.01, .decay_steps = 6, .warmup_target = 0.05});
  EXPECT_NEAR(s(0), 0.05, kTol);
  EXPECT_NEAR(s(3), 0.025, kTol);
}

TEST(CosineDecayTest, RejectsNonPositiveDecayStepsAndNegativeWarmup) {
  EXPECT_EQ(code_of([] { CosineDecay({.decay_steps = 0}); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { CosineDecay({.decay_steps = 10, .warmup_steps = -1}); }),
            ErrorCode::kInvalidArgument);
}

TEST(ExponentialDecayTest, DecaysContinuously) {
  const LearningRateSchedule s =
      ExponentialDecay({.initial_learning_rate = 0.1, .decay_steps = 10, .decay_rate = 0.5});
  EXPECT_NEAR(s(0), 0.1, kTol);
  EXPECT_NEAR(s(5), 0.1 / std::sqrt(2.0), kTol);
  EXPECT_NEAR(s(10), 0.05, kTol);
  EXPECT_NEAR(s(20), 0.025, kTol);
  EXPECT_NEAR(s(30), 0.0125, kTol);
}

TEST(ExponentialDecayTest, StaircaseChangesOnlyAtMultiplesOfDecaySteps) {
  const LearningRateSchedule s = ExponentialDecay(
      {.initial_learning_rate = 0.1, .decay_steps = 10, .decay_rate = 0.5, .staircase = true});
  EXPECT_NEAR(s(0), 0.1, kTol);
  EXPECT_NEAR(s(9), 0.1, kTol);
  EXPECT_NEAR(s(10), 0.05, kTol);
  EXPECT_NEAR(s(19), 0.05, kTol);
  EXPECT_NEAR(s(20), 0.025, kTol);
  EXPECT_NEAR(s(25), 0.025, kTol);
}

TEST(ExponentialDecayTest, RejectsNonPositiveDecaySteps) {
  EXPECT_EQ(code_of([] { ExponentialDecay({.decay_steps = 0}); }), ErrorCode::kInvalidArgument);
}

TEST(PiecewiseConstantDecayTest, ABoundaryStepStillHasTheValueBeforeIt) {
  const LearningRateSchedule s = PiecewiseConstantDecay({10, 20}, {1.0, 0.5, 0.1});
  EXPECT_EQ(s(0), 1.0);
  EXPECT_EQ(s(10), 1.0);
  EXPECT_EQ(s(11), 0.5);
  EXPECT_EQ(s(20), 0.5);
  EXPECT_EQ(s(21), 0.1);
  EXPECT_EQ(s(1000000), 0.1);
}

TEST(PiecewiseConstantDecayTest, RejectsMismatchedOrUnorderedBoundaries) {
  EXPECT_EQ(code_of([] {
              PiecewiseConstantDecay({10, 20}, {1.0, 0.5});
            }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] {
              PiecewiseConstantDecay({20, 10}, {1.0, 0.5, 0.1});
            }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] {
              PiecewiseConstantDecay({10, 10}, {1.0, 0.5, 0.1});
            }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { PiecewiseConstantDecay({}, {1.0}); }), ErrorCode::kInvalidArgument);
}

// The fit loop asks the schedule for the rate of each step, over completed steps (Keras'
// optimizer reads schedule(iterations) before incrementing them).
TEST(ScheduleInFitTest, TheLastStepUsesTheRateOfItsIteration) {
  data::LabeledImages d;
  d.count = 24;
  d.height = d.width = 4;
  d.num_classes = 3;
  for (const float v : testing::random_floats(24 * 16, 11, 0.0f, 255.0f)) {
    d.pixels.push_back(static_cast<uint8_t>(v));
  }
  d.labels = testing::random_labels(24, 3, 12);
  const nn::Sequential model(Shape{4, 4, 1}, {nn::Flatten(), nn::Dense({.units = 3})});
  Optimizer sgd = SGD({.learning_rate = 0.5f});
  sgd.schedule = PiecewiseConstantDecay({1, 4}, {0.5, 0.25, 0.125});
  Trainer trainer(model, {.optimizer = sgd});
  std::ostringstream out;
  trainer.fit(d, {.epochs = 1, .batch_size = 8, .verbose = 0, .out = &out});  // steps 0, 1, 2
  EXPECT_EQ(trainer.iterations(), 3);
  EXPECT_EQ(trainer.learning_rate(), 0.25);  // schedule(2): 1 < 2 <= 4
  trainer.fit(d, {.epochs = 1, .batch_size = 8, .verbose = 0, .out = &out});  // steps 3, 4, 5
  EXPECT_EQ(trainer.learning_rate(), 0.125);  // schedule(5): past the last boundary
}

}  // namespace
}  // namespace leantrain::train

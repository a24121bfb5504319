// CastToBF16 and CastToF32 through a compiled program (reference and fast kernels): the round
// trip gives each value rounded to bf16, shapes are kept, wrong input types are refused, and
// neither has a gradient.
#include "ops/cast.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/runtime/program.h"
#include "testing/testing.h"

namespace leantrain {
namespace {

using graph::KernelChoice;
using graph::Phase;
using graph::TensorSpec;
using graph::ValueKind;

class CastOpTest : public ::testing::TestWithParam<KernelChoice> {};

TEST_P(CastOpTest, RoundTripGivesEachValueRoundedToBf16) {
  // (2, 9, 7, 33): 4158 elements, vector tails included; a large range of magnitudes.
  const Shape shape{2, 9, 7, 33};
  graph::Graph g;
  const graph::ValueId x = g.add_value("x", TensorSpec{shape}, ValueKind::kInput);
  const graph::ValueId b = g.add(ops::cast_to_bf16(), {x}, "x/bf16", Phase::kForward);
  const graph::ValueId y = g.add(ops::cast_to_f32(), {b}, "x/f32", Phase::kForward);
  g.value(b).is_output = true;
  g.value(y).is_output = true;
  EXPECT_EQ(g.value(b).spec.dtype, DType::kBF16);
  EXPECT_EQ(g.value(b).spec.shape, shape);
  EXPECT_EQ(g.value(y).spec.dtype, DType::kF32);
  EXPECT_EQ(g.value(y).spec.shape, shape);

  runtime::PersistentStore store;
  store.allocate();
  runtime::SharedArena arena;
  runtime::Program p(g, store, arena, {.choice = GetParam()});
  std::vector<float> in = testing::random_floats(shape.num_elements(), 11, -3.0f, 3.0f);
  for (size_t i = 0; i < in.size(); i += 5) in[i] *= 1e30f;
  for (size_t i = 1; i < in.size(); i += 7) in[i] *= 1e-30f;
  std::copy(in.begin(), in.end(), p.view("x").f32());
  p.run(graph::StepState{});
  const auto* half = static_cast<const uint16_t*>(p.view("x/bf16").data);
  const float* out = p.view("x/f32").f32();
  for (size_t i = 0; i < in.size(); ++i) {
    const BF16 expected = float_to_bf16(in[i]);
    ASSERT_EQ(half[i], expected.bits) << "index " << i << ", x = " << in[i];
    ASSERT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(bf16_to_float(expected)))
        << "index " << i << ", x = " << in[i];
  }
}

// The centered pair: x - mean per channel rounded to bf16, and back with the mean added; the
// bits of the reference rule, channel counts with and without a vector tail. Channels whose mean
// is 1000x their spread, where plain bf16 loses x - mean but the centered copy keeps it.
TEST_P(CastOpTest, CenteredRoundTripKeepsTheDeviationFromTheMean) {
  for (const int64_t channels : {int64_t{3}, int64_t{16}, int64_t{40}}) {
    const Shape shape{4, 5, 7, channels};
    graph::Graph g;
    const graph::ValueId x = g.add_value("x", TensorSpec{shape}, ValueKind::kInput);
    const graph::ValueId m = g.add_value("m", TensorSpec{Shape{channels}}, ValueKind::kInput);
    const graph::ValueId b = g.add(ops::cast_to_bf16_centered(), {x, m}, "x/bf16", Phase::kForward);
    const graph::ValueId y = g.add(ops::cast_to_f32_centered(), {b, m}, "x/f32", Phase::kForward);
    g.value(b).is_output = true;
    g.value(y).is_output = true;
    g.value(m).is_output = true;  // read again below
    EXPECT_EQ(g.value(b).spec.dtype, DType::kBF16);
    EXPECT_EQ(g.value(b).spec.shape, shape);
    EXPECT_EQ(g.value(y).spec.dtype, DType::kF32);
    EXPECT_EQ(g.value(y).spec.shape, shape);

    runtime::PersistentStore store;
    store.allocate();
    runtime::SharedArena arena;
    runtime::Program p(g, store, arena, {.choice = GetParam()});
    const std::vector<float> mean = testing::random_floats(channels, 5, -500.0f, 500.0f);
    std::vector<float> in = testing::random_floats(shape.num_elements(), 12, -0.5f, 0.5f);
    for (size_t i = 0; i < in.size(); ++i) in[i] += mean[i % static_cast<size_t>(channels)];
    std::copy(in.begin(), in.end(), p.view("x").f32());
    std::copy(mean.begin(), mean.end(), p.view("m").f32());
    p.run(graph::StepState{});
    const auto* half = static_cast<const uint16_t*>(p.view("x/bf16").data);
    const float* out = p.view("x/f32").f32();
    double worst_centered = 0, worst_plain = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      const float mu = mean[i % static_cast<size_t>(channels)];
      const BF16 expected = float_to_bf16(in[i] - mu);
      ASSERT_EQ(half[i], expected.bits) << channels << " channels, index " << i;
      ASSERT_EQ(std::bit_cast<uint32_t>(out[i]),
                std::bit_cast<uint32_t>(bf16_to_float(expected) + mu))
          << channels << " channels, index " << i;
      const double d = static_cast<double>(in[i]) - mu;
      worst_centered = std::max(worst_centered, std::abs((static_cast<double>(out[i]) - mu) - d));
      worst_plain = std::max(
          worst_plain, std::abs(static_cast<double>(bf16_to_float(float_to_bf16(in[i]))) - mu - d));
    }
    // bf16 keeps 8 bits: |x - mean| < 0.5 rounds within 2^-10; x itself (up to 500) within 2.
    EXPECT_LE(worst_centered, 0.5 / 256 + 1e-4) << channels;
    EXPECT_GT(worst_plain, 100 * worst_centered) << channels;
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, CastOpTest,
                         ::testing::Values(KernelChoice::kReference, KernelChoice::kFast));

TEST(CastOpErrorsTest, RefusesTheWrongInputType) {
  graph::Graph g;
  const graph::ValueId f = g.add_value("f", TensorSpec{Shape{2, 3}}, ValueKind::kInput);
  const graph::ValueId h =
      g.add_value("h", TensorSpec{Shape{2, 3}, DType::kBF16}, ValueKind::kInput);
  const graph::ValueId i =
      g.add_value("i", TensorSpec{Shape{2, 3}, DType::kI32}, ValueKind::kInput);
  EXPECT_THROW(g.add(ops::cast_to_bf16(), {h}, "a", Phase::kForward), Error);
  EXPECT_THROW(g.add(ops::cast_to_bf16(), {i}, "b", Phase::kForward), Error);
  EXPECT_THROW(g.add(ops::cast_to_f32(), {f}, "c", Phase::kForward), Error);
  try {
    g.add(ops::cast_to_f32(), {f}, "d", Phase::kForward);
    FAIL() << "CastToF32 accepted an f32 input";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("CastToF32: input must be bf16, got f32"),
              std::string::npos)
        << e.what();
  }
}

TEST(CastOpErrorsTest, CenteredCastsRefuseAMeanOfTheWrongShape) {
  graph::Graph g;
  const graph::ValueId x = g.add_value("x", TensorSpec{Shape{2, 3}}, ValueKind::kInput);
  const graph::ValueId m4 = g.add_value("m4", TensorSpec{Shape{4}}, ValueKind::kInput);
  try {
    g.add(ops::cast_to_bf16_centered(), {x, m4}, "a", Phase::kForward);
    FAIL() << "CastToBF16Centered accepted a mean of 4 for 3 channels";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("the mean must be f32 of shape (channels,) = (3,), got "
                                         "f32 (4,)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(g.add(ops::cast_to_bf16_centered(), {x}, "b", Phase::kForward), Error);
}

TEST(CastOpErrorsTest, HasNoGradient) {
  graph::Graph g;
  const graph::ValueId f = g.add_value("f", TensorSpec{Shape{2, 3}}, ValueKind::kInput);
  const graph::ValueId h = g.add(ops::cast_to_bf16(), {f}, "h", Phase::kForward);
  graph::GradContext ctx(g, 0, {true});
  const graph::ValueId dy =
      g.add_value("dy", TensorSpec{Shape{2, 3}, DType::kBF16}, ValueKind::kActivation);
  (void)h;
  try {
    ops::cast_to_bf16()->gradient(ctx, g.node(0), std::vector<graph::ValueId>{dy});
    FAIL() << "CastToBF16 has a gradient";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
  }
}

}  // namespace
}  // namespace leantrain

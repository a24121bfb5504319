// The accuracy-count ops through a compiled program, with reference and fast kernels, on batches
// whose counts are worked out by hand; their shape checks; and that they have no gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "leantrain/graph/autodiff.h"
#include "leantrain/runtime/program.h"
#include "ops/ops.h"
#include "testing/testing.h"

namespace leantrain {
namespace {

using graph::KernelChoice;
using graph::ValueId;
using graph::ValueKind;

class MetricsOpTest : public ::testing::TestWithParam<KernelChoice> {};

TEST_P(MetricsOpTest, CountsMatchHandWorkedBatch) {
  // pred (4, 3); labels; one-hot-ish targets; binary targets.
  const std::vector<float> pred = {
      0.1f, 0.7f, 0.2f,  // order 1, 2, 0
      0.5f, 0.3f, 0.2f,  // order 0, 1, 2
      0.3f, 0.3f, 0.4f,  // order 2, then 0 and 1 tied
      0.6f, 0.1f, 0.3f,  // order 0, 2, 1
  };
  const std::vector<int32_t> labels = {1, 2, 1, 2};
  // top-1: rows 0 (label 1 is the max) -> 1. top-2: rows 0, 2 (one greater), 3 -> 3.
  const std::vector<float> target = {0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0};
  // categorical: argmaxes pred (1, 0, 2, 0) vs target (1, 1, 2, 0) -> 3.
  const std::vector<float> binary = {0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0};
  // pred > 0.5 -> (0 1 0 / 0 0 0 / 0 0 0 / 1 0 0): mismatches at 3, 8 -> 10 of 12.

  graph::Graph g;
  const ValueId p = g.add_value("pred", {Shape{4, 3}, DType::kF32}, ValueKind::kInput);
  const ValueId l = g.add_value("labels", {Shape{4}, DType::kI32}, ValueKind::kInput);
  const ValueId t = g.add_value("target", {Shape{4, 3}, DType::kF32}, ValueKind::kInput);
  const ValueId b = g.add_value("binary_target", {Shape{4, 3}, DType::kF32}, ValueKind::kInput);
  const std::vector<std::pair<std::string, ValueId>> outputs = {
      {"top1", g.add(ops::top_k_correct(1), {p, l}, "top1", graph::Phase::kLoss)},
      {"top2", g.add(ops::top_k_correct(2), {p, l}, "top2", graph::Phase::kLoss)},
      {"categorical",
       g.add(ops::categorical_top1_correct(), {p, t}, "categorical", graph::Phase::kLoss)},
      {"binary", g.add(ops::binary_correct(), {p, b}, "binary", graph::Phase::kLoss)},
  };
  for (const auto& [name, id] : outputs) g.value(id).is_output = true;
  runtime::PersistentStore store;
  store.allocate();
  runtime::SharedArena arena;
  runtime::Program program(std::move(g), store, arena, {.choice = GetParam()});
  std::copy(pred.begin(), pred.end(), program.view("pred").f32());
  std::copy(labels.begin(), labels.end(), program.view("labels").i32());
  std::copy(target.begin(), target.end(), program.view("target").f32());
  std::copy(binary.begin(), binary.end(), program.view("binary_target").f32());
  program.run(graph::StepState{});
  EXPECT_EQ(program.view("top1").f32()[0], 1.0f);
  EXPECT_EQ(program.view("top2").f32()[0], 3.0f);
  EXPECT_EQ(program.view("categorical").f32()[0], 3.0f);
  EXPECT_EQ(program.view("binary").f32()[0], 10.0f);
}

INSTANTIATE_TEST_SUITE_P(Kernels, MetricsOpTest,
                         ::testing::Values(KernelChoice::kReference, KernelChoice::kFast),
                         [](const auto& info) {
                           return info.param == KernelChoice::kFast ? "Fast" : "Reference";
                         });

TEST(MetricsOpShapeTest, RejectsBadShapesAndArguments) {
  graph::Graph g;
  const ValueId p = g.add_value("p", {Shape{4, 3}, DType::kF32}, ValueKind::kInput);
  const ValueId l_f32 = g.add_value("l", {Shape{4}, DType::kF32}, ValueKind::kInput);
  const ValueId t = g.add_value("t", {Shape{4, 2}, DType::kF32}, ValueKind::kInput);
  auto expect_invalid = [&](const ops::OpPtr& op, std::vector<ValueId> in, const char* what) {
    try {
      g.add_node(op, in, g.unique_name("m"), graph::Phase::kLoss);
      ADD_FAILURE() << what << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << what;
    }
  };
  expect_invalid(ops::top_k_correct(5), {p, l_f32}, "f32 labels");
  expect_invalid(ops::categorical_top1_correct(), {p, t}, "target shape");
  expect_invalid(ops::binary_correct(), {p, t}, "binary shape");
  EXPECT_THROW(ops::top_k_correct(0), Error);
  EXPECT_THROW(ops::binary_correct(std::numeric_limits<float>::quiet_NaN()), Error);
}

TEST(MetricsOpShapeTest, MetricsHaveNoGradient) {
  graph::Graph g;
  const ValueId p = g.add_value("p", {Shape{2, 3}, DType::kF32}, ValueKind::kParameter);
  const ValueId l = g.add_value("l", {Shape{2}, DType::kI32}, ValueKind::kInput);
  const ValueId count = g.add(ops::top_k_correct(1), {p, l}, "count", graph::Phase::kLoss);
  try {
    graph::add_backward(g, count, ops::add(), ops::copy());
    FAIL() << "a metric must not be differentiated";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
  }
}

}  // namespace
}  // namespace leantrain

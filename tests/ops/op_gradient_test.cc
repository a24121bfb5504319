// Every op's gradient rule, checked end to end through autodiff and the compiled program:
// loss = softmax cross-entropy of the op's output (flattened) against fixed labels; every float
// input is a parameter, so autodiff computes its gradient; central differences come from rerunning
// the program with one element perturbed. Runs with reference and fast kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "leantrain/core/rng.h"
#include "leantrain/graph/autodiff.h"
#include "leantrain/runtime/program.h"
#include "ops/ops.h"
#include "testing/testing.h"

namespace leantrain {
namespace {

using graph::KernelChoice;
using graph::ValueId;
using graph::ValueKind;

struct Case {
  std::string name;
  ops::OpPtr op;
  std::vector<Shape> inputs;
  // Inputs that must stay positive (variances) or away from kinks get a custom range.
  std::function<void(size_t, std::vector<float>&)> adjust;
  size_t num_differentiable = 0;  // 0: all inputs; else inputs from here on are non-trainable
};

void check_case(const Case& c, KernelChoice choice) {
  graph::Graph g;
  std::vector<ValueId> in;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const bool trainable = c.num_differentiable == 0 || i < c.num_differentiable;
    in.push_back(g.add_value("x" + std::to_string(i), {c.inputs[i], DType::kF32},
                             trainable ? ValueKind::kParameter : ValueKind::kState));
  }
  const std::vector<ValueId> outs = g.add_node(c.op, in, "op", graph::Phase::kForward);
  const Shape y = g.value(outs[0]).spec.shape;
  const ValueId flat = g.add(ops::reshape(Shape{y.num_elements() / y[0]}), {outs[0]}, "flat",
                             graph::Phase::kForward);
  const ValueId labels = g.add_value("labels", {Shape{y[0]}, DType::kI32}, ValueKind::kInput);
  const ValueId loss =
      g.add(ops::softmax_cross_entropy(), {flat, labels}, "loss", graph::Phase::kLoss);
  g.value(loss).is_output = true;
  const auto grads = graph::add_backward(g, loss, ops::add(), ops::copy());

  runtime::PersistentStore store;
  for (const graph::Value& v : g.values()) {
    if (graph::is_persistent(v.kind)) store.declare(v.name, v.spec, v.kind);
  }
  store.allocate();
  std::vector<std::vector<float>> values;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    values.push_back(testing::random_floats(c.inputs[i].num_elements(), 100 + i));
    if (c.adjust) c.adjust(i, values.back());
  }
  runtime::SharedArena arena;
  runtime::Program program(std::move(g), store, arena, {.choice = choice});
  ASSERT_TRUE(program.all_pointers_inside());
  const std::vector<int32_t> label_values =
      testing::random_labels(y[0], static_cast<int32_t>(y.num_elements() / y[0]), 7);

  const graph::StepState state{1, 0.0f, 42};
  auto run = [&]() -> double {
    for (size_t i = 0; i < values.size(); ++i) {
      std::copy(values[i].begin(), values[i].end(), store.view("x" + std::to_string(i)).f32());
    }
    std::copy(label_values.begin(), label_values.end(), program.view("labels").i32());
    program.run(state);
    return program.view("loss").f32()[0];
  };
  run();
  std::vector<std::vector<float>> analytic;
  std::vector<std::vector<float>*> inputs;
  const size_t checked = c.num_differentiable == 0 ? values.size() : c.num_differentiable;
  for (size_t i = 0; i < checked; ++i) {
    const std::string name = "x" + std::to_string(i) + "/grad";
    ASSERT_TRUE(store.contains(name)) << c.name << ": no gradient for input " << i;
    const TensorView gv = store.view(name);
    analytic.emplace_back(gv.f32(), gv.f32() + gv.num_elements());
    inputs.push_back(&values[i]);
  }
  EXPECT_TRUE(testing::gradient_check(run, inputs, analytic, 1e-2, 3e-2, 2e-4)) << c.name;
}

std::vector<Case> cases() {
  ops::ConvAttrs same3{3, 3, 1, 1, 1, 1, ops::Padding::kSame};
  ops::ConvAttrs even_same_s2{2, 2, 2, 2, 1, 1, ops::Padding::kSame};
  ops::ConvAttrs dilated{3, 3, 1, 1, 2, 2, ops::Padding::kValid};
  ops::ConvAttrs groups2_same{3, 3, 1, 1, 1, 1, ops::Padding::kSame, 2};
  ops::ConvAttrs groups4_s2_valid{3, 2, 2, 1, 1, 1, ops::Padding::kValid, 4};
  auto away_from_kinks = [](size_t i, std::vector<float>& v) {
    if (i != 0) return;
    for (float& x : v) x = x >= 0 ? x + 0.05f : x - 0.05f;  // no relu kink within eps
  };
  auto relu6_range = [](size_t i, std::vector<float>& v) {
    if (i != 0) return;
    for (float& x : v) x = x * 4.0f + 3.0f + (x >= 0 ? 0.05f : -0.05f);  // spans 0 and 6
    for (float& x : v) {
      if (std::fabs(x - 6.0f) < 0.05f) x += 0.1f;
    }
  };
  // Max pooling's derivative jumps where two window values tie: spread the values apart
  // (distinct multiples of 0.05, shuffled) so a perturbation of eps never changes a maximum.
  auto distinct = [](size_t i, std::vector<float>& v) {
    if (i != 0) return;
    Rng rng(11);
    for (size_t k = 0; k < v.size(); ++k) v[k] = 0.05f * static_cast<float>(k) - 1.0f;
    for (size_t k = v.size() - 1; k > 0; --k) std::swap(v[k], v[rng.below(k + 1)]);
  };
  std::vector<Case> out = {
      {"conv2d same 3x3 + bias", ops::conv2d(same3), {{2, 5, 7, 3}, {3, 3, 3, 4}, {4}}, nullptr},
      {"conv2d 2x2 same stride 2",
       ops::conv2d(even_same_s2),
       {{1, 5, 5, 2}, {2, 2, 2, 3}},
       nullptr},
      {"conv2d dilated", ops::conv2d(dilated), {{1, 7, 6, 2}, {3, 3, 2, 2}, {2}}, nullptr},
      {"conv2d 1x1 image", ops::conv2d(same3), {{2, 1, 1, 3}, {3, 3, 3, 2}, {2}}, nullptr},
      {"conv2d groups 2 same + bias",
       ops::conv2d(groups2_same),
       {{2, 5, 4, 4}, {3, 3, 2, 6}, {6}},
       nullptr},
      {"conv2d groups 4 stride 2 valid",
       ops::conv2d(groups4_s2_valid),
       {{1, 7, 5, 8}, {3, 2, 2, 4}},
       nullptr},
      {"depthwise multiplier 2",
       ops::depthwise_conv2d(same3),
       {{2, 5, 4, 3}, {3, 3, 3, 2}, {6}},
       nullptr},
      {"depthwise stride 2",
       ops::depthwise_conv2d(even_same_s2),
       {{1, 5, 5, 3}, {2, 2, 3, 1}},
       nullptr},
      {"dense", ops::dense(), {{3, 5}, {5, 4}, {4}}, nullptr},
      {"dense batch 1 no bias", ops::dense(), {{1, 5}, {5, 3}}, nullptr},
      {"batch norm training",
       ops::batch_norm(true, 0.99f, 1e-3f),
       {{4, 3, 2, 5}, {5}, {5}, {5}, {5}},
       nullptr,
       3},
      {"relu", ops::activation(ops::ActivationKind::kRelu), {{2, 3, 4}}, away_from_kinks},
      {"relu6", ops::activation(ops::ActivationKind::kRelu6), {{2, 3, 4}}, relu6_range},
      {"sigmoid", ops::activation(ops::ActivationKind::kSigmoid), {{2, 3, 4}}, nullptr},
      {"tanh", ops::activation(ops::ActivationKind::kTanh), {{2, 3, 4}}, nullptr},
      {"swish", ops::activation(ops::ActivationKind::kSwish), {{2, 3, 4}}, nullptr},
      {"max pool 2x2", ops::max_pool({2, 2, 2, 2, ops::Padding::kValid}), {{2, 5, 4, 3}}, distinct},
      {"max pool 3x3 s2 same",
       ops::max_pool({3, 3, 2, 2, ops::Padding::kSame}),
       {{1, 5, 7, 2}},
       distinct},
      {"avg pool 3x3 s2 same",
       ops::avg_pool({3, 3, 2, 2, ops::Padding::kSame}),
       {{2, 5, 7, 2}},
       nullptr},
      {"global avg pool", ops::global_avg_pool(), {{2, 3, 5, 4}}, nullptr},
      {"add", ops::add(), {{2, 3, 4}, {2, 3, 4}}, nullptr},
      {"dropout", ops::dropout(0.3f, 99), {{4, 6}}, nullptr},
  };
  return out;
}

class OpGradientTest : public ::testing::TestWithParam<KernelChoice> {};

TEST_P(OpGradientTest, MatchesCentralDifferences) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    check_case(c, GetParam());
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, OpGradientTest,
                         ::testing::Values(KernelChoice::kReference, KernelChoice::kFast),
                         [](const auto& info) {
                           return info.param == KernelChoice::kFast ? "Fast" : "Reference";
                         });

TEST(OpShapeTest, RejectsBadShapesWithClearErrors) {
  ops::ConvAttrs k3{3, 3, 1, 1, 1, 1, ops::Padding::kValid};
  graph::Graph g;
  const ValueId x = g.add_value("x", {Shape{1, 2, 2, 3}, DType::kF32}, ValueKind::kInput);
  const ValueId w = g.add_value("w", {Shape{3, 3, 3, 4}, DType::kF32}, ValueKind::kParameter);
  try {
    g.add_node(ops::conv2d(k3), {x, w}, "conv", graph::Phase::kForward);
    FAIL() << "a 3x3 valid conv on a 2x2 image must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
  const ValueId w_bad = g.add_value("w2", {Shape{3, 3, 5, 4}, DType::kF32}, ValueKind::kParameter);
  const ValueId big = g.add_value("big", {Shape{1, 8, 8, 3}, DType::kF32}, ValueKind::kInput);
  EXPECT_THROW(g.add_node(ops::conv2d(k3), {big, w_bad}, "conv2", graph::Phase::kForward), Error);
  EXPECT_THROW(ops::parse_padding("causal"), Error);
  // groups: 2 must divide both the 3 input channels and the filters; kernel dimension 2 must be
  // C / groups; depthwise takes no groups.
  ops::ConvAttrs g2{3, 3, 1, 1, 1, 1, ops::Padding::kValid, 2};
  const ValueId w_g = g.add_value("w3", {Shape{3, 3, 1, 4}, DType::kF32}, ValueKind::kParameter);
  try {
    g.add_node(ops::conv2d(g2), {big, w_g}, "conv3", graph::Phase::kForward);
    FAIL() << "groups=2 with 3 input channels must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("groups=2"), std::string::npos) << e.what();
  }
  const ValueId even = g.add_value("even", {Shape{1, 8, 8, 4}, DType::kF32}, ValueKind::kInput);
  const ValueId w_full = g.add_value("w4", {Shape{3, 3, 4, 4}, DType::kF32}, ValueKind::kParameter);
  EXPECT_THROW(g.add_node(ops::conv2d(g2), {even, w_full}, "conv4", graph::Phase::kForward), Error);
  const ValueId w_half = g.add_value("w5", {Shape{3, 3, 2, 4}, DType::kF32}, ValueKind::kParameter);
  EXPECT_EQ(
      g.value(g.add(ops::conv2d(g2), {even, w_half}, "conv5", graph::Phase::kForward)).spec.shape,
      (Shape{1, 6, 6, 4}));
  EXPECT_THROW(ops::conv2d(ops::ConvAttrs{3, 3, 1, 1, 1, 1, ops::Padding::kValid, 0}), Error);
  EXPECT_THROW(ops::depthwise_conv2d(g2), Error);
  EXPECT_EQ(ops::parse_padding("SAME"), ops::Padding::kSame);
}

}  // namespace
}  // namespace leantrain

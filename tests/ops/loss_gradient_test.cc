// The gradient rules of softmax, the losses and the L2 penalty, checked end to end through
// autodiff and the compiled program, with reference and fast kernels. Each op runs two ways:
// - final: its output is the loss (autodiff seeds it with 1, the backward node has no dy input);
// - chained: its output feeds mean_squared_error against a fixed target, so its backward node
//   reads a real incoming gradient.
// Central differences come from rerunning the program with one element perturbed.
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

// One input of the op under test: f32 inputs are parameters (their gradients are checked) or,
// when not trainable, fixed targets; i32 inputs are labels in [0, last dim of input 0).
struct Input {
  Shape shape;
  DType dtype = DType::kF32;
  float low = -1.0f, high = 1.0f;
  bool trainable = true;
};

Input target(Shape shape, float low = 0.0f, float high = 1.0f) {
  return Input{shape, DType::kF32, low, high, false};
}
Input labels(int64_t n) { return Input{Shape{n}, DType::kI32, 0.0f, 0.0f, false}; }

struct Case {
  std::string name;
  ops::OpPtr op;
  std::vector<Input> inputs;
  bool scalar = true;  // a loss: also checked as the final loss
  double eps = 1e-2;
};

enum class Mode { kFinal, kChained };

std::string input_name(size_t i) { return "x" + std::to_string(i); }

void check_case(const Case& c, KernelChoice choice, Mode mode) {
  graph::Graph g;
  std::vector<ValueId> in;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Input& spec = c.inputs[i];
    const ValueKind kind = spec.dtype == DType::kI32 ? ValueKind::kInput
                           : spec.trainable          ? ValueKind::kParameter
                                                     : ValueKind::kState;
    in.push_back(g.add_value(input_name(i), {spec.shape, spec.dtype}, kind));
  }
  const ValueId out = g.add_node(c.op, in, "op", graph::Phase::kForward)[0];
  ValueId loss = out;
  std::vector<float> t_values;
  if (mode == Mode::kChained) {
    const graph::TensorSpec out_spec = g.value(out).spec;
    const ValueId t = g.add_value("t", out_spec, ValueKind::kState);
    t_values = testing::random_floats(out_spec.shape.num_elements(), 9);
    loss = g.add(ops::mean_squared_error(), {out, t}, "mse", graph::Phase::kLoss);
  }
  const std::string loss_name = g.value(loss).name;
  g.value(loss).is_output = true;
  graph::add_backward(g, loss, ops::add(), ops::copy());

  runtime::PersistentStore store;
  for (const graph::Value& v : g.values()) {
    if (graph::is_persistent(v.kind)) store.declare(v.name, v.spec, v.kind);
  }
  store.allocate();
  std::vector<std::vector<float>> values(c.inputs.size());
  std::vector<std::vector<int32_t>> label_values(c.inputs.size());
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Input& spec = c.inputs[i];
    if (spec.dtype == DType::kI32) {
      const auto classes = static_cast<int32_t>(c.inputs[0].shape.dim(-1));
      label_values[i] = testing::random_labels(spec.shape.num_elements(), classes, 200 + i);
    } else {
      values[i] = testing::random_floats(spec.shape.num_elements(), 100 + i, spec.low, spec.high);
    }
  }
  runtime::SharedArena arena;
  runtime::Program program(std::move(g), store, arena, {.choice = choice});
  ASSERT_TRUE(program.all_pointers_inside());

  const graph::StepState state{1, 0.0f, 42};
  auto run = [&]() -> double {
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      if (c.inputs[i].dtype == DType::kI32) {
        std::copy(label_values[i].begin(), label_values[i].end(),
                  program.view(input_name(i)).i32());
      } else {
        std::copy(values[i].begin(), values[i].end(), store.view(input_name(i)).f32());
      }
    }
    if (!t_values.empty()) std::copy(t_values.begin(), t_values.end(), store.view("t").f32());
    program.run(state);
    return program.view(loss_name).f32()[0];
  };
  run();
  std::vector<std::vector<float>> analytic;
  std::vector<std::vector<float>*> checked;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (c.inputs[i].dtype != DType::kF32 || !c.inputs[i].trainable) continue;
    const std::string name = input_name(i) + "/grad";
    ASSERT_TRUE(store.contains(name)) << "no gradient for input " << i;
    const TensorView gv = store.view(name);
    analytic.emplace_back(gv.f32(), gv.f32() + gv.num_elements());
    checked.push_back(&values[i]);
  }
  EXPECT_TRUE(testing::gradient_check(run, checked, analytic, c.eps, 3e-2, 2e-4));
}

std::vector<Case> cases() {
  return {
      {"softmax (2,3,5)", ops::softmax(), {{Shape{2, 3, 5}, DType::kF32, -2.0f, 2.0f}}, false},
      {"softmax rank 1", ops::softmax(), {{Shape{7}, DType::kF32, -2.0f, 2.0f}}, false},
      {"categorical from logits",
       ops::categorical_cross_entropy(true),
       {{Shape{4, 5}, DType::kF32, -3.0f, 3.0f}, target(Shape{4, 5})}},
      {"categorical from probabilities",
       ops::categorical_cross_entropy(false),
       {{Shape{4, 5}, DType::kF32, 0.2f, 1.0f}, target(Shape{4, 5})},
       true,
       5e-3},
      {"sparse categorical from logits (fused)",
       ops::sparse_categorical_cross_entropy(true),
       {{Shape{4, 5}, DType::kF32, -3.0f, 3.0f}, labels(4)}},
      {"sparse categorical from probabilities",
       ops::sparse_categorical_cross_entropy(false),
       {{Shape{4, 5}, DType::kF32, 0.2f, 1.0f}, labels(4)},
       true,
       5e-3},
      {"binary from logits (3,4)",
       ops::binary_cross_entropy(true),
       {{Shape{3, 4}, DType::kF32, -3.0f, 3.0f}, target(Shape{3, 4})}},
      {"binary from logits rank 1",
       ops::binary_cross_entropy(true),
       {{Shape{6}, DType::kF32, -3.0f, 3.0f}, target(Shape{6})}},
      {"binary from probabilities",
       ops::binary_cross_entropy(false),
       {{Shape{3, 4}, DType::kF32, 0.1f, 0.9f}, target(Shape{3, 4})},
       true,
       5e-3},
      {"mean squared error",
       ops::mean_squared_error(),
       {{Shape{3, 4}, DType::kF32, -2.0f, 2.0f}, target(Shape{3, 4}, -2.0f, 2.0f)}},
      {"l2 penalty", ops::l2_penalty(0.05f), {{Shape{3, 4}}}},
  };
}

class LossGradientTest : public ::testing::TestWithParam<KernelChoice> {};

TEST_P(LossGradientTest, FinalLossMatchesCentralDifferences) {
  for (const Case& c : cases()) {
    if (!c.scalar) continue;
    SCOPED_TRACE(c.name);
    check_case(c, GetParam(), Mode::kFinal);
  }
}

TEST_P(LossGradientTest, ChainedOpMatchesCentralDifferences) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    check_case(c, GetParam(), Mode::kChained);
  }
}

TEST_P(LossGradientTest, LossesSummedWithAddMatchCentralDifferences) {
  // mse(categorical(pred, t) + l2(w), target): the sum's incoming gradient reaches both terms.
  graph::Graph g;
  const ValueId pred = g.add_value("pred", {Shape{3, 4}, DType::kF32}, ValueKind::kParameter);
  const ValueId w = g.add_value("w", {Shape{5}, DType::kF32}, ValueKind::kParameter);
  const ValueId t = g.add_value("t", {Shape{3, 4}, DType::kF32}, ValueKind::kState);
  const ValueId goal = g.add_value("goal", {Shape{1}, DType::kF32}, ValueKind::kState);
  const ValueId xent =
      g.add(ops::categorical_cross_entropy(true), {pred, t}, "xent", graph::Phase::kLoss);
  const ValueId penalty = g.add(ops::l2_penalty(0.1f), {w}, "l2", graph::Phase::kLoss);
  const ValueId sum = g.add(ops::add(), {xent, penalty}, "sum", graph::Phase::kLoss);
  const ValueId loss = g.add(ops::mean_squared_error(), {sum, goal}, "loss", graph::Phase::kLoss);
  g.value(loss).is_output = true;
  graph::add_backward(g, loss, ops::add(), ops::copy());
  runtime::PersistentStore store;
  for (const graph::Value& v : g.values()) {
    if (graph::is_persistent(v.kind)) store.declare(v.name, v.spec, v.kind);
  }
  store.allocate();
  std::vector<float> pred_values = testing::random_floats(12, 1, -2.0f, 2.0f);
  std::vector<float> w_values = testing::random_floats(5, 2, -2.0f, 2.0f);
  const std::vector<float> t_values = testing::random_floats(12, 3, 0.0f, 1.0f);
  runtime::SharedArena arena;
  runtime::Program program(std::move(g), store, arena, {.choice = GetParam()});
  auto run = [&]() -> double {
    std::copy(pred_values.begin(), pred_values.end(), store.view("pred").f32());
    std::copy(w_values.begin(), w_values.end(), store.view("w").f32());
    std::copy(t_values.begin(), t_values.end(), store.view("t").f32());
    store.view("goal").f32()[0] = -0.5f;
    program.run(graph::StepState{});
    return program.view("loss").f32()[0];
  };
  run();
  const TensorView dpred = store.view("pred/grad"), dw = store.view("w/grad");
  EXPECT_TRUE(testing::gradient_check(run, {&pred_values, &w_values},
                                      {{dpred.f32(), dpred.f32() + 12}, {dw.f32(), dw.f32() + 5}},
                                      1e-2, 3e-2, 2e-4));
}

INSTANTIATE_TEST_SUITE_P(Kernels, LossGradientTest,
                         ::testing::Values(KernelChoice::kReference, KernelChoice::kFast),
                         [](const auto& info) {
                           return info.param == KernelChoice::kFast ? "Fast" : "Reference";
                         });

TEST(LossOpTest, SoftmaxKeepsItsOutputAndRunsInPlace) {
  const ops::OpPtr op = ops::softmax();
  const graph::SavedForBackward saved = op->saved_for_backward();
  EXPECT_TRUE(saved.inputs.empty());
  EXPECT_EQ(saved.outputs, std::vector<int>{0});
  EXPECT_EQ(op->inplace_input(), 0);
}

TEST(LossOpTest, LossesOutputOneFloatAndKeepPredictionAndTarget) {
  graph::Graph g;
  const ValueId p = g.add_value("p", {Shape{4, 3}, DType::kF32}, ValueKind::kInput);
  const ValueId t = g.add_value("t", {Shape{4, 3}, DType::kF32}, ValueKind::kInput);
  const ValueId l = g.add_value("l", {Shape{4}, DType::kI32}, ValueKind::kInput);
  const std::vector<std::pair<ops::OpPtr, ValueId>> losses = {
      {ops::categorical_cross_entropy(true), t},
      {ops::categorical_cross_entropy(false), t},
      {ops::sparse_categorical_cross_entropy(true), l},
      {ops::sparse_categorical_cross_entropy(false), l},
      {ops::binary_cross_entropy(true), t},
      {ops::binary_cross_entropy(false), t},
      {ops::mean_squared_error(), t}};
  for (size_t i = 0; i < losses.size(); ++i) {
    const ValueId out = g.add(losses[i].first, {p, losses[i].second}, "loss" + std::to_string(i),
                              graph::Phase::kLoss);
    EXPECT_EQ(g.value(out).spec.shape, Shape{1});
    EXPECT_EQ(g.value(out).spec.dtype, DType::kF32);
    EXPECT_EQ(losses[i].first->saved_for_backward().inputs, (std::vector<int>{0, 1}));
  }
}

void expect_invalid(const std::function<void()>& fn, const std::string& what) {
  try {
    fn();
    ADD_FAILURE() << what << ": no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << what << ": " << e.what();
  }
}

TEST(LossOpTest, RejectsBadShapesAndArgumentsWithClearErrors) {
  graph::Graph g;
  const ValueId p = g.add_value("p", {Shape{4, 3}, DType::kF32}, ValueKind::kInput);
  const ValueId p_flat = g.add_value("p1", {Shape{12}, DType::kF32}, ValueKind::kInput);
  const ValueId t_wrong = g.add_value("t", {Shape{4, 2}, DType::kF32}, ValueKind::kInput);
  const ValueId l_f32 = g.add_value("lf", {Shape{4}, DType::kF32}, ValueKind::kInput);
  const ValueId l_short = g.add_value("ls", {Shape{3}, DType::kI32}, ValueKind::kInput);
  const ValueId ints = g.add_value("i", {Shape{4, 3}, DType::kI32}, ValueKind::kInput);
  auto add = [&](const ops::OpPtr& op, std::vector<ValueId> in) {
    return [&g, op, in] { g.add_node(op, in, g.unique_name("bad"), graph::Phase::kLoss); };
  };
  expect_invalid(add(ops::categorical_cross_entropy(false), {p, t_wrong}), "categorical shapes");
  expect_invalid(add(ops::categorical_cross_entropy(true), {p_flat, p_flat}), "categorical rank");
  expect_invalid(add(ops::sparse_categorical_cross_entropy(false), {p, l_f32}), "f32 labels");
  expect_invalid(add(ops::sparse_categorical_cross_entropy(true), {p, l_short}), "label count");
  expect_invalid(add(ops::binary_cross_entropy(true), {p, p_flat}), "binary shapes");
  expect_invalid(add(ops::mean_squared_error(), {p, ints}), "mse dtype");
  expect_invalid(add(ops::softmax(), {ints}), "softmax dtype");
  expect_invalid(add(ops::l2_penalty(0.01f), {ints}), "l2 dtype");
  expect_invalid([] { ops::l2_penalty(-0.1f); }, "negative l2");
  expect_invalid([] { ops::l2_penalty(std::numeric_limits<float>::quiet_NaN()); }, "NaN l2");
}

TEST(LossOpTest, TargetsThatNeedAGradientAreRejected) {
  graph::Graph g;
  const ValueId p = g.add_value("p", {Shape{2, 3}, DType::kF32}, ValueKind::kParameter);
  const ValueId t = g.add_value("t", {Shape{2, 3}, DType::kF32}, ValueKind::kParameter);
  const ValueId loss = g.add(ops::mean_squared_error(), {p, t}, "loss", graph::Phase::kLoss);
  try {
    graph::add_backward(g, loss, ops::add(), ops::copy());
    FAIL() << "a trainable target must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_NE(std::string(e.what()).find("target"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace leantrain

// fold_zero_padding and convolutions with explicit padding: a folded ZeroPadding2D gives the
// unfolded graph's loss and gradients (reference and fast kernels), explicit padding has
// gradients that match central differences, and pads are folded only where that is exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "leantrain/graph/autodiff.h"
#include "leantrain/passes/fold_zero_padding.h"
#include "leantrain/runtime/program.h"
#include "ops/ops.h"
#include "ops/program_gradient_check.h"
#include "testing/testing.h"

namespace leantrain {
namespace {

using graph::Graph;
using graph::KernelChoice;
using graph::Phase;
using graph::ValueId;
using graph::ValueKind;

ops::ConvAttrs window(int64_t k, int64_t stride, int64_t dilation = 1) {
  ops::ConvAttrs a;
  a.kernel_h = a.kernel_w = k;
  a.stride_h = a.stride_w = stride;
  a.dilation_h = a.dilation_w = dilation;
  return a;
}

int count_ops(const Graph& g, const std::string& type) {
  return static_cast<int>(
      std::count_if(g.nodes().begin(), g.nodes().end(),
                    [&](const graph::Node& n) { return n.op->type() == type; }));
}

// Replaces `g` with its folded graph (`ids` mapped to it); returns the number of pads folded,
// each one node fewer.
int fold_in_place(Graph& g, std::span<ValueId> ids) {
  Graph folded = passes::fold_zero_padding(g, {.ids = ids});
  const int pads = g.num_nodes() - folded.num_nodes();
  g = std::move(folded);
  return pads;
}

// x (parameter) -> tanh -> ZeroPadding2D(pad) -> conv -> flattened softmax cross-entropy; conv is
// Conv2D (3 filters) or DepthwiseConv2D (multiplier 2) with a bias.
struct PadConvCase {
  std::string name;
  Shape x;
  int64_t top, bottom, left, right;
  ops::ConvAttrs attrs;
  bool depthwise;
};

Graph pad_conv_graph(const PadConvCase& c, bool fold) {
  Graph g;
  const ValueId x = g.add_value("x", {c.x, DType::kF32}, ValueKind::kParameter);
  const int64_t channels = c.x[3];
  const Shape kernel = c.depthwise ? Shape{c.attrs.kernel_h, c.attrs.kernel_w, channels, 2}
                                   : Shape{c.attrs.kernel_h, c.attrs.kernel_w, channels, 3};
  const ValueId w = g.add_value("w", {kernel, DType::kF32}, ValueKind::kParameter);
  const ValueId b =
      g.add_value("b", {Shape{c.depthwise ? channels * 2 : 3}, DType::kF32}, ValueKind::kParameter);
  const ValueId t = g.add(ops::activation(ops::ActivationKind::kTanh), {x}, "t", Phase::kForward);
  const ValueId p =
      g.add(ops::zero_pad2d(c.top, c.bottom, c.left, c.right), {t}, "pad", Phase::kForward);
  const ValueId y = g.add(c.depthwise ? ops::depthwise_conv2d(c.attrs) : ops::conv2d(c.attrs),
                          {p, w, b}, "conv", Phase::kForward);
  std::vector<ValueId> ids{y};
  if (fold) {
    EXPECT_EQ(fold_in_place(g, ids), 1) << c.name;
  }
  const Shape ys = g.value(ids[0]).spec.shape;
  const ValueId flat =
      g.add(ops::reshape(Shape{ys.num_elements() / ys[0]}), {ids[0]}, "flat", Phase::kForward);
  const ValueId labels = g.add_value("labels", {Shape{ys[0]}, DType::kI32}, ValueKind::kInput);
  const ValueId loss = g.add(ops::softmax_cross_entropy(), {flat, labels}, "loss", Phase::kLoss);
  g.value(loss).is_output = true;
  graph::add_backward(g, loss, ops::add(), ops::copy());
  return g;
}

// Runs one step of pad_conv_graph on seeded random inputs; returns the loss, then the gradients of
// x, w and b, in that order.
std::vector<float> loss_and_gradients(const PadConvCase& c, bool fold, KernelChoice choice) {
  Graph g = pad_conv_graph(c, fold);
  const Shape ys = g.value(g.find("conv")).spec.shape;
  runtime::PersistentStore store;
  for (const graph::Value& v : g.values()) {
    if (graph::is_persistent(v.kind)) store.declare(v.name, v.spec, v.kind);
  }
  store.allocate();
  uint64_t seed = 11;
  for (const char* name : {"x", "w", "b"}) {
    const TensorView view = store.view(name);
    const std::vector<float> r = testing::random_floats(view.num_elements(), seed++);
    std::copy(r.begin(), r.end(), view.f32());
  }
  runtime::SharedArena arena;
  runtime::Program program(std::move(g), store, arena, {.choice = choice});
  const std::vector<int32_t> labels =
      testing::random_labels(ys[0], static_cast<int32_t>(ys.num_elements() / ys[0]), 5);
  std::copy(labels.begin(), labels.end(), program.view("labels").i32());
  program.run(graph::StepState{1, 0.0f, 42});
  std::vector<float> out{program.view("loss").f32()[0]};
  for (const char* name : {"x/grad", "w/grad", "b/grad"}) {
    const TensorView v = store.view(name);
    out.insert(out.end(), v.f32(), v.f32() + v.num_elements());
  }
  return out;
}

const std::vector<PadConvCase>& pad_conv_cases() {
  static const std::vector<PadConvCase> cases = {
      // Keras' MobileNetV2 / EfficientNet stride-2 blocks: ((0, 1), (0, 1)) then 'valid'.
      {"depthwise 3x3 stride 2, pad bottom-right", {2, 8, 8, 3}, 0, 1, 0, 1, window(3, 2), true},
      {"conv 3x3 stride 2, pad bottom-right, odd size",
       {2, 7, 9, 2},
       0,
       1,
       0,
       1,
       window(3, 2),
       false},
      {"depthwise 5x5 stride 2, pads ((1, 2), (1, 2))",
       {1, 9, 9, 2},
       1,
       2,
       1,
       2,
       window(5, 2),
       true},
      {"conv 3x3 stride 1, asymmetric pads", {2, 5, 6, 3}, 2, 0, 1, 2, window(3, 1), false},
      {"conv 3x3 dilation 2, pads of 3", {1, 6, 6, 2}, 3, 3, 3, 3, window(3, 1, 2), false},
  };
  return cases;
}

class FoldZeroPaddingTest : public ::testing::TestWithParam<KernelChoice> {};

TEST_P(FoldZeroPaddingTest, FoldedGraphGivesTheUnfoldedLossAndGradients) {
  for (const PadConvCase& c : pad_conv_cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<float> unfolded = loss_and_gradients(c, false, GetParam());
    const std::vector<float> folded = loss_and_gradients(c, true, GetParam());
    ASSERT_EQ(unfolded.size(), folded.size());
    for (size_t i = 0; i < unfolded.size(); ++i) {
      ASSERT_NEAR(folded[i], unfolded[i], 1e-5f * (1.0f + std::abs(unfolded[i])))
          << "element " << i;
    }
    EXPECT_NE(unfolded[1], 0.0f);  // the gradient reaches x
  }
}

TEST_P(FoldZeroPaddingTest, ExplicitPaddingMatchesCentralDifferences) {
  ops::ConvAttrs asym = window(3, 2);
  asym.pad_bottom = 1;
  asym.pad_right = 2;
  ops::ConvAttrs all = window(3, 1);
  all.pad_top = 2;
  all.pad_bottom = 1;
  all.pad_left = 1;
  const std::vector<testing::ProgramGradientCase> cases = {
      {"conv, stride 2, bottom and right pads", ops::conv2d(asym), {{2, 5, 6, 2}, {3, 3, 2, 3}}},
      {"conv, three pads", ops::conv2d(all), {{1, 4, 4, 2}, {3, 3, 2, 2}, {2}}},
      {"depthwise, stride 2, bottom and right pads",
       ops::depthwise_conv2d(asym),
       {{2, 5, 5, 3}, {3, 3, 3, 1}}},
  };
  for (const testing::ProgramGradientCase& c : cases) {
    testing::check_program_gradient(c, GetParam());
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, FoldZeroPaddingTest,
                         ::testing::Values(KernelChoice::kReference, KernelChoice::kFast),
                         [](const auto& info) {
                           return info.param == KernelChoice::kReference ? "Reference" : "Fast";
                         });

TEST(FoldZeroPaddingTest, RemovesThePadNodeKeepsNamesAndRemapsIds) {
  Graph g = pad_conv_graph(pad_conv_cases()[0], false);
  Graph forward;
  const ValueId x = forward.add_value("x", {Shape{1, 6, 6, 2}, DType::kF32}, ValueKind::kInput);
  const ValueId w = forward.add_value("w", {Shape{3, 3, 2, 1}, DType::kF32}, ValueKind::kParameter);
  const ValueId p = forward.add(ops::zero_pad2d(0, 1, 0, 1), {x}, "pad", Phase::kForward);
  const ValueId y = forward.add(ops::depthwise_conv2d(window(3, 2)), {p, w}, "dw", Phase::kForward);
  forward.value(y).is_output = true;
  const ValueId z =
      forward.add(ops::activation(ops::ActivationKind::kRelu), {y}, "relu", Phase::kForward);
  std::vector<ValueId> ids{x, y, z};
  ASSERT_EQ(fold_in_place(forward, ids), 1);
  EXPECT_EQ(count_ops(forward, "ZeroPadding2D"), 0);
  EXPECT_EQ(forward.find("pad"), graph::kNoValue);
  EXPECT_EQ(ids[0], forward.find("x"));
  EXPECT_EQ(ids[1], forward.find("dw"));
  EXPECT_EQ(ids[2], forward.find("relu"));
  EXPECT_TRUE(forward.value(ids[1]).is_output);
  EXPECT_EQ(forward.value(ids[1]).spec.shape, (Shape{1, 3, 3, 2}));
  EXPECT_EQ(forward.node(forward.value(ids[1]).producer).inputs[0], ids[0]);
  EXPECT_EQ(count_ops(g, "ZeroPadding2D"), 1);  // the unfolded training graph, for contrast
}

TEST(FoldZeroPaddingTest, LeavesPadsThatAreNotExactlyOneValidConvolutionsInput) {
  const auto build = [](const std::string& kind) {
    Graph g;
    const ValueId x = g.add_value("x", {Shape{1, 6, 6, 2}, DType::kF32}, ValueKind::kInput);
    const ValueId w = g.add_value("w", {Shape{3, 3, 2, 2}, DType::kF32}, ValueKind::kParameter);
    const int64_t pad = kind == "pad as wide as the window" ? 3 : 1;
    const ValueId p = g.add(ops::zero_pad2d(pad, 0, 0, 0), {x}, "pad", Phase::kForward);
    ops::ConvAttrs a = window(3, 1);
    if (kind == "same convolution") a.padding = ops::Padding::kSame;
    const ValueId y = g.add(ops::conv2d(a), {p, w}, "conv", Phase::kForward);
    if (kind == "two readers")
      g.add(ops::activation(ops::ActivationKind::kRelu), {p}, "relu", Phase::kForward);
    if (kind == "pad is an output") g.value(p).is_output = true;
    if (kind == "pad is the kernel") {
      const ValueId k = g.add(ops::zero_pad2d(0, 0, 0, 0), {w}, "kpad", Phase::kForward);
      g.add(ops::conv2d(window(3, 1)), {y, k}, "conv2", Phase::kForward);
    }
    return g;
  };
  for (const std::string kind :
       {"same convolution", "two readers", "pad is an output", "pad as wide as the window"}) {
    Graph g = build(kind);
    std::vector<ValueId> ids;
    EXPECT_EQ(fold_in_place(g, ids), 0) << kind;
    EXPECT_EQ(count_ops(g, "ZeroPadding2D"), 1) << kind;
  }
  Graph g = build("pad is the kernel");  // the first pad folds; the kernel's does not
  std::vector<ValueId> ids;
  EXPECT_EQ(fold_in_place(g, ids), 1);
  EXPECT_EQ(count_ops(g, "ZeroPadding2D"), 1);
  EXPECT_NE(g.find("kpad"), graph::kNoValue);
}

TEST(FoldZeroPaddingTest, ExplicitPaddingIsRejectedWithSameAndWhenNegative) {
  ops::ConvAttrs a = window(3, 1);
  a.padding = ops::Padding::kSame;
  a.pad_top = 1;
  ops::ConvAttrs b = window(3, 1);
  b.pad_left = -1;
  const std::vector<std::pair<std::string, std::function<void()>>> cases = {
      {"padding='valid' only", [&] { ops::conv2d(a); }},
      {"must not be negative", [&] { ops::depthwise_conv2d(b); }},
  };
  for (const auto& [message, make] : cases) {
    try {
      make();
      ADD_FAILURE() << "expected an error saying " << message;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace leantrain

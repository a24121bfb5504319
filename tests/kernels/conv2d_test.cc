// Conv2D: window geometry worked out by hand, reference kernels against central differences,
// and the oneDNN kernels against the reference (with scratch and outputs inside guard bytes).
#include "kernels/conv2d.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "testing/conv_testing.h"
#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::GuardedBuffer;
using testing::OwnedTensor;
using testing::Padding;

// ---------------------------------------------------------------------------------------------
// Geometry.

TEST(ConvGeometryTest, OutputSizeFollowsKeras) {
  // 'valid': floor((in - d*(k-1) - 1)/s) + 1.
  EXPECT_EQ(conv_output_size(28, 3, 1, 1, false), 26);
  EXPECT_EQ(conv_output_size(13, 3, 1, 1, false), 11);
  EXPECT_EQ(conv_output_size(7, 3, 2, 1, false), 3);  // taps at 0, 2, 4
  EXPECT_EQ(conv_output_size(8, 3, 2, 1, false), 3);  // a 4th window would need pixel 8
  EXPECT_EQ(conv_output_size(7, 3, 1, 2, false), 3);  // extent 5
  EXPECT_EQ(conv_output_size(3, 3, 1, 1, false), 1);  // exactly one window
  // 'same': ceil(in/s), whatever the kernel.
  EXPECT_EQ(conv_output_size(5, 4, 2, 1, true), 3);
  EXPECT_EQ(conv_output_size(28, 3, 1, 1, true), 28);
  EXPECT_EQ(conv_output_size(7, 3, 2, 1, true), 4);
  EXPECT_EQ(conv_output_size(1, 5, 3, 2, true), 1);
}

TEST(ConvGeometryTest, ValidWithNoOutputThrowsNamingSizes) {
  try {
    conv_output_size(4, 3, 2, 2, false);  // extent 5 > 4
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    const std::string message = e.what();
    EXPECT_NE(message.find("input size 4"), std::string::npos) << message;
    EXPECT_NE(message.find("kernel 3"), std::string::npos) << message;
    EXPECT_NE(message.find("stride 2"), std::string::npos) << message;
  }
  EXPECT_THROW(conv_output_size(0, 1, 1, 1, true), Error);
  EXPECT_THROW(conv_output_size(5, 3, 0, 1, false), Error);
}

TEST(ConvGeometryTest, SamePaddingPutsExtraPixelAfter) {
  int64_t before = -1, after = -1;
  // in 5, k 4, s 2: out 3, total (3-1)*2 + 4 - 5 = 3.
  same_padding(5, 4, 2, 1, &before, &after);
  EXPECT_EQ(before, 1);
  EXPECT_EQ(after, 2);
  // in 28, k 3, s 1: out 28, total 2.
  same_padding(28, 3, 1, 1, &before, &after);
  EXPECT_EQ(before, 1);
  EXPECT_EQ(after, 1);
  // in 6, k 2, s 1: out 6, total 1, all of it after.
  same_padding(6, 2, 1, 1, &before, &after);
  EXPECT_EQ(before, 0);
  EXPECT_EQ(after, 1);
  // in 6, k 3, s 2: out 3, total (3-1)*2 + 3 - 6 = 1.
  same_padding(6, 3, 2, 1, &before, &after);
  EXPECT_EQ(before, 0);
  EXPECT_EQ(after, 1);
  // in 7, k 3, d 2: extent 5, out 7, total 4.
  same_padding(7, 3, 1, 2, &before, &after);
  EXPECT_EQ(before, 2);
  EXPECT_EQ(after, 2);
  // in 8, k 1, s 3: out 3, total (3-1)*3 + 1 - 8 < 0, so none.
  same_padding(8, 1, 3, 1, &before, &after);
  EXPECT_EQ(before, 0);
  EXPECT_EQ(after, 0);
}

// ---------------------------------------------------------------------------------------------
// Shape families shared by the gradient and oneDNN tests.

struct ConvCase {
  std::string name;
  int64_t n, h, w, ic, oc;
  int64_t kh, kw;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  Padding padding = Padding::kValid;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;  // kExplicit only
  bool bias = true;
  int64_t groups = 1;  // Conv2D(groups=...): weights (KH, KW, IC/groups, OC)

  Window2D window() const { return testing::case_window(*this); }
  Shape src() const { return {n, h, w, ic}; }
  Shape weights() const { return {kh, kw, ic / groups, oc}; }
  Shape dst() const {
    const auto [oh, ow] = testing::case_output_hw(*this);
    return {n, oh, ow, oc};
  }
  ConvShapes shapes() const { return {src(), weights(), dst(), bias, false, groups}; }
};

// Names the case in gtest messages instead of dumping its bytes.
void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

std::vector<ConvCase> small_cases() {
  std::vector<ConvCase> cases;
  auto add = [&](ConvCase c) { cases.push_back(std::move(c)); };
  add({.name = "1x1_image_1x1_kernel", .n = 1, .h = 1, .w = 1, .ic = 3, .oc = 2, .kh = 1, .kw = 1});
  add({.name = "1x1_image_3x3_same",
       .n = 2,
       .h = 1,
       .w = 1,
       .ic = 2,
       .oc = 3,
       .kh = 3,
       .kw = 3,
       .padding = Padding::kSame});
  add({.name = "5x7_valid", .n = 2, .h = 5, .w = 7, .ic = 2, .oc = 3, .kh = 3, .kw = 3});
  add({.name = "5x7_valid_no_bias",
       .n = 1,
       .h = 5,
       .w = 7,
       .ic = 3,
       .oc = 2,
       .kh = 3,
       .kw = 3,
       .bias = false});
  add({.name = "5x7_stride2_same",
       .n = 2,
       .h = 5,
       .w = 7,
       .ic = 2,
       .oc = 3,
       .kh = 3,
       .kw = 3,
       .sh = 2,
       .sw = 2,
       .padding = Padding::kSame});
  add({.name = "5x7_stride2_valid",
       .n = 1,
       .h = 5,
       .w = 7,
       .ic = 3,
       .oc = 2,
       .kh = 3,
       .kw = 3,
       .sh = 2,
       .sw = 2});
  add({.name = "5x7_dilation2_same",
       .n = 1,
       .h = 5,
       .w = 7,
       .ic = 2,
       .oc = 3,
       .kh = 3,
       .kw = 3,
       .dh = 2,
       .dw = 2,
       .padding = Padding::kSame});
  add({.name = "5x7_dilation2_valid_no_bias",
       .n = 2,
       .h = 5,
       .w = 7,
       .ic = 2,
       .oc = 2,
       .kh = 2,
       .kw = 3,
       .dh = 2,
       .dw = 2,
       .bias = false});
  add({.name = "5x7_even_2x2_same",
       .n = 2,
       .h = 5,
       .w = 7,
       .ic = 2,
       .oc = 3,
       .kh = 2,
       .kw = 2,
       .padding = Padding::kSame});
  add({.name = "5x7_even_4x4_stride2_same",
       .n = 1,
       .h = 5,
       .w = 7,
       .ic = 3,
       .oc = 2,
       .kh = 4,
       .kw = 4,
       .sh = 2,
       .sw = 2,
       .padding = Padding::kSame});
  add({.name = "5x7_asymmetric_padding",
       .n = 2,
       .h = 5,
       .w = 7,
       .ic = 2,
       .oc = 3,
       .kh = 3,
       .kw = 2,
       .sh = 2,
       .sw = 1,
       .dh = 1,
       .dw = 2,
       .padding = Padding::kExplicit,
       .pad_top = 2,
       .pad_bottom = 0,
       .pad_left = 1,
       .pad_right = 3});
  add({.name = "5x7_asymmetric_padding_no_bias",
       .n = 1,
       .h = 5,
       .w = 7,
       .ic = 3,
       .oc = 2,
       .kh = 2,
       .kw = 3,
       .sh = 1,
       .sw = 2,
       .padding = Padding::kExplicit,
       .pad_top = 0,
       .pad_bottom = 3,
       .pad_left = 2,
       .pad_right = 0,
       .bias = false});
  return cases;
}

// Grouped Conv2D (groups 2 and 4) on odd shapes, strides, 'same' and 'valid'.
std::vector<ConvCase> grouped_cases() {
  std::vector<ConvCase> cases;
  auto add = [&](ConvCase c) { cases.push_back(std::move(c)); };
  add({.name = "groups2_1x1",
       .n = 2,
       .h = 3,
       .w = 5,
       .ic = 4,
       .oc = 6,
       .kh = 1,
       .kw = 1,
       .groups = 2});
  add({.name = "groups2_5x7_valid",
       .n = 2,
       .h = 5,
       .w = 7,
       .ic = 4,
       .oc = 2,
       .kh = 3,
       .kw = 3,
       .groups = 2});
  add({.name = "groups2_5x7_stride2_same_no_bias",
       .n = 1,
       .h = 5,
       .w = 7,
       .ic = 6,
       .oc = 4,
       .kh = 3,
       .kw = 2,
       .sh = 2,
       .sw = 2,
       .padding = Padding::kSame,
       .bias = false,
       .groups = 2});
  add({.name = "groups4_5x7_same",
       .n = 2,
       .h = 5,
       .w = 7,
       .ic = 4,
       .oc = 8,
       .kh = 3,
       .kw = 3,
       .padding = Padding::kSame,
       .groups = 4});
  add({.name = "groups4_7x5_stride2_valid",
       .n = 1,
       .h = 7,
       .w = 5,
       .ic = 8,
       .oc = 4,
       .kh = 3,
       .kw = 3,
       .sh = 2,
       .sw = 1,
       .groups = 4});
  add({.name = "groups4_dilation2_same",
       .n = 1,
       .h = 6,
       .w = 7,
       .ic = 8,
       .oc = 12,
       .kh = 3,
       .kw = 3,
       .dh = 2,
       .dw = 2,
       .padding = Padding::kSame,
       .groups = 4});
  add({.name = "groups2_1x1_image_same",
       .n = 2,
       .h = 1,
       .w = 1,
       .ic = 2,
       .oc = 4,
       .kh = 3,
       .kw = 3,
       .padding = Padding::kSame,
       .groups = 2});
  return cases;
}

// Grouped shapes where oneDNN's blocked kernels may take over (8 or more channels per group).
std::vector<ConvCase> large_grouped_cases() {
  std::vector<ConvCase> cases;
  cases.push_back({.name = "groups2_32ch_same",
                   .n = 4,
                   .h = 13,
                   .w = 11,
                   .ic = 32,
                   .oc = 64,
                   .kh = 3,
                   .kw = 3,
                   .padding = Padding::kSame,
                   .groups = 2});
  cases.push_back({.name = "groups4_16ch_stride2_same",
                   .n = 3,
                   .h = 15,
                   .w = 17,
                   .ic = 32,
                   .oc = 32,
                   .kh = 3,
                   .kw = 3,
                   .sh = 2,
                   .sw = 2,
                   .padding = Padding::kSame,
                   .groups = 4});
  cases.push_back({.name = "groups4_1x1_odd_channels",
                   .n = 2,
                   .h = 9,
                   .w = 7,
                   .ic = 12,
                   .oc = 20,
                   .kh = 1,
                   .kw = 1,
                   .bias = false,
                   .groups = 4});
  return cases;
}

// The CNN's shapes (and a few bigger ones oneDNN may treat differently: wider channels, 1x1).
std::vector<ConvCase> large_cases() {
  std::vector<ConvCase> cases;
  cases.push_back(
      {.name = "cnn_conv_a", .n = 128, .h = 28, .w = 28, .ic = 1, .oc = 32, .kh = 3, .kw = 3});
  cases.push_back(
      {.name = "cnn_conv_b", .n = 128, .h = 13, .w = 13, .ic = 32, .oc = 64, .kh = 3, .kw = 3});
  cases.push_back({.name = "16ch_same_stride2",
                   .n = 3,
                   .h = 15,
                   .w = 17,
                   .ic = 16,
                   .oc = 24,
                   .kh = 3,
                   .kw = 3,
                   .sh = 2,
                   .sw = 2,
                   .padding = Padding::kSame});
  cases.push_back({.name = "1x1_pointwise",
                   .n = 4,
                   .h = 9,
                   .w = 9,
                   .ic = 24,
                   .oc = 40,
                   .kh = 1,
                   .kw = 1,
                   .bias = false});
  cases.push_back({.name = "dilated_asymmetric",
                   .n = 2,
                   .h = 12,
                   .w = 10,
                   .ic = 8,
                   .oc = 16,
                   .kh = 3,
                   .kw = 3,
                   .dh = 2,
                   .dw = 2,
                   .padding = Padding::kExplicit,
                   .pad_top = 1,
                   .pad_bottom = 3,
                   .pad_left = 2,
                   .pad_right = 0});
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Reference kernels against central differences.

class Conv2dRefGradientTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dRefGradientTest, MatchesCentralDifferences) {
  const ConvCase& c = GetParam();
  if (c.padding == Padding::kSame) {  // the explicit padding reproduces Keras' 'same' size
    ASSERT_EQ(c.dst()[1], conv_output_size(c.h, c.kh, c.sh, c.dh, true));
    ASSERT_EQ(c.dst()[2], conv_output_size(c.w, c.kw, c.sw, c.dw, true));
  }
  testing::expect_conv_ref_matches_central_differences(c.window(), c.shapes(), /*seed=*/11);
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dRefGradientTest, ::testing::ValuesIn(small_cases()),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Grouped, Conv2dRefGradientTest, ::testing::ValuesIn(grouped_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(Conv2dRefTest, GroupedComputesHandWorkedExample) {
  // groups 2, 1x1 kernel, src 1x1x1x2 = [3, 5], weights (1, 1, 1, 4) = [1, 2, 10, 20]: outputs 0
  // and 1 read input channel 0 only, outputs 2 and 3 input channel 1 only.
  std::vector<float> x = {3, 5}, k = {1, 2, 10, 20}, y(4, 0.f);
  const Window2D win;
  conv2d_fwd_ref(win, TensorView(x.data(), Shape{1, 1, 1, 2}),
                 TensorView(k.data(), Shape{1, 1, 1, 4}), TensorView(),
                 TensorView(y.data(), Shape{1, 1, 1, 4}), /*groups=*/2);
  EXPECT_EQ(y, (std::vector<float>{3, 6, 50, 100}));
}

// Slices channels [c0, c0 + count) of the last axis of `t`.
OwnedTensor slice_last(const OwnedTensor& t, int64_t c0, int64_t count) {
  const int64_t c = t.shape.dim(-1);
  Shape shape = t.shape;
  shape[shape.rank() - 1] = count;
  OwnedTensor out(shape);
  for (int64_t p = 0; p < t.shape.num_elements() / c; ++p) {
    for (int64_t i = 0; i < count; ++i) out.values[p * count + i] = t.values[p * c + c0 + i];
  }
  return out;
}

TEST(Conv2dRefTest, GroupedEqualsUngroupedConvolutionsOfChannelSlices) {
  // Keras' definition: group g is an ordinary convolution of input channels [g*IC/G, ...) with
  // weights [..., g*OC/G, ...), its outputs placed at channels [g*OC/G, (g+1)*OC/G).
  for (const ConvCase& c : grouped_cases()) {
    SCOPED_TRACE(c.name);
    OwnedTensor src(c.src(), 41), weights(c.weights(), 42), bias(Shape{c.oc}, 43);
    OwnedTensor dst(c.dst());
    conv2d_fwd_ref(c.window(), src.view(), weights.view(), bias.view(), dst.view(), c.groups);
    const int64_t icg = c.ic / c.groups, ocg = c.oc / c.groups;
    for (int64_t g = 0; g < c.groups; ++g) {
      OwnedTensor src_g = slice_last(src, g * icg, icg),
                  weights_g = slice_last(weights, g * ocg, ocg),
                  bias_g = slice_last(bias, g * ocg, ocg);
      OwnedTensor expected = slice_last(dst, g * ocg, ocg);
      OwnedTensor actual(expected.shape);
      conv2d_fwd_ref(c.window(), src_g.view(), weights_g.view(), bias_g.view(), actual.view());
      EXPECT_TRUE(testing::all_close(actual.values, expected.values, 1e-6, 1e-6)) << "group " << g;
    }
  }
}

TEST(Conv2dRefTest, ComputesHandWorkedExample) {
  // src 1x3x3x1 = 1..9, weights 2x2x1x1 = [[1, 0], [0, -1]], bias 0.5, valid, stride 1:
  // each output is x[i][j] - x[i+1][j+1] + 0.5 = -4 + 0.5.
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9}, k = {1, 0, 0, -1}, b = {0.5f};
  std::vector<float> y(4, 0.f);
  Window2D win;
  win.kernel_h = win.kernel_w = 2;
  conv2d_fwd_ref(win, TensorView(x.data(), Shape{1, 3, 3, 1}),
                 TensorView(k.data(), Shape{2, 2, 1, 1}), TensorView(b.data(), Shape{1}),
                 TensorView(y.data(), Shape{1, 2, 2, 1}));
  EXPECT_EQ(y, std::vector<float>(4, -3.5f));
}

TEST(Conv2dRefTest, RejectsInconsistentShapes) {
  std::vector<float> buffer(1024, 1.f);
  Window2D win;
  win.kernel_h = win.kernel_w = 3;
  const TensorView src(buffer.data(), Shape{1, 5, 5, 2});
  const TensorView weights(buffer.data(), Shape{3, 3, 2, 4});
  EXPECT_THROW(
      conv2d_fwd_ref(win, src, weights, TensorView(), TensorView(buffer.data(), Shape{1, 4, 3, 4})),
      Error);
  EXPECT_THROW(conv2d_fwd_ref(win, src, TensorView(buffer.data(), Shape{3, 3, 3, 4}), TensorView(),
                              TensorView(buffer.data(), Shape{1, 3, 3, 4})),
               Error);
  EXPECT_THROW(conv2d_fwd_ref(win, src, weights, TensorView(buffer.data(), Shape{3}),
                              TensorView(buffer.data(), Shape{1, 3, 3, 4})),
               Error);
}

// ---------------------------------------------------------------------------------------------
// oneDNN kernels against the reference.

void expect_dnnl_matches_reference(const ConvCase& c, ConvWeightsLayout layout) {
  testing::expect_conv_dnnl_matches_reference(c.window(), c.shapes(), layout, /*seed=*/21);
}

class Conv2dDnnlTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dDnnlTest, MatchesReferenceWithDefaultWeightsLayout) {
  expect_dnnl_matches_reference(GetParam(), kDefaultConvWeightsLayout);
}

TEST_P(Conv2dDnnlTest, MatchesReferenceWithKerasWeightsLayout) {
  expect_dnnl_matches_reference(GetParam(), ConvWeightsLayout::kPlain);
}

TEST_P(Conv2dDnnlTest, MatchesReferenceWithOneDnnWeightsLayout) {
  expect_dnnl_matches_reference(GetParam(), ConvWeightsLayout::kAny);
}

INSTANTIATE_TEST_SUITE_P(Small, Conv2dDnnlTest, ::testing::ValuesIn(small_cases()),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Large, Conv2dDnnlTest, ::testing::ValuesIn(large_cases()),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Grouped, Conv2dDnnlTest, ::testing::ValuesIn(grouped_cases()),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(LargeGrouped, Conv2dDnnlTest, ::testing::ValuesIn(large_grouped_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(Conv2dDnnlTest, ConstructorsRejectInconsistentShapes) {
  Window2D win;
  win.kernel_h = win.kernel_w = 3;
  const ConvShapes wrong_dst{{2, 5, 5, 3}, {3, 3, 3, 4}, {2, 3, 4, 4}, true, false};
  const ConvShapes wrong_channels{{2, 5, 5, 3}, {3, 3, 2, 4}, {2, 3, 3, 4}, true, false};
  // groups 2: weights must have 4 / 2 = 2 input channels, and 2 must divide the 3 outputs.
  const ConvShapes wrong_group_channels{{2, 5, 5, 4}, {3, 3, 4, 4}, {2, 3, 3, 4}, true, false, 2};
  const ConvShapes groups_not_dividing{{2, 5, 5, 4}, {3, 3, 2, 3}, {2, 3, 3, 3}, true, false, 2};
  for (const ConvShapes& s :
       {wrong_dst, wrong_channels, wrong_group_channels, groups_not_dividing}) {
    try {
      const ConvFwdDnnl k(win, s, kDefaultConvWeightsLayout);
      ADD_FAILURE() << "expected an Error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("ConvFwdDnnl"), std::string::npos) << e.what();
    }
    EXPECT_THROW(ConvBwdDataDnnl(win, s, kDefaultConvWeightsLayout), Error);
    EXPECT_THROW(ConvBwdWeightsDnnl(win, s, kDefaultConvWeightsLayout), Error);
  }
}

TEST(Conv2dDnnlTest, RunsRepeatedlyWithTheSameResult) {
  const ConvCase c = large_cases()[1];
  OwnedTensor src(c.src(), 31), weights(c.weights(), 32), bias(Shape{c.oc}, 33);
  const ConvFwdDnnl k(c.window(), c.shapes(), kDefaultConvWeightsLayout);
  GuardedBuffer scratch(k.scratch_bytes());
  OwnedTensor first(c.dst()), second(c.dst());
  k.run(src.data(), weights.data(), bias.data(), first.data(), scratch.data());
  k.run(src.data(), weights.data(), bias.data(), second.data(), scratch.data());
  EXPECT_EQ(first.values, second.values);
}

}  // namespace
}  // namespace leantrain::kernels

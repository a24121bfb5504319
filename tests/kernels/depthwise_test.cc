// DepthwiseConv2D: reference kernels against central differences, and the oneDNN kernels
// (grouped convolution, ConvShapes::depthwise) against the reference, inside guard bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "leantrain/core/error.h"
#include "testing/conv_testing.h"
#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::Padding;

struct DepthwiseCase {
  std::string name;
  int64_t n, h, w, c, m;  // m = depth multiplier
  int64_t kh, kw;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  Padding padding = Padding::kValid;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;  // kExplicit only
  bool bias = true;

  Window2D window() const { return testing::case_window(*this); }
  Shape src() const { return {n, h, w, c}; }
  Shape weights() const { return {kh, kw, c, m}; }
  Shape dst() const {
    const auto [oh, ow] = testing::case_output_hw(*this);
    return {n, oh, ow, c * m};
  }
  ConvShapes shapes() const { return {src(), weights(), dst(), bias, true}; }
};

// Names the case in gtest messages instead of dumping its bytes.
void PrintTo(const DepthwiseCase& c, std::ostream* os) { *os << c.name; }

std::vector<DepthwiseCase> small_cases() {
  std::vector<DepthwiseCase> cases;
  for (const int64_t m : {1, 2}) {
    const std::string suffix = "_m" + std::to_string(m);
    auto add = [&](DepthwiseCase c) {
      c.name += suffix;
      c.m = m;
      cases.push_back(std::move(c));
    };
    add({.name = "1x1_image_1x1_kernel", .n = 1, .h = 1, .w = 1, .c = 3, .m = 0, .kh = 1, .kw = 1});
    add({.name = "1x1_image_3x3_same",
         .n = 2,
         .h = 1,
         .w = 1,
         .c = 2,
         .m = 0,
         .kh = 3,
         .kw = 3,
         .padding = Padding::kSame});
    add({.name = "5x7_valid", .n = 2, .h = 5, .w = 7, .c = 3, .m = 0, .kh = 3, .kw = 3});
    add({.name = "5x7_valid_no_bias",
         .n = 1,
         .h = 5,
         .w = 7,
         .c = 2,
         .m = 0,
         .kh = 3,
         .kw = 3,
         .bias = false});
    add({.name = "5x7_stride2_same",
         .n = 2,
         .h = 5,
         .w = 7,
         .c = 3,
         .m = 0,
         .kh = 3,
         .kw = 3,
         .sh = 2,
         .sw = 2,
         .padding = Padding::kSame});
    add({.name = "5x7_dilation2_same",
         .n = 1,
         .h = 5,
         .w = 7,
         .c = 2,
         .m = 0,
         .kh = 3,
         .kw = 3,
         .dh = 2,
         .dw = 2,
         .padding = Padding::kSame});
    add({.name = "5x7_even_2x2_same",
         .n = 2,
         .h = 5,
         .w = 7,
         .c = 3,
         .m = 0,
         .kh = 2,
         .kw = 2,
         .padding = Padding::kSame});
    add({.name = "5x7_even_4x4_stride2_same",
         .n = 1,
         .h = 5,
         .w = 7,
         .c = 2,
         .m = 0,
         .kh = 4,
         .kw = 4,
         .sh = 2,
         .sw = 2,
         .padding = Padding::kSame});
    add({.name = "5x7_asymmetric_padding",
         .n = 2,
         .h = 5,
         .w = 7,
         .c = 3,
         .m = 0,
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
         .c = 2,
         .m = 0,
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
  }
  return cases;
}

// MobileNet-like shapes, where oneDNN's depthwise kernels (channel blocks of 8) take over.
std::vector<DepthwiseCase> large_cases() {
  std::vector<DepthwiseCase> cases;
  cases.push_back({.name = "32ch_3x3_same",
                   .n = 8,
                   .h = 14,
                   .w = 14,
                   .c = 32,
                   .m = 1,
                   .kh = 3,
                   .kw = 3,
                   .padding = Padding::kSame});
  cases.push_back({.name = "20ch_3x3_stride2_same",
                   .n = 4,
                   .h = 15,
                   .w = 13,
                   .c = 20,
                   .m = 1,
                   .kh = 3,
                   .kw = 3,
                   .sh = 2,
                   .sw = 2,
                   .padding = Padding::kSame});
  cases.push_back({.name = "16ch_m2_5x5_same_no_bias",
                   .n = 4,
                   .h = 9,
                   .w = 11,
                   .c = 16,
                   .m = 2,
                   .kh = 5,
                   .kw = 5,
                   .padding = Padding::kSame,
                   .bias = false});
  cases.push_back({.name = "24ch_3x3_dilated_asymmetric",
                   .n = 2,
                   .h = 12,
                   .w = 10,
                   .c = 24,
                   .m = 1,
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

class DepthwiseRefGradientTest : public ::testing::TestWithParam<DepthwiseCase> {};

TEST_P(DepthwiseRefGradientTest, MatchesCentralDifferences) {
  const DepthwiseCase& c = GetParam();
  testing::expect_conv_ref_matches_central_differences(c.window(), c.shapes(), /*seed=*/41);
}

INSTANTIATE_TEST_SUITE_P(Shapes, DepthwiseRefGradientTest, ::testing::ValuesIn(small_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(DepthwiseRefTest, OutputChannelCTimesMPlusMReadsInputChannelC) {
  // 1x1 image, 1x1 kernel, 2 channels, multiplier 2: dst = [x0*w00, x0*w01, x1*w10, x1*w11].
  std::vector<float> x = {2, 3}, k = {1, 10, 100, 1000}, y(4, 0.f);
  Window2D win;
  depthwise_fwd_ref(win, TensorView(x.data(), Shape{1, 1, 1, 2}),
                    TensorView(k.data(), Shape{1, 1, 2, 2}), TensorView(),
                    TensorView(y.data(), Shape{1, 1, 1, 4}));
  EXPECT_EQ(y, (std::vector<float>{2, 20, 300, 3000}));
}

TEST(DepthwiseRefTest, RejectsInconsistentShapes) {
  std::vector<float> buffer(1024, 1.f);
  Window2D win;
  win.kernel_h = win.kernel_w = 3;
  const TensorView src(buffer.data(), Shape{1, 5, 5, 2});
  const TensorView weights(buffer.data(), Shape{3, 3, 2, 2});
  // dst channels must be IC*M = 4.
  EXPECT_THROW(depthwise_fwd_ref(win, src, weights, TensorView(),
                                 TensorView(buffer.data(), Shape{1, 3, 3, 2})),
               Error);
  EXPECT_THROW(depthwise_bwd_weights_ref(win, src, TensorView(buffer.data(), Shape{1, 3, 3, 4}),
                                         weights, TensorView(buffer.data(), Shape{2})),
               Error);
}

// ---------------------------------------------------------------------------------------------
// oneDNN kernels against the reference.

void expect_dnnl_matches_reference(const DepthwiseCase& c, ConvWeightsLayout layout) {
  testing::expect_conv_dnnl_matches_reference(c.window(), c.shapes(), layout, /*seed=*/51);
}

class DepthwiseDnnlTest : public ::testing::TestWithParam<DepthwiseCase> {};

TEST_P(DepthwiseDnnlTest, MatchesReferenceWithDefaultWeightsLayout) {
  expect_dnnl_matches_reference(GetParam(), kDefaultConvWeightsLayout);
}

TEST_P(DepthwiseDnnlTest, MatchesReferenceWithKerasWeightsLayout) {
  expect_dnnl_matches_reference(GetParam(), ConvWeightsLayout::kPlain);
}

TEST_P(DepthwiseDnnlTest, MatchesReferenceWithOneDnnWeightsLayout) {
  expect_dnnl_matches_reference(GetParam(), ConvWeightsLayout::kAny);
}

INSTANTIATE_TEST_SUITE_P(Small, DepthwiseDnnlTest, ::testing::ValuesIn(small_cases()),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Large, DepthwiseDnnlTest, ::testing::ValuesIn(large_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(DepthwiseDnnlTest, ConstructorsRejectInconsistentShapes) {
  Window2D win;
  win.kernel_h = win.kernel_w = 3;
  // dst channels must be IC*M = 6, not M.
  const ConvShapes s{{2, 5, 5, 3}, {3, 3, 3, 2}, {2, 3, 3, 2}, true, true};
  EXPECT_THROW(ConvFwdDnnl(win, s, kDefaultConvWeightsLayout), Error);
  EXPECT_THROW(ConvBwdDataDnnl(win, s, kDefaultConvWeightsLayout), Error);
  EXPECT_THROW(ConvBwdWeightsDnnl(win, s, kDefaultConvWeightsLayout), Error);
}

}  // namespace
}  // namespace leantrain::kernels

// DepthwiseConv2D: reference kernels against central differences, and the oneDNN kernels
// (grouped convolution, ConvShapes::depthwise) against the reference, inside guard bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "leantrain/core/error.h"
#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::GuardedBuffer;
using testing::OwnedTensor;

enum class Padding { kValid, kSame, kExplicit };

struct DepthwiseCase {
  std::string name;
  int64_t n, h, w, c, m;  // m = depth multiplier
  int64_t kh, kw;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  Padding padding = Padding::kValid;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;  // kExplicit only
  bool bias = true;

  Window2D window() const {
    Window2D win;
    win.kernel_h = kh;
    win.kernel_w = kw;
    win.stride_h = sh;
    win.stride_w = sw;
    win.dilation_h = dh;
    win.dilation_w = dw;
    if (padding == Padding::kSame) {
      same_padding(h, kh, sh, dh, &win.pad_top, &win.pad_bottom);
      same_padding(w, kw, sw, dw, &win.pad_left, &win.pad_right);
    } else if (padding == Padding::kExplicit) {
      win.pad_top = pad_top;
      win.pad_bottom = pad_bottom;
      win.pad_left = pad_left;
      win.pad_right = pad_right;
    }
    return win;
  }
  Shape src() const { return {n, h, w, c}; }
  Shape weights() const { return {kh, kw, c, m}; }
  Shape dst() const {
    const Window2D win = window();
    const int64_t oh = (h + win.pad_top + win.pad_bottom - (kh - 1) * dh - 1) / sh + 1;
    const int64_t ow = (w + win.pad_left + win.pad_right - (kw - 1) * dw - 1) / sw + 1;
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
  const Window2D win = c.window();
  const int64_t oc = c.c * c.m;
  OwnedTensor src(c.src(), 41), weights(c.weights(), 42), bias(Shape{oc}, 43);
  OwnedTensor dst(c.dst());
  const std::vector<float> lw = testing::loss_weights(dst.shape.num_elements(), 44);
  const TensorView bias_view = c.bias ? bias.view() : TensorView();
  auto loss = [&] {
    depthwise_fwd_ref(win, src.view(), weights.view(), bias_view, dst.view());
    return testing::weighted_sum(dst.values, lw);
  };

  std::vector<float> diff_dst = lw;
  OwnedTensor diff_src(c.src()), diff_weights(c.weights()), diff_bias(Shape{oc});
  const TensorView diff_dst_view(diff_dst.data(), c.dst());
  depthwise_bwd_data_ref(win, diff_dst_view, weights.view(), diff_src.view());
  depthwise_bwd_weights_ref(win, src.view(), diff_dst_view, diff_weights.view(),
                            c.bias ? diff_bias.view() : TensorView());

  std::vector<std::vector<float>*> inputs = {&src.values, &weights.values};
  std::vector<std::vector<float>> analytic = {diff_src.values, diff_weights.values};
  if (c.bias) {
    inputs.push_back(&bias.values);
    analytic.push_back(diff_bias.values);
  }
  EXPECT_TRUE(testing::gradient_check(loss, inputs, analytic));
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

double scaled_atol(const std::vector<float>& expected) {
  double largest = 0.0;
  for (float v : expected) largest = std::max(largest, static_cast<double>(std::fabs(v)));
  return std::max(1e-4 * largest, 1e-6);
}

// An output span with guard bytes, prefilled with NaNs so an unwritten element fails.
struct GuardedFloats {
  GuardedBuffer buffer;
  int64_t count;
  explicit GuardedFloats(int64_t n) : buffer(n * 4), count(n) {
    std::fill_n(data(), n, std::numeric_limits<float>::quiet_NaN());
  }
  float* data() { return static_cast<float*>(buffer.data()); }
  std::vector<float> values() { return {data(), data() + count}; }
};

GuardedBuffer garbage_scratch(int64_t bytes) {
  GuardedBuffer scratch(bytes);
  std::memset(scratch.data(), 0xff, static_cast<size_t>(bytes));
  return scratch;
}

// Sets LEANTRAIN_CONV_WEIGHTS for one scope, so both weight paths are tested.
class ScopedWeightsLayout {
 public:
  explicit ScopedWeightsLayout(const char* value) {
    if (const char* old = std::getenv(kName)) {
      old_ = old;
      had_ = true;
    }
    if (value) {
      setenv(kName, value, 1);
    } else {
      unsetenv(kName);
    }
  }
  ~ScopedWeightsLayout() {
    if (had_) {
      setenv(kName, old_.c_str(), 1);
    } else {
      unsetenv(kName);
    }
  }

 private:
  static constexpr const char* kName = "LEANTRAIN_CONV_WEIGHTS";
  std::string old_;
  bool had_ = false;
};

void expect_dnnl_matches_reference(const DepthwiseCase& c, const char* layout) {
  SCOPED_TRACE(std::string("weights layout ") + (layout ? layout : "default"));
  const ScopedWeightsLayout scoped(layout);
  const Window2D win = c.window();
  const int64_t oc = c.c * c.m;
  OwnedTensor src(c.src(), 51), weights(c.weights(), 52), bias(Shape{oc}, 53);
  OwnedTensor diff_dst(c.dst(), 54);
  const TensorView bias_view = c.bias ? bias.view() : TensorView();

  {  // Forward.
    OwnedTensor expected(c.dst());
    depthwise_fwd_ref(win, src.view(), weights.view(), bias_view, expected.view());
    const ConvFwdDnnl k(win, c.shapes());
    GuardedBuffer scratch = garbage_scratch(k.scratch_bytes());
    GuardedFloats dst(expected.shape.num_elements());
    k.run(src.data(), weights.data(), c.bias ? bias.data() : nullptr, dst.data(), scratch.data());
    EXPECT_TRUE(
        testing::all_close(dst.values(), expected.values, 1e-4, scaled_atol(expected.values)))
        << "forward";
    EXPECT_TRUE(scratch.guards_intact()) << "forward scratch";
    EXPECT_TRUE(dst.buffer.guards_intact()) << "forward dst";
  }
  {  // Backward data.
    OwnedTensor expected(c.src());
    depthwise_bwd_data_ref(win, diff_dst.view(), weights.view(), expected.view());
    const ConvBwdDataDnnl k(win, c.shapes());
    GuardedBuffer scratch = garbage_scratch(k.scratch_bytes());
    GuardedFloats diff_src(expected.shape.num_elements());
    k.run(diff_dst.data(), weights.data(), diff_src.data(), scratch.data());
    EXPECT_TRUE(
        testing::all_close(diff_src.values(), expected.values, 1e-4, scaled_atol(expected.values)))
        << "backward data";
    EXPECT_TRUE(scratch.guards_intact()) << "backward data scratch";
    EXPECT_TRUE(diff_src.buffer.guards_intact()) << "backward data diff_src";
  }
  {  // Backward weights.
    OwnedTensor expected_weights(c.weights()), expected_bias(Shape{oc});
    depthwise_bwd_weights_ref(win, src.view(), diff_dst.view(), expected_weights.view(),
                              c.bias ? expected_bias.view() : TensorView());
    const ConvBwdWeightsDnnl k(win, c.shapes());
    GuardedBuffer scratch = garbage_scratch(k.scratch_bytes());
    GuardedFloats diff_weights(expected_weights.shape.num_elements()), diff_bias(oc);
    k.run(src.data(), diff_dst.data(), diff_weights.data(), c.bias ? diff_bias.data() : nullptr,
          scratch.data());
    EXPECT_TRUE(testing::all_close(diff_weights.values(), expected_weights.values, 1e-4,
                                   scaled_atol(expected_weights.values)))
        << "backward weights";
    if (c.bias) {
      EXPECT_TRUE(testing::all_close(diff_bias.values(), expected_bias.values, 1e-4,
                                     scaled_atol(expected_bias.values)))
          << "backward bias";
    }
    EXPECT_TRUE(scratch.guards_intact()) << "backward weights scratch";
    EXPECT_TRUE(diff_weights.buffer.guards_intact()) << "backward weights diff_weights";
    EXPECT_TRUE(diff_bias.buffer.guards_intact()) << "backward weights diff_bias";
  }
}

class DepthwiseDnnlTest : public ::testing::TestWithParam<DepthwiseCase> {};

TEST_P(DepthwiseDnnlTest, MatchesReferenceWithDefaultWeightsLayout) {
  expect_dnnl_matches_reference(GetParam(), nullptr);
}

TEST_P(DepthwiseDnnlTest, MatchesReferenceWithKerasWeightsLayout) {
  expect_dnnl_matches_reference(GetParam(), "plain");
}

TEST_P(DepthwiseDnnlTest, MatchesReferenceWithOneDnnWeightsLayout) {
  expect_dnnl_matches_reference(GetParam(), "any");
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
  EXPECT_THROW(ConvFwdDnnl(win, s), Error);
  EXPECT_THROW(ConvBwdDataDnnl(win, s), Error);
  EXPECT_THROW(ConvBwdWeightsDnnl(win, s), Error);
}

}  // namespace
}  // namespace leantrain::kernels

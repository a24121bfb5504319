// Helpers shared by the Conv2D and DepthwiseConv2D tests: the geometry of a test case (Keras'
// padding modes), the reference kernels against central differences, and the oneDNN kernels
// against the reference. Header-only: leantrain_testing does not link leantrain_kernels, so only
// test binaries that do may include this.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/conv2d.h"
#include "leantrain/core/shape.h"
#include "leantrain/core/tensor.h"
#include "testing/kernel_testing.h"
#include "testing/testing.h"

namespace leantrain::testing {

enum class Padding { kValid, kSame, kExplicit };

// Returns the window of test case `c`, which has fields h, w (input size), kh, kw, sh, sw, dh,
// dw, padding and, read for Padding::kExplicit only, pad_top, pad_bottom, pad_left, pad_right.
// 'same' padding is placed by same_padding().
template <typename Case>
kernels::Window2D case_window(const Case& c) {
  kernels::Window2D win;
  win.kernel_h = c.kh;
  win.kernel_w = c.kw;
  win.stride_h = c.sh;
  win.stride_w = c.sw;
  win.dilation_h = c.dh;
  win.dilation_w = c.dw;
  if (c.padding == Padding::kSame) {
    kernels::same_padding(c.h, c.kh, c.sh, c.dh, &win.pad_top, &win.pad_bottom);
    kernels::same_padding(c.w, c.kw, c.sw, c.dw, &win.pad_left, &win.pad_right);
  } else if (c.padding == Padding::kExplicit) {
    win.pad_top = c.pad_top;
    win.pad_bottom = c.pad_bottom;
    win.pad_left = c.pad_left;
    win.pad_right = c.pad_right;
  }
  return win;
}

// Returns {OH, OW}, the output size of test case `c` (fields as for case_window()), worked out
// here rather than by the kernels' own geometry code.
template <typename Case>
std::pair<int64_t, int64_t> case_output_hw(const Case& c) {
  const kernels::Window2D win = case_window(c);
  const int64_t oh = (c.h + win.pad_top + win.pad_bottom - (c.kh - 1) * c.dh - 1) / c.sh + 1;
  const int64_t ow = (c.w + win.pad_left + win.pad_right - (c.kw - 1) * c.dw - 1) / c.sw + 1;
  return {oh, ow};
}

// The three reference kernels of one convolution kind; the forward and backward-weights kernels
// share a signature.
struct ConvRefKernels {
  using Fwd = std::function<void(const kernels::Window2D&, const TensorView&, const TensorView&,
                                 const TensorView&, const TensorView&)>;
  using BwdData = std::function<void(const kernels::Window2D&, const TensorView&, const TensorView&,
                                     const TensorView&)>;
  Fwd fwd;
  BwdData bwd_data;
  Fwd bwd_weights;
};

// Returns depthwise_*_ref when shapes.depthwise, else conv2d_*_ref with shapes.groups.
inline ConvRefKernels conv_ref_kernels(const kernels::ConvShapes& shapes) {
  if (shapes.depthwise) {
    return {kernels::depthwise_fwd_ref, kernels::depthwise_bwd_data_ref,
            kernels::depthwise_bwd_weights_ref};
  }
  const int64_t g = shapes.groups;
  return {[g](const kernels::Window2D& w, const TensorView& src, const TensorView& weights,
              const TensorView& bias,
              const TensorView& dst) { kernels::conv2d_fwd_ref(w, src, weights, bias, dst, g); },
          [g](const kernels::Window2D& w, const TensorView& diff_dst, const TensorView& weights,
              const TensorView& diff_src) {
            kernels::conv2d_bwd_data_ref(w, diff_dst, weights, diff_src, g);
          },
          [g](const kernels::Window2D& w, const TensorView& src, const TensorView& diff_dst,
              const TensorView& diff_weights, const TensorView& diff_bias) {
            kernels::conv2d_bwd_weights_ref(w, src, diff_dst, diff_weights, diff_bias, g);
          }};
}

// Expects the reference kernels for `shapes` (depthwise when shapes.depthwise, grouped by
// shapes.groups) to give the gradients of a weighted sum of dst with respect to src, weights
// and, when shapes.has_bias, bias that central differences give. Random data comes from seeds
// `seed` to `seed` + 3.
inline void expect_conv_ref_matches_central_differences(const kernels::Window2D& win,
                                                        const kernels::ConvShapes& shapes,
                                                        uint64_t seed) {
  const ConvRefKernels ref = conv_ref_kernels(shapes);
  const int64_t oc = shapes.dst[3];
  OwnedTensor src(shapes.src, seed), weights(shapes.weights, seed + 1), bias(Shape{oc}, seed + 2);
  OwnedTensor dst(shapes.dst);
  const std::vector<float> lw = loss_weights(dst.shape.num_elements(), seed + 3);
  const TensorView bias_view = shapes.has_bias ? bias.view() : TensorView();
  auto loss = [&] {
    ref.fwd(win, src.view(), weights.view(), bias_view, dst.view());
    return weighted_sum(dst.values, lw);
  };

  std::vector<float> diff_dst = lw;
  OwnedTensor diff_src(shapes.src), diff_weights(shapes.weights), diff_bias(Shape{oc});
  const TensorView diff_dst_view(diff_dst.data(), shapes.dst);
  ref.bwd_data(win, diff_dst_view, weights.view(), diff_src.view());
  ref.bwd_weights(win, src.view(), diff_dst_view, diff_weights.view(),
                  shapes.has_bias ? diff_bias.view() : TensorView());

  std::vector<std::vector<float>*> inputs = {&src.values, &weights.values};
  std::vector<std::vector<float>> analytic = {diff_src.values, diff_weights.values};
  if (shapes.has_bias) {
    inputs.push_back(&bias.values);
    analytic.push_back(diff_bias.values);
  }
  EXPECT_TRUE(gradient_check(loss, inputs, analytic));
}

// Runs ConvFwdDnnl, ConvBwdDataDnnl and ConvBwdWeightsDnnl for `shapes` with weights in
// `layout`, into NaN-prefilled guarded outputs
// with 0xFF-filled guarded scratch, and expects the reference kernels' results (within
// matches_reference()) with every guard intact. Random data comes from seeds `seed` to `seed` + 3.
inline void expect_conv_dnnl_matches_reference(const kernels::Window2D& win,
                                               const kernels::ConvShapes& shapes,
                                               ConvWeightsLayout layout, uint64_t seed) {
  SCOPED_TRACE("weights layout " + to_string(layout));
  const ConvRefKernels ref = conv_ref_kernels(shapes);
  const int64_t oc = shapes.dst[3];
  const bool has_bias = shapes.has_bias;
  OwnedTensor src(shapes.src, seed), weights(shapes.weights, seed + 1), bias(Shape{oc}, seed + 2);
  OwnedTensor diff_dst(shapes.dst, seed + 3);
  const TensorView bias_view = has_bias ? bias.view() : TensorView();

  {  // Forward.
    OwnedTensor expected(shapes.dst);
    ref.fwd(win, src.view(), weights.view(), bias_view, expected.view());
    const kernels::ConvFwdDnnl k(win, shapes, layout);
    GuardedBuffer scratch = garbage_scratch(k.scratch_bytes());
    GuardedFloats dst(expected.shape.num_elements());
    k.run(src.data(), weights.data(), has_bias ? bias.data() : nullptr, dst.data(), scratch.data());
    EXPECT_TRUE(matches_reference(dst.values(), expected.values)) << "forward";
    EXPECT_TRUE(scratch.guards_intact()) << "forward scratch";
    EXPECT_TRUE(dst.buffer.guards_intact()) << "forward dst";
  }
  {  // Backward data.
    OwnedTensor expected(shapes.src);
    ref.bwd_data(win, diff_dst.view(), weights.view(), expected.view());
    const kernels::ConvBwdDataDnnl k(win, shapes, layout);
    GuardedBuffer scratch = garbage_scratch(k.scratch_bytes());
    GuardedFloats diff_src(expected.shape.num_elements());
    k.run(diff_dst.data(), weights.data(), diff_src.data(), scratch.data());
    EXPECT_TRUE(matches_reference(diff_src.values(), expected.values)) << "backward data";
    EXPECT_TRUE(scratch.guards_intact()) << "backward data scratch";
    EXPECT_TRUE(diff_src.buffer.guards_intact()) << "backward data diff_src";
  }
  {  // Backward weights.
    OwnedTensor expected_weights(shapes.weights), expected_bias(Shape{oc});
    ref.bwd_weights(win, src.view(), diff_dst.view(), expected_weights.view(),
                    has_bias ? expected_bias.view() : TensorView());
    const kernels::ConvBwdWeightsDnnl k(win, shapes, layout);
    GuardedBuffer scratch = garbage_scratch(k.scratch_bytes());
    GuardedFloats diff_weights(expected_weights.shape.num_elements()), diff_bias(oc);
    k.run(src.data(), diff_dst.data(), diff_weights.data(), has_bias ? diff_bias.data() : nullptr,
          scratch.data());
    EXPECT_TRUE(matches_reference(diff_weights.values(), expected_weights.values))
        << "backward weights";
    if (has_bias) {
      EXPECT_TRUE(matches_reference(diff_bias.values(), expected_bias.values)) << "backward bias";
    }
    EXPECT_TRUE(scratch.guards_intact()) << "backward weights scratch";
    EXPECT_TRUE(diff_weights.buffer.guards_intact()) << "backward weights diff_weights";
    EXPECT_TRUE(diff_bias.buffer.guards_intact()) << "backward weights diff_bias";
  }
}

}  // namespace leantrain::testing

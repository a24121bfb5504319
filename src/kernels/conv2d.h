// Conv2D (optionally grouped) and DepthwiseConv2D kernels: NHWC activations, Keras weight
// layouts. Reference kernels are plain loops (the oracle); *Dnnl classes wrap oneDNN 2.6
// primitives with a user scratchpad. All kernels overwrite their outputs (no accumulation).
//
// Groups (Keras' Conv2D(groups=G)): input channels split into G equal blocks of IC/G and output
// channels into G blocks of OC/G; output block g reads input block g only. Weights are
// (KH, KW, IC/G, OC), output channel oc belonging to group oc / (OC/G).
#pragma once

#include <cstdint>
#include <memory>

#include "leantrain/core/kernel_variants.h"
#include "leantrain/core/tensor.h"

namespace leantrain::kernels {

// Geometry of a 2-D convolution or pooling window. Padding is explicit; use
// conv_output_size()/same_padding() to derive it from Keras' 'same'/'valid'.
struct Window2D {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;  // 1 = dense kernel (Keras' dilation_rate)
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
};

// Keras' output size: 'valid' floor((in - d*(k-1) - 1)/s) + 1; 'same' ceil(in/s).
// Throws Error(kInvalidArgument) when 'valid' leaves no output.
int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, bool same);
// TensorFlow's SAME placement: total = max((out-1)*s + (k-1)*d + 1 - in, 0); before =
// total/2, after = total - before (the extra pixel goes bottom/right).
void same_padding(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t* pad_before,
                  int64_t* pad_after);

namespace detail {
// Throws Error(kInvalidArgument), naming `who` and the shapes, unless src (N, IH, IW, IC),
// weights (KH, KW, IC/groups, OC) or depthwise (KH, KW, IC, M), and dst (N, OH, OW, OC or IC*M)
// agree with the window `w`; `groups` must be >= 1 and divide IC and OC, and be 1 when
// `depthwise`. Shared by every convolution kernel.
void check_conv_shapes(const Window2D& w, const Shape& src, const Shape& weights, const Shape& dst,
                       bool depthwise, int64_t groups, const char* who);
// Throws Error(kInvalidArgument), naming `who` and the bias shape, unless `bias` is an empty
// view or has shape (channels).
void check_bias(const TensorView& bias, int64_t channels, const char* who);
}  // namespace detail

// Shapes: src (N, IH, IW, IC) f32; weights (KH, KW, IC/groups, OC) f32; bias (OC) f32 or empty
// view; dst (N, OH, OW, OC) f32. Throw Error(kInvalidArgument) when the shapes disagree (see
// detail::check_conv_shapes).
void conv2d_fwd_ref(const Window2D& w, const TensorView& src, const TensorView& weights,
                    const TensorView& bias, const TensorView& dst, int64_t groups = 1);
// diff_src (N, IH, IW, IC) from diff_dst and weights.
void conv2d_bwd_data_ref(const Window2D& w, const TensorView& diff_dst, const TensorView& weights,
                         const TensorView& diff_src, int64_t groups = 1);
// diff_weights (KH, KW, IC/groups, OC) and diff_bias (OC, or empty) from src and diff_dst.
void conv2d_bwd_weights_ref(const Window2D& w, const TensorView& src, const TensorView& diff_dst,
                            const TensorView& diff_weights, const TensorView& diff_bias,
                            int64_t groups = 1);

// Depthwise: weights (KH, KW, IC, M) with M = depth_multiplier; dst channel c*M + m reads
// input channel c (Keras' order); bias (IC*M) or empty.
void depthwise_fwd_ref(const Window2D& w, const TensorView& src, const TensorView& weights,
                       const TensorView& bias, const TensorView& dst);
void depthwise_bwd_data_ref(const Window2D& w, const TensorView& diff_dst,
                            const TensorView& weights, const TensorView& diff_src);
void depthwise_bwd_weights_ref(const Window2D& w, const TensorView& src, const TensorView& diff_dst,
                               const TensorView& diff_weights, const TensorView& diff_bias);

// The shapes one convolution runs on; `depthwise` selects the depthwise weight layout, `groups`
// a grouped Conv2D (weights (KH, KW, IC/groups, OC); must be 1 when depthwise).
struct ConvShapes {
  Shape src, weights, dst;  // NHWC, Keras layout, NHWC
  bool has_bias = true;
  bool depthwise = false;
  int64_t groups = 1;
};

// oneDNN convolution primitives for one set of shapes, built once (primitive creation is the
// expensive part) and run many times. Not thread-safe: one caller at a time.
// weights_layout: kAny lets oneDNN pick its weights layout, which run() reorders Keras' weights
// to and from inside the scratch; kPlain reads Keras' layout (see conv2d_dnnl.cc for the
// measurements). Constructors throw Error(kInvalidArgument) on inconsistent shapes.
class ConvFwdDnnl {
 public:
  ConvFwdDnnl(const Window2D& w, const ConvShapes& shapes, ConvWeightsLayout weights_layout);
  ~ConvFwdDnnl();
  // Bytes of scratch run() needs (oneDNN's user scratchpad); may be 0.
  int64_t scratch_bytes() const;
  // `bias` may be null when shapes.has_bias is false; `scratch` holds scratch_bytes().
  void run(const float* src, const float* weights, const float* bias, float* dst,
           void* scratch) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ConvBwdDataDnnl {
 public:
  ConvBwdDataDnnl(const Window2D& w, const ConvShapes& shapes, ConvWeightsLayout weights_layout);
  ~ConvBwdDataDnnl();
  int64_t scratch_bytes() const;
  void run(const float* diff_dst, const float* weights, float* diff_src, void* scratch) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ConvBwdWeightsDnnl {
 public:
  ConvBwdWeightsDnnl(const Window2D& w, const ConvShapes& shapes, ConvWeightsLayout weights_layout);
  ~ConvBwdWeightsDnnl();
  int64_t scratch_bytes() const;
  // `diff_bias` may be null when shapes.has_bias is false.
  void run(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias,
           void* scratch) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace leantrain::kernels

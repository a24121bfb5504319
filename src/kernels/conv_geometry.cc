// Window geometry shared by the convolution kernels: Keras' output sizes, TensorFlow's 'same'
// padding placement, and the shape and bias checks every convolution kernel runs before it
// computes.
#include "kernels/conv2d.h"

#include <string>

#include "leantrain/core/error.h"

namespace leantrain::kernels {

int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, bool same) {
  LT_CHECK(in >= 1 && kernel >= 1 && stride >= 1 && dilation >= 1, kInvalidArgument,
           "convolution window: input size ", in, ", kernel ", kernel, ", stride ", stride,
           ", dilation ", dilation, " must all be at least 1");
  if (same) return (in + stride - 1) / stride;
  const int64_t extent = dilation * (kernel - 1) + 1;
  LT_CHECK(in >= extent, kInvalidArgument, "'valid' convolution leaves no output: input size ", in,
           " is smaller than kernel ", kernel, " (dilation ", dilation, ", extent ", extent,
           ") with stride ", stride, "; use padding='same' or a smaller kernel");
  return (in - extent) / stride + 1;
}

void same_padding(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t* pad_before,
                  int64_t* pad_after) {
  const int64_t out = conv_output_size(in, kernel, stride, dilation, /*same=*/true);
  int64_t total = (out - 1) * stride + (kernel - 1) * dilation + 1 - in;
  if (total < 0) total = 0;
  *pad_before = total / 2;
  *pad_after = total - *pad_before;
}

namespace detail {

void check_conv_shapes(const Window2D& w, const Shape& src, const Shape& weights, const Shape& dst,
                       bool depthwise, int64_t groups, const char* who) {
  const auto describe = [&] {
    return internal::str_cat(who, ": src ", src.to_string(), ", weights ", weights.to_string(),
                             ", dst ", dst.to_string(), ", groups ", groups, ", window ",
                             w.kernel_h, "x", w.kernel_w, " stride ", w.stride_h, "x", w.stride_w,
                             " dilation ", w.dilation_h, "x", w.dilation_w, " padding (top ",
                             w.pad_top, ", bottom ", w.pad_bottom, ", left ", w.pad_left,
                             ", right ", w.pad_right, ")");
  };
  LT_CHECK(w.kernel_h >= 1 && w.kernel_w >= 1 && w.stride_h >= 1 && w.stride_w >= 1 &&
               w.dilation_h >= 1 && w.dilation_w >= 1,
           kInvalidArgument, describe(), ": kernel, stride and dilation must be at least 1");
  LT_CHECK(w.pad_top >= 0 && w.pad_bottom >= 0 && w.pad_left >= 0 && w.pad_right >= 0,
           kInvalidArgument, describe(), ": padding must not be negative");
  LT_CHECK(src.rank() == 4 && weights.rank() == 4 && dst.rank() == 4, kInvalidArgument, describe(),
           ": expected rank-4 src (N, H, W, C), weights (KH, KW, IC, ", depthwise ? "M" : "OC",
           ") and dst (N, H, W, C)");
  for (int i = 0; i < 4; ++i) {
    LT_CHECK(src[i] >= 1 && weights[i] >= 1 && dst[i] >= 1, kInvalidArgument, describe(),
             ": every dimension must be at least 1");
  }
  LT_CHECK(weights[0] == w.kernel_h && weights[1] == w.kernel_w, kInvalidArgument, describe(),
           ": weights' spatial size must equal the window's kernel size");
  LT_CHECK(groups >= 1 && (groups == 1 || !depthwise), kInvalidArgument, describe(),
           ": groups must be at least 1, and 1 for a depthwise convolution");
  LT_CHECK(src[3] % groups == 0 && weights[3] % groups == 0, kInvalidArgument, describe(),
           ": groups must divide src channels ", src[3], " and output channels ", weights[3]);
  LT_CHECK(weights[2] * groups == src[3], kInvalidArgument, describe(),
           ": weights' input channels (dimension 2) must equal src channels / groups = ",
           src[3] / groups);
  const int64_t out_channels = depthwise ? src[3] * weights[3] : weights[3];
  const int64_t span_h = src[1] + w.pad_top + w.pad_bottom - (w.kernel_h - 1) * w.dilation_h - 1;
  const int64_t span_w = src[2] + w.pad_left + w.pad_right - (w.kernel_w - 1) * w.dilation_w - 1;
  LT_CHECK(span_h >= 0 && span_w >= 0, kInvalidArgument, describe(),
           ": the dilated kernel is larger than the padded input, so there is no output");
  const int64_t out_h = span_h / w.stride_h + 1;
  const int64_t out_w = span_w / w.stride_w + 1;
  LT_CHECK(dst[0] == src[0] && dst[1] == out_h && dst[2] == out_w && dst[3] == out_channels,
           kInvalidArgument, describe(), ": dst must be (", src[0], ", ", out_h, ", ", out_w, ", ",
           out_channels, ")");
}

void check_bias(const TensorView& bias, int64_t channels, const char* who) {
  if (bias.empty()) return;
  LT_CHECK(bias.shape.rank() == 1 && bias.shape[0] == channels, kInvalidArgument, who, ": bias ",
           bias.shape.to_string(), " must be (", channels, ") or an empty view");
}

}  // namespace detail

}  // namespace leantrain::kernels

// Bilinear image resizing with Keras' Resizing(interpolation="bilinear") semantics, which are
// tf.image.resize(method="bilinear", antialias=False): TensorFlow's ResizeBilinear kernel with
// half_pixel_centers=True and align_corners=False. Reference kernels are plain loops (the
// oracle); fast kernels vectorize over the contiguous channel axis.
//
// Shapes are read from the views (src (N, IH, IW, C) f32, dst (N, OH, OW, C) f32, all >= 1);
// the op validates them when the graph is built, so these functions do not check and never throw.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "leantrain/core/tensor.h"

namespace leantrain::kernels {

// The two source rows (or columns) an output row (column) blends: (1 - lerp) * lower +
// lerp * upper.
struct LinearTap {
  int64_t lower = 0, upper = 0;
  float lerp = 0.0f;
};

// TensorFlow's rule (resize_bilinear_op.cc, HalfPixelScaler and compute_interpolation_weights),
// in float as TensorFlow computes it: scale = in / out; source coordinate
// s = (o + 0.5) * scale - 0.5; lower = max(floor(s), 0), upper = min(ceil(s), in - 1),
// lerp = s - floor(s). Near the edges lower == upper, which clamps to the edge pixel.
inline LinearTap resize_tap(int64_t out_index, int64_t in_size, int64_t out_size) {
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  const float s = (static_cast<float>(out_index) + 0.5f) * scale - 0.5f;
  const float s_floor = std::floor(s);
  LinearTap tap;
  tap.lower = std::max(static_cast<int64_t>(s_floor), int64_t{0});
  tap.upper = std::min(static_cast<int64_t>(std::ceil(s)), in_size - 1);
  tap.lerp = s - s_floor;
  return tap;
}

// dst[n, oy, ox, c] = sum over the taps ty of oy and tx of ox of
// wy * wx * src[n, ty, tx, c], with weights (1 - lerp, lerp). dst must not overlap src.
void resize_bilinear_fwd_ref(const TensorView& src, const TensorView& dst);
void resize_bilinear_fwd_fast(const TensorView& src, const TensorView& dst);

// The transpose (backward): diff_src (N, IH, IW, C) is overwritten with, at each source pixel,
// the sum of wy * wx * diff_dst over the output pixels that read it. No overlap allowed.
void resize_bilinear_bwd_ref(const TensorView& diff_dst, const TensorView& diff_src);
void resize_bilinear_bwd_fast(const TensorView& diff_dst, const TensorView& diff_src);

}  // namespace leantrain::kernels

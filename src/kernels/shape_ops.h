// Kernels that move data without arithmetic: zero padding of NHWC images and its inverse
// (cropping), concatenation along the last axis and its inverse (splitting). Reference kernels
// are element-at-a-time loops (the oracle); fast kernels copy contiguous runs in parallel.
//
// Shapes are read from the views and must agree as each function states; the ops validate them
// when the graph is built, so these functions do not check and never throw.
#pragma once

#include <cstdint>
#include <span>

#include "leantrain/core/tensor.h"

namespace leantrain::kernels {

// Zeros added around an image (Keras' ZeroPadding2D ((top, bottom), (left, right))).
struct Pad2D {
  int64_t top = 0, bottom = 0, left = 0, right = 0;
};

// dst (N, H + top + bottom, W + left + right, C) f32 = src (N, H, W, C) f32 at offset
// (top, left), zeros elsewhere. dst must not overlap src.
void zero_pad2d_ref(const Pad2D& pad, const TensorView& src, const TensorView& dst);
void zero_pad2d_fast(const Pad2D& pad, const TensorView& src, const TensorView& dst);

// The inverse of zero_pad2d (its backward): dst (N, H, W, C) f32 = the window of src
// (N, H + top + bottom, W + left + right, C) f32 at offset (top, left). dst may be src's own
// bytes (in place): every element then moves to an address no higher than the one it is read
// from, and both kernels copy in increasing address order (the fast one serially), so nothing is
// overwritten before it is read.
void crop2d_ref(const Pad2D& pad, const TensorView& src, const TensorView& dst);
void crop2d_fast(const Pad2D& pad, const TensorView& src, const TensorView& dst);

// Keras' Concatenate(axis=-1): srcs[i] (..., C_i) f32, all of one rank with equal leading
// dimensions -> dst (..., sum of C_i) f32, channels of srcs[0] first. dst overlaps no source.
void concat_last_ref(std::span<const TensorView> srcs, const TensorView& dst);
void concat_last_fast(std::span<const TensorView> srcs, const TensorView& dst);

// The inverse of concat_last (its backward), for any subset of the parts: dsts[i] (..., C_i) f32
// receives channels [offsets[i], offsets[i] + C_i) of src (..., C) f32, each range inside
// [0, C). dsts[0] may be src's own bytes (in place): it is written after every other output, in
// increasing address order (serially in the fast kernel), as crop2d is; the other outputs must
// not overlap src. `offsets` and `dsts` have one entry per output.
void split_last_ref(const TensorView& src, std::span<const int64_t> offsets,
                    std::span<const TensorView> dsts);
void split_last_fast(const TensorView& src, std::span<const int64_t> offsets,
                     std::span<const TensorView> dsts);

}  // namespace leantrain::kernels

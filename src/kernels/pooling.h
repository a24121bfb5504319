// Pooling kernels over NHWC tensors. Padded cells are ignored (max) or excluded from the count
// (average), as in Keras/TensorFlow.
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/conv2d.h"
#include "leantrain/core/tensor.h"

namespace leantrain::kernels {

// src (N, IH, IW, C) -> dst (N, OH, OW, C). Window2D's dilation must be 1.
void max_pool_fwd_ref(const Window2D& w, const TensorView& src, const TensorView& dst);
// Backward recomputes each window's argmax from src (the first maximum in row-major window
// order wins) and routes diff_dst there; diff_src (N, IH, IW, C) is overwritten.
void max_pool_bwd_ref(const Window2D& w, const TensorView& src, const TensorView& diff_dst,
                      const TensorView& diff_src);
void avg_pool_fwd_ref(const Window2D& w, const TensorView& src, const TensorView& dst);
void avg_pool_bwd_ref(const Window2D& w, const TensorView& diff_dst, const TensorView& diff_src);
// GlobalAveragePooling2D: src (N, H, W, C) -> dst (N, C).
void global_avg_pool_fwd_ref(const TensorView& src, const TensorView& dst);
void global_avg_pool_bwd_ref(const TensorView& diff_dst, const TensorView& diff_src);

// Fast kernels (same contracts as the reference ones above).
void max_pool_fwd_fast(const Window2D& w, const TensorView& src, const TensorView& dst);
void max_pool_bwd_fast(const Window2D& w, const TensorView& src, const TensorView& diff_dst,
                       const TensorView& diff_src);
void avg_pool_fwd_fast(const Window2D& w, const TensorView& src, const TensorView& dst);
void avg_pool_bwd_fast(const Window2D& w, const TensorView& diff_dst, const TensorView& diff_src);
void global_avg_pool_fwd_fast(const TensorView& src, const TensorView& dst);
void global_avg_pool_bwd_fast(const TensorView& diff_dst, const TensorView& diff_src);

}  // namespace leantrain::kernels

// Softmax over the last axis (Keras' Softmax layer and "softmax" activation) and its gradient,
// computed from the output so that backward keeps y, not x.
#pragma once

#include <cstdint>

namespace leantrain::kernels {

// src, dst (N, C) f32 row-major, C >= 1. Writes dst = exp(src - rowmax) / sum(exp(src - rowmax))
// per row (stable for any finite input). May run in place (dst == src).
void softmax_fwd_ref(const float* src, int64_t n, int64_t c, float* dst);
// dst, diff_dst, diff_src (N, C). Writes diff_src = dst * (diff_dst - sum_j(diff_dst * dst)) per
// row. May run in place (diff_src == diff_dst).
void softmax_bwd_ref(const float* dst, const float* diff_dst, int64_t n, int64_t c,
                     float* diff_src);
// The same contracts; rows in parallel, exp approximated to ~1e-7 relative.
void softmax_fwd_fast(const float* src, int64_t n, int64_t c, float* dst);
void softmax_bwd_fast(const float* dst, const float* diff_dst, int64_t n, int64_t c,
                      float* diff_src);

}  // namespace leantrain::kernels

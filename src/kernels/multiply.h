// Elementwise products and affine rescaling: Keras' Multiply (including the squeeze-and-excitation
// gate, a per-image, per-channel scale broadcast over H and W) and Rescaling. Reference kernels
// are plain loops (reductions in double); fast kernels are OpenMP + `omp simd` loops.
//
// Sizes come from the caller, which validated them when the graph was built; nothing here
// checks or throws.
#pragma once

#include <cstdint>

namespace leantrain::kernels {

// dst[i] = a[i] * b[i] for i < n. dst may be a or b (in place).
void multiply_ref(const float* a, const float* b, float* dst, int64_t n);
void multiply_fast(const float* a, const float* b, float* dst, int64_t n);

// The squeeze-and-excitation gate: src (N, P, C) with P = H * W, scale (N, C):
// dst[n, p, c] = src[n, p, c] * scale[n, c]. dst may be src (in place), not scale.
void multiply_channels_ref(const float* src, const float* scale, float* dst, int64_t n, int64_t p,
                           int64_t c);
void multiply_channels_fast(const float* src, const float* scale, float* dst, int64_t n, int64_t p,
                            int64_t c);

// Its gradient with respect to the scale: diff_scale[n, c] = sum over p of
// diff_dst[n, p, c] * src[n, p, c]; diff_scale (N, C) is overwritten and overlaps neither input.
void multiply_channels_bwd_scale_ref(const float* src, const float* diff_dst, float* diff_scale,
                                     int64_t n, int64_t p, int64_t c);
void multiply_channels_bwd_scale_fast(const float* src, const float* diff_dst, float* diff_scale,
                                      int64_t n, int64_t p, int64_t c);

// Keras' Rescaling: dst[i] = src[i] * scale + offset for i < n. dst may be src (in place).
void rescale_ref(float scale, float offset, const float* src, float* dst, int64_t n);
void rescale_fast(float scale, float offset, const float* src, float* dst, int64_t n);

}  // namespace leantrain::kernels

// Element-type casts between f32 and bf16 (bfloat16 as its 16 raw bits): what bf16 storage of
// kept activations runs. f32 -> bf16 rounds to nearest even and keeps NaN a (quiet) NaN, as
// leantrain::float_to_bf16 does; bf16 -> f32 is exact. The fast kernels give the reference's
// bits exactly, for every input (NaN, infinities, denormals and ties included).
#pragma once

#include <cstdint>

namespace leantrain::kernels {

// dst[i] = float_to_bf16(src[i]).bits for i < n. src and dst must not overlap.
void f32_to_bf16_ref(const float* src, uint16_t* dst, int64_t n);
// dst[i] = bf16_to_float(src[i]) for i < n. src and dst must not overlap.
void bf16_to_f32_ref(const uint16_t* src, float* dst, int64_t n);

// The same with AVX2 integer arithmetic, OpenMP-parallel over 16 Ki-element chunks above 32 Ki
// elements (fast::for_chunks).
void f32_to_bf16_fast(const float* src, uint16_t* dst, int64_t n);
void bf16_to_f32_fast(const uint16_t* src, float* dst, int64_t n);

// Centered storage of a channels-last tensor of `rows` x `channels`: dst[r, c] =
// float_to_bf16(src[r, c] - mean[c]).bits (the f32 difference, then rounded), and back,
// dst[r, c] = bf16_to_float(src[r, c]) + mean[c]. src and dst must not overlap.
void f32_centered_to_bf16_ref(const float* src, const float* mean, uint16_t* dst, int64_t rows,
                              int64_t channels);
void bf16_centered_to_f32_ref(const uint16_t* src, const float* mean, float* dst, int64_t rows,
                              int64_t channels);
// The same, 16 (8) channels at a time with AVX2, OpenMP-parallel over rows; the reference's
// bits exactly.
void f32_centered_to_bf16_fast(const float* src, const float* mean, uint16_t* dst, int64_t rows,
                               int64_t channels);
void bf16_centered_to_f32_fast(const uint16_t* src, const float* mean, float* dst, int64_t rows,
                               int64_t channels);

}  // namespace leantrain::kernels

// Keras' Normalization layer (axis=-1, invert=False): each channel is shifted by its mean and
// divided by its standard deviation, floored at Keras' epsilon,
//   dst[r, k] = (src[r, k] - mean[k]) / max(sqrt(variance[k]), 1e-7),
// over `rows` rows of `c` channels (rows = N * H * W for an NHWC image). Its gradient with respect
// to src is diff_dst[r, k] / max(sqrt(variance[k]), 1e-7); mean and variance are non-trainable.
//
// Reference kernels compute the formula element by element as Keras writes it (a subtraction and
// a division). Fast kernels multiply by the reciprocal instead, over a per-channel pattern laid
// out in scratch, so they differ from the reference by rounding only (a few ulp).
//
// Sizes come from the caller, which validated them when the graph was built; nothing here checks
// or throws. Every kernel may run in place (dst == src, diff_src == diff_dst).
#pragma once

#include <cstdint>

namespace leantrain::kernels {

// Keras' backend.epsilon(): the floor of the standard deviation.
constexpr float kNormalizationEpsilon = 1e-7f;

void normalization_fwd_ref(const float* src, const float* mean, const float* variance, float* dst,
                           int64_t rows, int64_t c);
void normalization_bwd_ref(const float* diff_dst, const float* variance, float* diff_src,
                           int64_t rows, int64_t c);

// Floats of scratch the fast kernels need for `c` channels (two copies of the channel pattern,
// repeated to at least 256 floats so the inner loop vectorizes even for c = 3).
int64_t normalization_scratch_floats(int64_t c);
// `scratch` holds normalization_scratch_floats(c) floats; its contents on entry do not matter.
void normalization_fwd_fast(const float* src, const float* mean, const float* variance, float* dst,
                            int64_t rows, int64_t c, float* scratch);
void normalization_bwd_fast(const float* diff_dst, const float* variance, float* diff_src,
                            int64_t rows, int64_t c, float* scratch);

}  // namespace leantrain::kernels

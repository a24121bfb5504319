// Dropout with one keep/drop draw per example: Keras' Dropout(rate, noise_shape=(None, 1, 1, 1)),
// the stochastic depth of EfficientNet's residual blocks. Example b of a batch, made of
// `per_example` contiguous elements, is kept when dropout_keeps(seed, b, rate) (the draw of
// kernels/dropout.h with the example index as the counter); a kept example is scaled by
// 1 / (1 - rate), a dropped one becomes zeros. The mask is a pure function of (seed, example), so
// backward regenerates it and nothing is kept for it; backward is the same function applied to
// diff_dst.
//
// The fast kernel divides exactly as the reference does, so the two agree bit for bit. Sizes come
// from the caller, which validated them when the graph was built; nothing here checks or throws.
// Both run in place (dst == src).
#pragma once

#include <cstdint>

namespace leantrain::kernels {

// dst[b * per_example + i] = keeps(b) ? src[...] / (1 - rate) : 0, for b < examples.
void per_example_dropout_ref(uint64_t seed, float rate, const float* src, float* dst,
                             int64_t examples, int64_t per_example);
void per_example_dropout_fast(uint64_t seed, float rate, const float* src, float* dst,
                              int64_t examples, int64_t per_example);

}  // namespace leantrain::kernels

// Dropout whose mask is a pure function of (seed, element index): backward regenerates it
// instead of keeping it, so dropout keeps no tensor for backward.
#pragma once

#include <cstdint>

namespace leantrain::kernels {

// Returns true when element `index` is kept for this `seed` at this `rate` (probability of
// dropping). The draw is mix64(seed ^ mix64(index)) mapped to [0, 1); kept when >= rate.
bool dropout_keeps(uint64_t seed, int64_t index, float rate);

// dst[i] = keeps(i) ? src[i] / (1 - rate) : 0. In place allowed.
void dropout_fwd_ref(uint64_t seed, float rate, const float* src, float* dst, int64_t n);
// diff_src[i] = keeps(i) ? diff_dst[i] / (1 - rate) : 0. In place allowed.
void dropout_bwd_ref(uint64_t seed, float rate, const float* diff_dst, float* diff_src, int64_t n);
void dropout_fwd_fast(uint64_t seed, float rate, const float* src, float* dst, int64_t n);
void dropout_bwd_fast(uint64_t seed, float rate, const float* diff_dst, float* diff_src, int64_t n);

}  // namespace leantrain::kernels

// Reference dropout: the mask is regenerated from (seed, index) in both passes.
#include <cstdint>

#include "kernels/dropout.h"
#include "leantrain/core/rng.h"

namespace leantrain::kernels {

bool dropout_keeps(uint64_t seed, int64_t index, float rate) {
  const uint64_t bits = mix64(seed ^ mix64(static_cast<uint64_t>(index)));
  return bits_to_unit_float(bits) >= rate;
}

void dropout_fwd_ref(uint64_t seed, float rate, const float* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = dropout_keeps(seed, i, rate) ? src[i] / (1.0f - rate) : 0.0f;
  }
}

void dropout_bwd_ref(uint64_t seed, float rate, const float* diff_dst, float* diff_src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    diff_src[i] = dropout_keeps(seed, i, rate) ? diff_dst[i] / (1.0f - rate) : 0.0f;
  }
}

}  // namespace leantrain::kernels

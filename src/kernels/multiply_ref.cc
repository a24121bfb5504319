// Reference elementwise products and rescaling: plain loops, one element at a time; the
// per-channel reduction accumulates in double. Each loop reads element i before writing it, so
// every kernel documented as in-place capable is.
#include <cstdint>

#include "kernels/multiply.h"

namespace leantrain::kernels {

void multiply_ref(const float* a, const float* b, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = a[i] * b[i];
}

void multiply_channels_ref(const float* src, const float* scale, float* dst, int64_t n, int64_t p,
                           int64_t c) {
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t q = 0; q < p; ++q) {
      for (int64_t k = 0; k < c; ++k) {
        const int64_t i = (b * p + q) * c + k;
        dst[i] = src[i] * scale[b * c + k];
      }
    }
  }
}

// O(N * P * C).
void multiply_channels_bwd_scale_ref(const float* src, const float* diff_dst, float* diff_scale,
                                     int64_t n, int64_t p, int64_t c) {
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t k = 0; k < c; ++k) {
      double acc = 0.0;
      for (int64_t q = 0; q < p; ++q) {
        const int64_t i = (b * p + q) * c + k;
        acc += static_cast<double>(diff_dst[i]) * src[i];
      }
      diff_scale[b * c + k] = static_cast<float>(acc);
    }
  }
}

void rescale_ref(float scale, float offset, const float* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i] * scale + offset;
}

}  // namespace leantrain::kernels

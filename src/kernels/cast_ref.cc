// Reference casts: one element at a time through leantrain::float_to_bf16 / bf16_to_float.
#include "kernels/cast.h"
#include "leantrain/core/dtype.h"

namespace leantrain::kernels {

void f32_to_bf16_ref(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = float_to_bf16(src[i]).bits;
}

void bf16_to_f32_ref(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_float(BF16{src[i]});
}

void f32_centered_to_bf16_ref(const float* src, const float* mean, uint16_t* dst, int64_t rows,
                              int64_t channels) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t i = r * channels + c;
      dst[i] = float_to_bf16(src[i] - mean[c]).bits;
    }
  }
}

void bf16_centered_to_f32_ref(const uint16_t* src, const float* mean, float* dst, int64_t rows,
                              int64_t channels) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t i = r * channels + c;
      dst[i] = bf16_to_float(BF16{src[i]}) + mean[c];
    }
  }
}

}  // namespace leantrain::kernels

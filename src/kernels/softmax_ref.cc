// Reference softmax: per-row scalar loops in double.
#include <cmath>
#include <cstdint>

#include "kernels/softmax.h"

namespace leantrain::kernels {

void softmax_fwd_ref(const float* src, int64_t n, int64_t c, float* dst) {
  for (int64_t r = 0; r < n; ++r) {
    const float* x = src + r * c;
    float* y = dst + r * c;
    double max = x[0];
    for (int64_t j = 1; j < c; ++j) max = std::fmax(max, static_cast<double>(x[j]));
    double sum = 0.0;
    for (int64_t j = 0; j < c; ++j) sum += std::exp(x[j] - max);
    for (int64_t j = 0; j < c; ++j) y[j] = static_cast<float>(std::exp(x[j] - max) / sum);
  }
}

void softmax_bwd_ref(const float* dst, const float* diff_dst, int64_t n, int64_t c,
                     float* diff_src) {
  for (int64_t r = 0; r < n; ++r) {
    const float* y = dst + r * c;
    const float* dy = diff_dst + r * c;
    float* dx = diff_src + r * c;
    double dot = 0.0;
    for (int64_t j = 0; j < c; ++j) dot += static_cast<double>(dy[j]) * y[j];
    for (int64_t j = 0; j < c; ++j) dx[j] = static_cast<float>(y[j] * (dy[j] - dot));
  }
}

}  // namespace leantrain::kernels

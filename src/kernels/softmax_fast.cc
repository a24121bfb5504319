// Fast softmax: rows in parallel, each row's max, exp, sum and scale as `omp simd` loops.
#include <cstdint>

#include "kernels/fast_math.h"
#include "kernels/softmax.h"

namespace leantrain::kernels {
namespace {

using fast::exp_approx;
using fast::kParallelMin;

void row_softmax(const float* x, int64_t c, float* y) {
  float max = x[0];
#pragma omp simd reduction(max : max)
  for (int64_t j = 1; j < c; ++j) max = x[j] > max ? x[j] : max;
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < c; ++j) {
    const float e = exp_approx(x[j] - max);
    y[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t j = 0; j < c; ++j) y[j] *= inv;
}

void row_softmax_grad(const float* y, const float* dy, int64_t c, float* dx) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (int64_t j = 0; j < c; ++j) dot += dy[j] * y[j];
#pragma omp simd
  for (int64_t j = 0; j < c; ++j) dx[j] = y[j] * (dy[j] - dot);
}

}  // namespace

void softmax_fwd_fast(const float* src, int64_t n, int64_t c, float* dst) {
#pragma omp parallel for schedule(static) if (n * c >= kParallelMin)
  for (int64_t r = 0; r < n; ++r) row_softmax(src + r * c, c, dst + r * c);
}

void softmax_bwd_fast(const float* dst, const float* diff_dst, int64_t n, int64_t c,
                      float* diff_src) {
#pragma omp parallel for schedule(static) if (n * c >= kParallelMin)
  for (int64_t r = 0; r < n; ++r) {
    row_softmax_grad(dst + r * c, diff_dst + r * c, c, diff_src + r * c);
  }
}

}  // namespace leantrain::kernels

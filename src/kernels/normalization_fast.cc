// Fast Normalization: y = (x - shift[j]) * scale[j] over the flat array, where the pattern
// (shift, scale) of one row of c channels is repeated `reps` times in scratch, giving a segment
// of L = c * reps >= 256 floats that starts at a row boundary. The segments are shared among the
// OpenMP threads and each one is an `omp simd` loop over its L floats, which vectorizes even for
// the c = 3 of an RGB image. O(rows * c) plus O(L) to lay out the pattern.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/fast_math.h"
#include "kernels/normalization.h"

namespace leantrain::kernels {
namespace {

constexpr int64_t kMinSegment = 256;

int64_t repeats(int64_t c) { return (kMinSegment + c - 1) / c; }

// Lays out shift (mean, or zeros when `mean` is null) and scale (1 / stddev) for one segment:
// scratch[0, L) = shift, scratch[L, 2L) = scale. Returns L.
int64_t lay_out_pattern(const float* mean, const float* variance, int64_t c, float* scratch) {
  const int64_t length = c * repeats(c);
  float* shift = scratch;
  float* scale = scratch + length;
  for (int64_t k = 0; k < c; ++k) {
    shift[k] = mean == nullptr ? 0.0f : mean[k];
    scale[k] = 1.0f / std::max(std::sqrt(variance[k]), kNormalizationEpsilon);
  }
  for (int64_t j = c; j < length; ++j) {
    shift[j] = shift[j - c];
    scale[j] = scale[j - c];
  }
  return length;
}

void apply_pattern(const float* src, float* dst, int64_t n, int64_t length, const float* shift,
                   const float* scale) {
  const int64_t segments = (n + length - 1) / length;
#pragma omp parallel for schedule(static) if (n >= fast::kParallelMin)
  for (int64_t s = 0; s < segments; ++s) {
    const int64_t begin = s * length;
    const int64_t count = std::min(length, n - begin);
    const float* x = src + begin;
    float* y = dst + begin;
#pragma omp simd
    for (int64_t j = 0; j < count; ++j) y[j] = (x[j] - shift[j]) * scale[j];
  }
}

}  // namespace

int64_t normalization_scratch_floats(int64_t c) { return 2 * c * repeats(c); }

void normalization_fwd_fast(const float* src, const float* mean, const float* variance, float* dst,
                            int64_t rows, int64_t c, float* scratch) {
  const int64_t length = lay_out_pattern(mean, variance, c, scratch);
  apply_pattern(src, dst, rows * c, length, scratch, scratch + length);
}

void normalization_bwd_fast(const float* diff_dst, const float* variance, float* diff_src,
                            int64_t rows, int64_t c, float* scratch) {
  const int64_t length = lay_out_pattern(nullptr, variance, c, scratch);
  apply_pattern(diff_dst, diff_src, rows * c, length, scratch, scratch + length);
}

}  // namespace leantrain::kernels

// Fast accuracy counts: rows or chunks in parallel with integer reductions (exact, so the count
// never depends on the thread count), inner loops as `omp simd` where they are branch-free.
// categorical_top1_correct_fast runs the reference's first-argmax scan per row: an argmax with
// first-index ties does not vectorize well and the rows are short.
#include <bit>
#include <cstdint>

#include "kernels/fast_math.h"
#include "kernels/metrics.h"

namespace leantrain::kernels {
namespace {

using fast::kGrain;
using fast::kParallelMin;

int64_t first_argmax(const float* row, int64_t c) {
  int64_t best = 0;
  for (int64_t j = 1; j < c; ++j) {
    if (row[j] > row[best]) best = j;
  }
  return best;
}

// 1 when x is inf or NaN (all exponent bits set).
[[gnu::always_inline]] inline int32_t non_finite(float x) {
  return (std::bit_cast<int32_t>(x) & 0x7f800000) == 0x7f800000;
}

}  // namespace

void top_k_correct_fast(const float* pred, const int32_t* labels, int64_t n, int64_t c, int64_t k,
                        float* correct) {
  int64_t count = 0;
#pragma omp parallel for schedule(static) reduction(+ : count) if (n * c >= kParallelMin)
  for (int64_t r = 0; r < n; ++r) {
    const float* row = pred + r * c;
    const int32_t label = labels[r];
    if (label < 0 || label >= c) continue;
    const float v = row[label];
    int32_t bad = 0;
    int64_t greater = 0;
#pragma omp simd reduction(+ : bad, greater)
    for (int64_t j = 0; j < c; ++j) {
      bad += non_finite(row[j]);
      greater += row[j] > v;
    }
    count += bad == 0 && greater < k;
  }
  *correct = static_cast<float>(count);
}

void categorical_top1_correct_fast(const float* pred, const float* target, int64_t n, int64_t c,
                                   float* correct) {
  int64_t count = 0;
#pragma omp parallel for schedule(static) reduction(+ : count) if (n * c >= kParallelMin)
  for (int64_t r = 0; r < n; ++r) {
    count += first_argmax(pred + r * c, c) == first_argmax(target + r * c, c);
  }
  *correct = static_cast<float>(count);
}

void binary_correct_fast(const float* pred, const float* target, int64_t count, float threshold,
                         float* correct) {
  const int64_t chunks = (count + kGrain - 1) / kGrain;
  int64_t matches = 0;
#pragma omp parallel for schedule(static) reduction(+ : matches) if (count >= kParallelMin)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const int64_t end = chunk * kGrain + kGrain < count ? chunk * kGrain + kGrain : count;
    int64_t local = 0;
#pragma omp simd reduction(+ : local)
    for (int64_t i = chunk * kGrain; i < end; ++i) {
      local += (pred[i] > threshold ? 1.0f : 0.0f) == target[i];
    }
    matches += local;
  }
  *correct = static_cast<float>(matches);
}

}  // namespace leantrain::kernels

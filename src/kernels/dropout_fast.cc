// Fast dropout: the same counter-based mask as dropout_keeps(), computed inline in OpenMP
// chunks of `omp simd` loops. The hash is integer arithmetic and the scaling the same division as
// the reference, so masks and values match the reference bit for bit.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "kernels/dropout.h"
#include "leantrain/core/rng.h"

namespace leantrain::kernels {
namespace {

// Below kParallelMin elements thread start-up costs more than it saves; kGrain elements per
// OpenMP task.
constexpr int64_t kParallelMin = 32768;
constexpr int64_t kGrain = 16384;

// dropout_keeps() draws u = (bits >> 40) * 2^-24 and keeps when u >= rate. Both u and
// rate * 2^24 are exact in float, so that test equals the integer one (bits >> 40) >= the value
// returned here, which vectorizes (AVX2 has no 64-bit integer to float conversion).
uint64_t keep_threshold(float rate) {
  if (std::isnan(rate) || rate > 1.0f) return uint64_t{1} << 24;  // never kept
  if (!(rate > 0.0f)) return 0;                                   // always kept
  return static_cast<uint64_t>(std::ceil(static_cast<double>(rate) * 16777216.0));
}

// dst[i] = keeps(i) ? src[i] / (1 - rate) : 0 over [begin, end).
void masked_scale(uint64_t seed, float rate, const float* src, float* dst, int64_t begin,
                  int64_t end) {
  const float keep = 1.0f - rate;
  const uint64_t threshold = keep_threshold(rate);
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    const uint64_t bits = mix64(seed ^ mix64(static_cast<uint64_t>(i)));
    // An integer mask instead of `kept ? x : 0`: GCC would move the division under a branch,
    // which it cannot vectorize.
    const int32_t mask = -static_cast<int32_t>((bits >> 40) >= threshold);
    dst[i] = std::bit_cast<float>(std::bit_cast<int32_t>(src[i] / keep) & mask);
  }
}

void masked_scale_parallel(uint64_t seed, float rate, const float* src, float* dst, int64_t n) {
  if (n < kParallelMin) {
    masked_scale(seed, rate, src, dst, 0, n);
    return;
  }
  const int64_t chunks = (n + kGrain - 1) / kGrain;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; ++k) {
    masked_scale(seed, rate, src, dst, k * kGrain, std::min(n, (k + 1) * kGrain));
  }
}

}  // namespace

void dropout_fwd_fast(uint64_t seed, float rate, const float* src, float* dst, int64_t n) {
  masked_scale_parallel(seed, rate, src, dst, n);
}

void dropout_bwd_fast(uint64_t seed, float rate, const float* diff_dst, float* diff_src,
                      int64_t n) {
  masked_scale_parallel(seed, rate, diff_dst, diff_src, n);
}

}  // namespace leantrain::kernels

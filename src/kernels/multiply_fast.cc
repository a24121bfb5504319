// Fast elementwise products and rescaling: OpenMP over chunks or rows, `omp simd` over the
// contiguous axis (the kernels module builds with -march=x86-64-v3, so these become AVX2 code).
// - multiply, rescale: fixed chunks of the flat array (fast::for_chunks);
// - multiply_channels: rows of C channels (one image position each) in parallel, the image's
//   scale row reused across its P positions;
// - the scale gradient: (image, block of kChannelBlock channels) pairs in parallel, each summing
//   its P positions into a float accumulator on the stack, so no two threads write one output.
#include <algorithm>
#include <cstdint>

#include "kernels/fast_math.h"
#include "kernels/multiply.h"

namespace leantrain::kernels {
namespace {

using fast::for_chunks;
using fast::kParallelMin;

// Channels one thread reduces together in the scale gradient; their sums live on the stack.
constexpr int64_t kChannelBlock = 256;

}  // namespace

void multiply_fast(const float* a, const float* b, float* dst, int64_t n) {
  for_chunks(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) dst[i] = a[i] * b[i];
  });
}

void multiply_channels_fast(const float* src, const float* scale, float* dst, int64_t n, int64_t p,
                            int64_t c) {
  const int64_t rows = n * p;
#pragma omp parallel for schedule(static) if (rows * c >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = scale + (r / p) * c;
    const float* x = src + r * c;
    float* y = dst + r * c;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) y[k] = x[k] * s[k];
  }
}

void multiply_channels_bwd_scale_fast(const float* src, const float* diff_dst, float* diff_scale,
                                      int64_t n, int64_t p, int64_t c) {
  const int64_t blocks = (c + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static) if (n * p * c >= kParallelMin)
  for (int64_t t = 0; t < n * blocks; ++t) {
    const int64_t b = t / blocks, c0 = (t % blocks) * kChannelBlock;
    const int64_t cn = std::min(kChannelBlock, c - c0);
    float acc[kChannelBlock];
    std::fill_n(acc, cn, 0.0f);
    for (int64_t q = 0; q < p; ++q) {
      const int64_t base = (b * p + q) * c + c0;
      const float* x = src + base;
      const float* g = diff_dst + base;
#pragma omp simd
      for (int64_t k = 0; k < cn; ++k) acc[k] += g[k] * x[k];
    }
    std::copy_n(acc, cn, diff_scale + b * c + c0);
  }
}

void rescale_fast(float scale, float offset, const float* src, float* dst, int64_t n) {
  for_chunks(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) dst[i] = src[i] * scale + offset;
  });
}

}  // namespace leantrain::kernels

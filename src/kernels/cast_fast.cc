// Fast casts: AVX2 integer arithmetic on the float bits, 16 elements per iteration, the tail
// through the scalar rule; OpenMP over chunks for large tensors.
//
// f32 -> bf16, per 32-bit lane u (the same steps as float_to_bf16):
//   - rounded = (u + 0x7fff + ((u >> 16) & 1)) >> 16: round to nearest, ties to even (an
//     exponent carry gives the next power of two, or infinity, as it should);
//   - NaN lanes ((u & 0x7fffffff) > 0x7f800000, a signed compare of non-negative numbers) take
//     (u >> 16) | 0x40 instead: the sign and top payload bits kept, the quiet bit set;
//   - two vectors of 8 results (each < 2^16) pack to 16 halves with unsigned saturation, which
//     interleaves 128-bit lanes; a 64-bit permute restores the order.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cast.h"
#include "kernels/fast_math.h"
#include "leantrain/core/dtype.h"

namespace leantrain::kernels {
namespace {

[[gnu::always_inline]] inline __m256i round_to_bf16_lanes(__m256i u) {
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i bias = _mm256_set1_epi32(0x7fff);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf_bits = _mm256_set1_epi32(0x7f800000);
  const __m256i quiet = _mm256_set1_epi32(0x40);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, bias), lsb), 16);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf_bits);
  const __m256i quieted = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet);
  return _mm256_blendv_epi8(rounded, quieted, nan);
}

void f32_to_bf16_range(const float* src, uint16_t* dst, int64_t begin, int64_t end) {
  int64_t i = begin;
  for (; i + 16 <= end; i += 16) {
    const __m256i a =
        round_to_bf16_lanes(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)));
    const __m256i b =
        round_to_bf16_lanes(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 8)));
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), packed);
  }
  for (; i < end; ++i) dst[i] = float_to_bf16(src[i]).bits;
}

void bf16_to_f32_range(const uint16_t* src, float* dst, int64_t begin, int64_t end) {
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const __m256i wide =
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_slli_epi32(wide, 16));
  }
  for (; i < end; ++i) dst[i] = bf16_to_float(BF16{src[i]});
}

// Rows [begin, end) of a rows x channels tensor.
void f32_centered_to_bf16_rows(const float* src, const float* mean, uint16_t* dst, int64_t channels,
                               int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const float* x = src + r * channels;
    uint16_t* y = dst + r * channels;
    int64_t c = 0;
    for (; c + 16 <= channels; c += 16) {
      const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + c), _mm256_loadu_ps(mean + c));
      const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + c + 8), _mm256_loadu_ps(mean + c + 8));
      const __m256i a = round_to_bf16_lanes(_mm256_castps_si256(d0));
      const __m256i b = round_to_bf16_lanes(_mm256_castps_si256(d1));
      const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + c), packed);
    }
    for (; c < channels; ++c) y[c] = float_to_bf16(x[c] - mean[c]).bits;
  }
}

void bf16_centered_to_f32_rows(const uint16_t* src, const float* mean, float* dst, int64_t channels,
                               int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const uint16_t* x = src + r * channels;
    float* y = dst + r * channels;
    int64_t c = 0;
    for (; c + 8 <= channels; c += 8) {
      const __m256i wide =
          _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + c)));
      const __m256 f = _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
      _mm256_storeu_ps(y + c, _mm256_add_ps(f, _mm256_loadu_ps(mean + c)));
    }
    for (; c < channels; ++c) y[c] = bf16_to_float(BF16{x[c]}) + mean[c];
  }
}

// Calls body(begin, end) over the rows [0, rows) in chunks of about fast::kGrain elements,
// shared among the OpenMP threads above fast::kParallelMin elements (fast::for_chunks by rows).
template <typename Body>
void for_row_chunks(int64_t rows, int64_t channels, const Body& body) {
  const int64_t chunk = std::max<int64_t>(1, fast::kGrain / std::max<int64_t>(1, channels));
  const int64_t chunks = (rows + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (rows * channels >= fast::kParallelMin)
  for (int64_t k = 0; k < chunks; ++k) body(k * chunk, std::min(rows, (k + 1) * chunk));
}

}  // namespace

void f32_centered_to_bf16_fast(const float* src, const float* mean, uint16_t* dst, int64_t rows,
                               int64_t channels) {
  for_row_chunks(rows, channels, [=](int64_t b, int64_t e) {
    f32_centered_to_bf16_rows(src, mean, dst, channels, b, e);
  });
}

void bf16_centered_to_f32_fast(const uint16_t* src, const float* mean, float* dst, int64_t rows,
                               int64_t channels) {
  for_row_chunks(rows, channels, [=](int64_t b, int64_t e) {
    bf16_centered_to_f32_rows(src, mean, dst, channels, b, e);
  });
}

void f32_to_bf16_fast(const float* src, uint16_t* dst, int64_t n) {
  fast::for_chunks(n, [=](int64_t b, int64_t e) { f32_to_bf16_range(src, dst, b, e); });
}

void bf16_to_f32_fast(const uint16_t* src, float* dst, int64_t n) {
  fast::for_chunks(n, [=](int64_t b, int64_t e) { bf16_to_f32_range(src, dst, b, e); });
}

}  // namespace leantrain::kernels

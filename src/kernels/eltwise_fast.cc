// Fast elementwise kernels: OpenMP over fixed chunks, each chunk an `omp simd` loop that the
// compiler turns into AVX2 code (the kernels module builds with -march=x86-64-v3). exp, sigmoid
// and tanh use branch-free approximations (within a few ulp of libm) so that they vectorize.
// Relu's and Relu6's backward select 0 where the reference multiplies by 0: the same numbers,
// except that a non-finite diff_dst at an inactive unit gives 0 here and NaN there.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "kernels/eltwise.h"
#include "kernels/fast_math.h"

namespace leantrain::kernels {
namespace {

using fast::exp_approx;
using fast::for_chunks;

// Branch-free forms. GCC will not if-convert floating-point work that sits under a branch
// (it might trap), and it turns a float compare-and-select with constant arms into such
// branches; integer masks keep every loop below straight-line, so it vectorizes.

// Returns cond ? a : b without a branch.
[[gnu::always_inline]] inline float select_bits(bool cond, float a, float b) {
  const int32_t mask = -static_cast<int32_t>(cond);
  return std::bit_cast<float>((std::bit_cast<int32_t>(a) & mask) |
                              (std::bit_cast<int32_t>(b) & ~mask));
}

[[gnu::always_inline]] inline float sigmoid_approx(float x) {
  return 1.0f / (1.0f + exp_approx(-x));
}

// tanh: an odd polynomial (Cephes' tanhf) below |x| = 0.625, where 1 - 2/(e^2|x| + 1) would
// lose digits to cancellation, and that formula with x's sign above it.
[[gnu::always_inline]] inline float tanh_approx(float x) {
  const float ax = std::fabs(x);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float big_magnitude = 1.0f - 2.0f / (exp_approx(2.0f * ax) + 1.0f);
  const float big =
      std::bit_cast<float>(std::bit_cast<int32_t>(big_magnitude) |
                           (std::bit_cast<int32_t>(x) & std::bit_cast<int32_t>(-0.0f)));
  return select_bits(ax < 0.625f, small, big);
}

}  // namespace

void activation_fwd_fast(Activation act, const float* src, float* dst, int64_t n) {
  switch (act) {
    case Activation::kRelu:
      for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) dst[i] = src[i] > 0.0f ? src[i] : 0.0f;
      });
      break;
    case Activation::kRelu6:
      for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) {
          const float x = src[i];
          dst[i] = x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f;
        }
      });
      break;
    case Activation::kSigmoid:
      for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) dst[i] = sigmoid_approx(src[i]);
      });
      break;
    case Activation::kTanh:
      for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) dst[i] = tanh_approx(src[i]);
      });
      break;
    case Activation::kSwish:
      for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) dst[i] = src[i] * sigmoid_approx(src[i]);
      });
      break;
  }
}

void activation_bwd_fast(Activation act, const float* saved, const float* diff_dst, float* diff_src,
                         int64_t n) {
  switch (act) {
    case Activation::kRelu:
      for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i)
          diff_src[i] = select_bits(saved[i] > 0.0f, diff_dst[i], 0.0f);
      });
      break;
    case Activation::kRelu6:
      for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) {
          const float y = saved[i];
          diff_src[i] = select_bits((y > 0.0f) & (y < 6.0f), diff_dst[i], 0.0f);
        }
      });
      break;
    case Activation::kSigmoid:
      for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) diff_src[i] = diff_dst[i] * (saved[i] * (1.0f - saved[i]));
      });
      break;
    case Activation::kTanh:
      for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) diff_src[i] = diff_dst[i] * (1.0f - saved[i] * saved[i]);
      });
      break;
    case Activation::kSwish:
      for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) {
          const float x = saved[i];
          const float sg = sigmoid_approx(x);
          diff_src[i] = diff_dst[i] * (sg * (1.0f + x * (1.0f - sg)));
        }
      });
      break;
  }
}

void add_fast(const float* a, const float* b, float* dst, int64_t n) {
  for_chunks(n, [=](int64_t lo, int64_t hi) {
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) dst[i] = a[i] + b[i];
  });
}

void accumulate_fast(const float* src, float* dst, int64_t n) {
  for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) dst[i] += src[i];
  });
}

}  // namespace leantrain::kernels

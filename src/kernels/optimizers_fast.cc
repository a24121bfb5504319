// Fast optimizer updates: OpenMP over fixed chunks of vectorized loops; the same arithmetic as
// the reference, in the same order, so results agree to rounding (FMA contraction aside).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include <immintrin.h>

#include "kernels/fast_math.h"
#include "kernels/optimizers.h"

namespace leantrain::kernels {
namespace {

using fast::for_chunks;

}  // namespace

void sgd_update_fast(const SgdHyper& h, float* param, const float* grad, float* velocity,
                     int64_t n) {
  const float lr = h.learning_rate;
  const float m = h.momentum;
  if (m == 0.0f) {
    for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) param[i] -= lr * grad[i];
    });
  } else if (h.nesterov) {
    for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) {
        const float vel = m * velocity[i] - lr * grad[i];
        velocity[i] = vel;
        param[i] += m * vel - lr * grad[i];
      }
    });
  } else {
    for_chunks(n, [=](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) {
        const float vel = m * velocity[i] - lr * grad[i];
        velocity[i] = vel;
        param[i] += vel;
      }
    });
  }
}

void adam_update_fast(const AdamHyper& h, float* param, const float* grad, float* m, float* v,
                      int64_t n) {
  const double t = static_cast<double>(h.step);
  const float alpha =
      static_cast<float>(h.learning_rate * std::sqrt(1.0 - std::pow(double{h.beta_2}, t)) /
                         (1.0 - std::pow(double{h.beta_1}, t)));
  const float one_minus_b1 = 1.0f - h.beta_1;
  const float one_minus_b2 = 1.0f - h.beta_2;
  const float wd = h.weight_decay;
  const float lr = h.learning_rate;
  const float eps = h.epsilon;
  for_chunks(n, [=](int64_t b, int64_t e) {
    int64_t i = b;
#ifdef __AVX__
    // AVX by hand: std::sqrt must set errno for negative inputs (-fmath-errno is on), and the
    // branch GCC emits for that keeps it from vectorizing an `omp simd` loop.
    const __m256 k_b1 = _mm256_set1_ps(one_minus_b1), k_b2 = _mm256_set1_ps(one_minus_b2);
    const __m256 k_wd = _mm256_set1_ps(wd), k_lr = _mm256_set1_ps(lr);
    const __m256 k_eps = _mm256_set1_ps(eps), k_alpha = _mm256_set1_ps(alpha);
    for (; i + 8 <= e; i += 8) {
      const __m256 g = _mm256_loadu_ps(grad + i);
      __m256 mi = _mm256_loadu_ps(m + i);
      __m256 vi = _mm256_loadu_ps(v + i);
      mi = _mm256_add_ps(mi, _mm256_mul_ps(_mm256_sub_ps(g, mi), k_b1));
      vi = _mm256_add_ps(vi, _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(g, g), vi), k_b2));
      _mm256_storeu_ps(m + i, mi);
      _mm256_storeu_ps(v + i, vi);
      __m256 p = _mm256_loadu_ps(param + i);
      p = _mm256_sub_ps(p, _mm256_mul_ps(_mm256_mul_ps(p, k_wd), k_lr));
      const __m256 step =
          _mm256_div_ps(_mm256_mul_ps(k_alpha, mi), _mm256_add_ps(_mm256_sqrt_ps(vi), k_eps));
      _mm256_storeu_ps(param + i, _mm256_sub_ps(p, step));
    }
#endif
    for (; i < e; ++i) {
      const float g = grad[i];
      m[i] += (g - m[i]) * one_minus_b1;
      v[i] += (g * g - v[i]) * one_minus_b2;
      param[i] -= param[i] * wd * lr;
      param[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
    }
  });
}

}  // namespace leantrain::kernels

// Vectorizable logarithms for the fast loss kernels, beside fast_math.h's exp. Private to
// src/kernels.
#pragma once

#include <bit>
#include <cstdint>

namespace leantrain::kernels::fast {

// Returns cond ? a : b without a branch (GCC will not if-convert float selects under a branch,
// which would keep a loop from vectorizing).
[[gnu::always_inline]] inline float select_bits(bool cond, float a, float b) {
  const int32_t mask = -static_cast<int32_t>(cond);
  return std::bit_cast<float>((std::bit_cast<int32_t>(a) & mask) |
                              (std::bit_cast<int32_t>(b) & ~mask));
}

// log(x) for a positive normal float x, relative error ~1e-7 (Cephes' logf polynomial). A NaN
// gives NaN; other inputs that are not finite, positive and normal (>= 1.18e-38) give garbage,
// not a trap. Every caller here passes a clipped probability (>= 1e-7) or a value in [1, 2].
[[gnu::always_inline]] inline float log_approx(float x) {
  const int32_t bits = std::bit_cast<int32_t>(x);
  // x = m * 2^e with m in [0.5, 1).
  int32_t e = ((bits >> 23) & 0xff) - 126;
  float m = std::bit_cast<float>((bits & 0x007fffff) | 0x3f000000);
  // Below sqrt(1/2), use 2m - 1 and e - 1 so that the polynomial's argument stays in
  // [sqrt(1/2) - 1, sqrt(2) - 1].
  const int32_t small = -static_cast<int32_t>(m < 0.707106781186547524f);  // 0 or -1
  e += small;
  m = m - 1.0f + std::bit_cast<float>(std::bit_cast<int32_t>(m) & small);
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y *= m * z;
  const float ef = static_cast<float>(e);
  y += -2.12194440e-4f * ef;  // ln 2 split in two, as in exp_approx
  y += -0.5f * z;
  return m + y + 0.693359375f * ef + (x - x);  // x - x: 0, or NaN for a NaN
}

// log(1 + e) for e in [0, 1], accurate also where 1 + e rounds to 1 (Goldberg's trick: the
// rounding error of u = 1 + e cancels in log(u) * e / (u - 1)).
[[gnu::always_inline]] inline float log1p_small(float e) {
  const float u = 1.0f + e;
  const float d = u - 1.0f;
  const bool exact = d == 0.0f;
  const float ratio = log_approx(u) * e / select_bits(exact, 1.0f, d);
  return select_bits(exact, e, ratio);
}

}  // namespace leantrain::kernels::fast

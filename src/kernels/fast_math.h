// Building blocks of the fast kernels: OpenMP over fixed chunks, and a vectorizable exp.
// Private to src/kernels.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>

namespace leantrain::kernels::fast {

// Below kParallelMin elements thread start-up costs more than it saves; kGrain elements
// (64 KiB of floats) per OpenMP task.
constexpr int64_t kParallelMin = 32768;
constexpr int64_t kGrain = 16384;

// Calls body(begin, end) over [0, n): serially when n is small, else in kGrain chunks shared
// statically among the OpenMP threads.
template <typename Body>
void for_chunks(int64_t n, const Body& body) {
  if (n < kParallelMin) {
    body(int64_t{0}, n);
    return;
  }
  const int64_t chunks = (n + kGrain - 1) / kGrain;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; ++k) body(k * kGrain, std::min(n, (k + 1) * kGrain));
}

// exp(x), relative error ~1.2e-7 (Cephes' expf polynomial). Inputs are clamped to [-87, 88] so
// the result stays a normal float: exp(-87) ~ 1.6e-38 stands in for smaller values, exp(88)
// ~ 1.7e38 for larger ones. A NaN stays NaN (as std::exp's), so that it reaches the loss and
// the output instead of turning into a number.
[[gnu::always_inline]] inline float exp_approx(float x) {
  constexpr int32_t kBits87 = std::bit_cast<int32_t>(87.0f);
  constexpr int32_t kBits88 = std::bit_cast<int32_t>(88.0f);
  constexpr int32_t kSignBit = std::bit_cast<int32_t>(-0.0f);
  const int32_t bits = std::bit_cast<int32_t>(x);
  const int32_t limit = kBits88 - ((bits >> 31) & (kBits88 - kBits87));  // 87 if x < 0
  int32_t magnitude = bits & ~kSignBit;
  constexpr int32_t kInfinityBits = 0x7f800000;  // magnitudes above it are NaN
  magnitude = magnitude < limit || magnitude > kInfinityBits ? magnitude : limit;
  x = std::bit_cast<float>(magnitude | (bits & kSignBit));

  constexpr float kShifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float t = x * 1.44269504088896341f + kShifter;
  const float k = t - kShifter;  // round(x / ln 2)
  const int32_t ki = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kShifter);
  float r = x - k * 0.693359375f;  // ln 2 split in two for an exact reduction
  r = r + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  return y * std::bit_cast<float>((ki + 127) << 23);  // y * 2^k
}

}  // namespace leantrain::kernels::fast

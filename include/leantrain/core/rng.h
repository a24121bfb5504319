// Seeded random numbers. One seed fixes initialization, shuffling and dropout.
#pragma once

#include <cstdint>

namespace leantrain {

// SplitMix64 finalizer: a bijective mix of 64 bits, used for counter-based randomness
// (dropout masks are a pure function of seed, step and element index).
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Returns a float uniform in [0, 1) from 24 random bits of `bits`.
constexpr float bits_to_unit_float(uint64_t bits) {
  return static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);
}

// xoshiro256** seeded through SplitMix64. Deterministic for a seed on every platform.
// Not thread-safe: give each thread its own generator.
class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t next_u64();
  // Uniform in [0, 1).
  float uniform();
  // Uniform in [low, high).
  float uniform(float low, float high);
  // Standard normal (Box-Muller; deterministic).
  float normal();
  // Normal truncated to two standard deviations, as Keras' TruncatedNormal.
  float truncated_normal();
  // Uniform integer in [0, n); requires n > 0.
  uint64_t below(uint64_t n);

 private:
  uint64_t s_[4];
};

}  // namespace leantrain

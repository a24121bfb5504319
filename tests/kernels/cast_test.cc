// f32 <-> bf16 casts: hand-worked roundings (ties to even, carries into the exponent and to
// infinity, NaN quieted, denormals), the bound of round to nearest, every bf16 bit pattern back
// to f32, and the fast kernels bit for bit against the reference on seeded random bits with
// specials and ties mixed in, across sizes (vector tails, the parallel path), writing nothing
// outside their output.
#include "kernels/cast.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

uint16_t ref_bits(uint32_t f32_bits) {
  const float x = std::bit_cast<float>(f32_bits);
  uint16_t out = 0;
  f32_to_bf16_ref(&x, &out, 1);
  return out;
}

uint16_t fast_bits(uint32_t f32_bits) {
  // A full vector, so the value goes through the AVX2 path (position 3 of 16).
  std::vector<float> x(16, 1.0f);
  x[3] = std::bit_cast<float>(f32_bits);
  std::vector<uint16_t> out(16, 0);
  f32_to_bf16_fast(x.data(), out.data(), 16);
  return out[3];
}

struct Case {
  uint32_t f32;
  uint16_t bf16;
  const char* what;
};

// Expectations worked out by hand from the bf16 format (sign, 8 exponent bits, 7 mantissa
// bits: the top half of the f32 bits), rounding to nearest, ties to even.
constexpr Case kHandCases[] = {
    {0x3f800000u, 0x3f80, "1.0 is exact"},
    {0x3f808000u, 0x3f80, "a tie below an even mantissa rounds down"},
    {0x3f818000u, 0x3f82, "a tie below an odd mantissa rounds up to even"},
    {0x3f808001u, 0x3f81, "just above a tie rounds up"},
    {0x3f807fffu, 0x3f80, "just below a tie rounds down"},
    {0x3fffffffu, 0x4000, "a mantissa carry moves into the exponent"},
    {0x7f7fffffu, 0x7f80, "the largest float rounds to infinity"},
    {0x7f800000u, 0x7f80, "+infinity"},
    {0xff800000u, 0xff80, "-infinity"},
    {0x7fc00000u, 0x7fc0, "a quiet NaN"},
    {0x7f800001u, 0x7fc0, "a signaling NaN with a low payload is quieted, not rounded to inf"},
    {0xff80ffffu, 0xffc0, "a negative NaN keeps its sign"},
    {0x7fffffffu, 0x7fff, "a NaN with all payload bits does not carry into the sign"},
    {0x80000000u, 0x8000, "-0 keeps its sign"},
    {0x00000001u, 0x0000, "the smallest denormal rounds to 0"},
    {0x00008000u, 0x0000, "a denormal tie rounds to even (0)"},
    {0x00018000u, 0x0002, "a denormal tie rounds to even (2)"},
    {0x807fffffu, 0x8080, "the largest negative denormal rounds to the smallest normal"},
    {0x40c00000u, 0x40c0, "6.0 is exact"},
    {0x40bfc000u, 0x40c0, "6 - 2^-8 rounds to 6"},
};

TEST(CastTest, ReferenceRoundsToNearestEvenAsWorkedOutByHand) {
  for (const Case& c : kHandCases) {
    EXPECT_EQ(ref_bits(c.f32), c.bf16) << c.what << std::hex << ": f32 bits 0x" << c.f32;
  }
}

TEST(CastTest, FastRoundsToNearestEvenAsWorkedOutByHand) {
  for (const Case& c : kHandCases) {
    EXPECT_EQ(fast_bits(c.f32), c.bf16) << c.what << std::hex << ": f32 bits 0x" << c.f32;
  }
}

TEST(CastTest, RoundingErrorIsAtMostHalfAUnitInTheLastPlace) {
  // For normal values inside bf16's range (8 significant bits): half a unit in the last place,
  // |bf16(x) - x| <= 2^(e - 8) for x in [2^e, 2^(e+1)).
  const std::vector<float> x = testing::random_floats(100000, 7, -1000.0f, 1000.0f);
  std::vector<uint16_t> b(x.size());
  f32_to_bf16_ref(x.data(), b.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const float back = std::bit_cast<float>(static_cast<uint32_t>(b[i]) << 16);
    ASSERT_LE(std::fabs(back - x[i]), std::ldexp(1.0f, std::ilogb(x[i]) - 8)) << "x = " << x[i];
  }
}

TEST(CastTest, EveryBf16PatternWidensExactlyAndRoundTrips) {
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  std::vector<float> ref(all.size()), fast(all.size());
  bf16_to_f32_ref(all.data(), ref.data(), 65536);
  bf16_to_f32_fast(all.data(), fast.data(), 65536);
  std::vector<uint16_t> back(all.size());
  f32_to_bf16_fast(ref.data(), back.data(), 65536);
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint32_t bits = std::bit_cast<uint32_t>(ref[i]);
    ASSERT_EQ(bits, i << 16) << "bf16 0x" << std::hex << i;
    ASSERT_EQ(std::bit_cast<uint32_t>(fast[i]), bits) << "bf16 0x" << std::hex << i;
    const bool nan = (i & 0x7fffu) > 0x7f80u;
    // A representable value comes back unchanged; a NaN comes back a quiet NaN of its sign.
    ASSERT_EQ(back[i], nan ? (i | 0x40u) : i) << "bf16 0x" << std::hex << i;
  }
}

// Seeded random f32 bit patterns (every class: NaN, infinities, denormals, zeros), a share of
// exact ties and of values next to ties, and the specials at both ends.
std::vector<float> random_bits(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u = static_cast<uint32_t>(rng());
    switch (rng() % 8) {
      case 0:
        u = (u & 0xffff0000u) | 0x8000u;  // an exact tie
        break;
      case 1:
        u = (u & 0x807fffffu) | (rng() % 2 ? 0x7f800000u : 0u);  // NaN/inf or denormal/zero
        break;
      case 2:
        u = (u & 0xffff0000u) | (0x8000u + static_cast<uint32_t>(rng() % 3) - 1u);  // near a tie
        break;
      default:
        break;
    }
    x[static_cast<size_t>(i)] = std::bit_cast<float>(u);
  }
  return x;
}

TEST(CastTest, FastMatchesReferenceBitForBitAcrossSizes) {
  for (int64_t n : {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 32767, 32768, 100003}) {
    const std::vector<float> x = random_bits(n, 100 + static_cast<uint64_t>(n));
    std::vector<uint16_t> ref(static_cast<size_t>(n)), back_ref(static_cast<size_t>(n));
    f32_to_bf16_ref(x.data(), ref.data(), n);
    testing::GuardedBuffer fast(n * 2);
    f32_to_bf16_fast(x.data(), static_cast<uint16_t*>(fast.data()), n);
    ASSERT_TRUE(fast.guards_intact()) << "f32_to_bf16_fast wrote outside its output, n = " << n;
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t got = static_cast<const uint16_t*>(fast.data())[i];
      ASSERT_EQ(got, ref[static_cast<size_t>(i)])
          << "n = " << n << ", index " << i << ", f32 bits 0x" << std::hex
          << std::bit_cast<uint32_t>(x[static_cast<size_t>(i)]);
    }
    std::vector<float> wide_ref(static_cast<size_t>(n));
    bf16_to_f32_ref(ref.data(), wide_ref.data(), n);
    testing::GuardedBuffer wide_fast(n * 4);
    bf16_to_f32_fast(ref.data(), static_cast<float*>(wide_fast.data()), n);
    ASSERT_TRUE(wide_fast.guards_intact()) << "bf16_to_f32_fast wrote outside its output";
    ASSERT_TRUE(n == 0 ||
                std::memcmp(wide_fast.data(), wide_ref.data(), static_cast<size_t>(n) * 4) == 0)
        << "n = " << n;
  }
}

// Centered casts: fast against reference on random bit patterns and random means, row and
// channel counts around the vector widths and the parallel threshold, output guards intact.
TEST(CastTest, CenteredFastMatchesReferenceBitForBit) {
  for (const auto& [rows, channels] : std::vector<std::pair<int64_t, int64_t>>{
           {0, 8}, {1, 1}, {3, 7}, {5, 16}, {2, 17}, {9, 24}, {4, 33}, {3000, 12}, {700, 96}}) {
    const int64_t n = rows * channels;
    const std::vector<float> x = random_bits(n, 300 + static_cast<uint64_t>(n));
    const std::vector<float> mean =
        testing::random_floats(channels, 7 + static_cast<uint64_t>(channels), -50.0f, 50.0f);
    std::vector<uint16_t> ref(static_cast<size_t>(n));
    f32_centered_to_bf16_ref(x.data(), mean.data(), ref.data(), rows, channels);
    testing::GuardedBuffer fast(n * 2);
    f32_centered_to_bf16_fast(x.data(), mean.data(), static_cast<uint16_t*>(fast.data()), rows,
                              channels);
    ASSERT_TRUE(fast.guards_intact()) << rows << "x" << channels;
    ASSERT_TRUE(n == 0 || std::memcmp(fast.data(), ref.data(), static_cast<size_t>(n) * 2) == 0)
        << rows << "x" << channels;
    std::vector<float> wide_ref(static_cast<size_t>(n));
    bf16_centered_to_f32_ref(ref.data(), mean.data(), wide_ref.data(), rows, channels);
    testing::GuardedBuffer wide_fast(n * 4);
    bf16_centered_to_f32_fast(ref.data(), mean.data(), static_cast<float*>(wide_fast.data()), rows,
                              channels);
    ASSERT_TRUE(wide_fast.guards_intact()) << rows << "x" << channels;
    for (int64_t i = 0; i < n; ++i) {
      const float got = static_cast<const float*>(wide_fast.data())[i];
      const float want = wide_ref[static_cast<size_t>(i)];
      ASSERT_TRUE(std::bit_cast<uint32_t>(got) == std::bit_cast<uint32_t>(want) ||
                  (std::isnan(got) && std::isnan(want)))
          << rows << "x" << channels << ", index " << i;
    }
  }
}

}  // namespace
}  // namespace leantrain::kernels

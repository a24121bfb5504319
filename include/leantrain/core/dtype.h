// Element types of tensors.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace leantrain {

enum class DType : uint8_t { kF32, kBF16, kI32, kU8 };

// Returns the size of one element in bytes.
constexpr int64_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kBF16:
      return 2;
    case DType::kU8:
      return 1;
  }
  return 0;
}

// Returns the lower-case name used in messages and reports: "f32", "bf16", "i32", "u8".
const char* dtype_name(DType dtype);

// bfloat16 stored as its 16 raw bits; conversion from float rounds to nearest even.
struct BF16 {
  uint16_t bits = 0;
};

inline BF16 float_to_bf16(float value) {
  uint32_t u;
  std::memcpy(&u, &value, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return BF16{static_cast<uint16_t>((u >> 16) | 0x40)};  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return BF16{static_cast<uint16_t>(u >> 16)};
}

inline float bf16_to_float(BF16 value) {
  uint32_t u = static_cast<uint32_t>(value.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace leantrain

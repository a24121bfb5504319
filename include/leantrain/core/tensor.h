// Non-owning views of contiguous, row-major tensors.
#pragma once

#include <cstdint>
#include <type_traits>

#include "leantrain/core/dtype.h"
#include "leantrain/core/error.h"
#include "leantrain/core/shape.h"

namespace leantrain {

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::kF32;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::kI32;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::kU8;
}
template <>
constexpr DType dtype_of<BF16>() {
  return DType::kBF16;
}

// A pointer with a dtype and a shape. It owns nothing: whoever made it keeps the memory alive.
// Copying a view copies the pointer, not the data. Not thread-safe beyond what the memory is.
struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kF32;
  Shape shape;

  TensorView() = default;
  TensorView(void* data_in, DType dtype_in, Shape shape_in)
      : data(data_in), dtype(dtype_in), shape(shape_in) {}
  template <typename T>
  TensorView(T* typed, Shape shape_in)
      : data(const_cast<void*>(static_cast<const void*>(typed))),
        dtype(dtype_of<std::remove_const_t<T>>()),
        shape(shape_in) {}

  bool empty() const { return data == nullptr; }
  int64_t num_elements() const { return shape.num_elements(); }
  int64_t bytes() const { return num_elements() * dtype_size(dtype); }

  // Returns the data as T*; throws Error(kInternal) when T is not the view's dtype.
  template <typename T>
  T* as() const {
    LT_ASSERT(dtype_of<std::remove_const_t<T>>() == dtype);
    return static_cast<T*>(data);
  }
  float* f32() const { return as<float>(); }
  int32_t* i32() const { return as<int32_t>(); }
};

}  // namespace leantrain

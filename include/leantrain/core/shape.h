// Tensor shapes: up to kMaxRank dimensions, stored inline (no allocation).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

namespace leantrain {

class Shape {
 public:
  static constexpr int kMaxRank = 6;

  Shape() = default;
  // Throws Error(kInvalidArgument) for more than kMaxRank dimensions or a negative one.
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(std::span<const int64_t> dims);

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return dims_[static_cast<size_t>(i)]; }
  int64_t& operator[](int i) { return dims_[static_cast<size_t>(i)]; }
  // The last dimension is -1, the first -rank.
  int64_t dim(int i) const { return dims_[static_cast<size_t>(i < 0 ? i + rank_ : i)]; }
  std::span<const int64_t> dims() const { return {dims_.data(), static_cast<size_t>(rank_)}; }

  // Returns the product of the dimensions (1 for rank 0).
  int64_t num_elements() const;
  // Returns "(128, 26, 26, 32)"; `batch_as_none` prints the first dimension as None, as Keras.
  std::string to_string(bool batch_as_none = false) const;
  // Returns this shape with dimension 0 replaced by `batch`.
  Shape with_batch(int64_t batch) const;

  friend bool operator==(const Shape& a, const Shape& b);

 private:
  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

}  // namespace leantrain

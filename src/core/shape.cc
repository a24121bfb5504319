#include "leantrain/core/shape.h"

#include "leantrain/core/error.h"

namespace leantrain {

Shape::Shape(std::initializer_list<int64_t> dims)
    : Shape(std::span<const int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const int64_t> dims) {
  LT_CHECK(dims.size() <= kMaxRank, kInvalidArgument, "a shape has at most ", kMaxRank,
           " dimensions, got ", dims.size());
  for (int64_t d : dims) {
    LT_CHECK(d >= 0, kInvalidArgument, "shape dimensions must be >= 0, got ", d);
    dims_[static_cast<size_t>(rank_++)] = d;
  }
}

int64_t Shape::num_elements() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<size_t>(i)];
  return n;
}

std::string Shape::to_string(bool batch_as_none) const {
  std::string out = "(";
  for (int i = 0; i < rank_; ++i) {
    if (i > 0) out += ", ";
    out += (i == 0 && batch_as_none) ? "None" : std::to_string(dims_[static_cast<size_t>(i)]);
  }
  if (rank_ == 1 && !batch_as_none) out += ",";
  return out + ")";
}

Shape Shape::with_batch(int64_t batch) const {
  LT_ASSERT(rank_ >= 1);
  Shape out = *this;
  out.dims_[0] = batch;
  return out;
}

bool operator==(const Shape& a, const Shape& b) {
  if (a.rank_ != b.rank_) return false;
  for (int i = 0; i < a.rank_; ++i) {
    if (a.dims_[static_cast<size_t>(i)] != b.dims_[static_cast<size_t>(i)]) return false;
  }
  return true;
}

}  // namespace leantrain

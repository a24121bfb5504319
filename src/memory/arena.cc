// The planned arena: one aligned, zero-filled allocation.
#include "leantrain/memory/arena.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "leantrain/core/error.h"

namespace leantrain::memory {
namespace {

// Allocates `bytes` (> 0) rounded up to kAlignment, as std::aligned_alloc requires, and
// zero-fills all of it so every page is resident.
void* allocate_zeroed(int64_t bytes) {
  LT_CHECK(bytes <= std::numeric_limits<int64_t>::max() - Arena::kAlignment, kInvalidArgument,
           "arena of ", bytes, " bytes is too large");
  const int64_t rounded = (bytes + Arena::kAlignment - 1) / Arena::kAlignment * Arena::kAlignment;
  void* p =
      std::aligned_alloc(static_cast<size_t>(Arena::kAlignment), static_cast<size_t>(rounded));
  LT_CHECK(p != nullptr, kOutOfBudget, "could not allocate an arena of ", bytes, " bytes (",
           readable_bytes(bytes), "): the system refused; lower the batch size or the budget");
  std::memset(p, 0, static_cast<size_t>(rounded));
  return p;
}

}  // namespace

Arena::Arena(int64_t bytes) {
  LT_CHECK(bytes >= 0, kInvalidArgument, "arena size ", bytes, " bytes is negative");
  if (bytes > 0) {
    base_ = allocate_zeroed(bytes);
    bytes_ = bytes;
  }
}

Arena::~Arena() { std::free(base_); }

Arena::Arena(Arena&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

Arena& Arena::operator=(Arena&& other) noexcept {
  if (this != &other) {
    std::free(base_);
    base_ = std::exchange(other.base_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

// Compares addresses as integers: relational operators on pointers into different objects are
// unspecified.
bool Arena::contains(const void* p, int64_t n) const {
  if (base_ == nullptr || n < 0) return false;
  const auto begin = reinterpret_cast<uintptr_t>(base_);
  const auto address = reinterpret_cast<uintptr_t>(p);
  if (address < begin) return false;
  const uintptr_t from_base = address - begin;
  const auto size = static_cast<uintptr_t>(bytes_);
  return from_base <= size && static_cast<uintptr_t>(n) <= size - from_base;
}

void Arena::grow_to(int64_t bytes) {
  LT_CHECK(bytes >= 0, kInvalidArgument, "arena size ", bytes, " bytes is negative");
  if (bytes <= bytes_) return;
  std::free(base_);
  base_ = nullptr;
  bytes_ = 0;
  base_ = allocate_zeroed(bytes);
  bytes_ = bytes;
}

// Keras' readable_memory_size: keep dividing by 1024 while the value is at least 1024.
std::string readable_bytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KB", "MB", "GB", "TB"};
  constexpr int kUnitCount = 5;
  double value = bytes < 0 ? -static_cast<double>(bytes) : static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit + 1 < kUnitCount) {
    value /= 1024.0;
    ++unit;
  }
  char text[64];
  std::snprintf(text, sizeof(text), "%s%.2f %s", bytes < 0 ? "-" : "", value, kUnits[unit]);
  return text;
}

}  // namespace leantrain::memory

// An arena: one aligned, zero-initialized block reserved through an Allocator.
#include "leantrain/memory/arena.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "leantrain/core/error.h"
#include "memory/block.h"

namespace leantrain::memory {
namespace {

// Rounds a validated size (>= 0) up to kAlignment, as std::aligned_alloc requires.
int64_t aligned_size(int64_t bytes) {
  LT_CHECK(bytes >= 0, kInvalidArgument, "arena size ", bytes, " bytes is negative");
  LT_CHECK(bytes <= std::numeric_limits<int64_t>::max() - Arena::kAlignment, kInvalidArgument,
           "arena of ", bytes, " bytes is too large");
  return (bytes + Arena::kAlignment - 1) / Arena::kAlignment * Arena::kAlignment;
}

}  // namespace

Arena::Arena(int64_t bytes) { grow_to(bytes); }

Arena::Arena(int64_t bytes, std::shared_ptr<Allocator> allocator, std::string what)
    : allocator_(std::move(allocator)), what_(std::move(what)) {
  LT_CHECK(allocator_ != nullptr, kInvalidArgument, "no allocator given for ", what_);
  grow_to(bytes);
}

Arena::~Arena() { release(); }

Arena::Arena(Arena&& other) noexcept
    : allocator_(std::move(other.allocator_)),
      what_(std::move(other.what_)),
      base_(std::exchange(other.base_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      reserved_(std::exchange(other.reserved_, 0)),
      mode_(other.mode_),
      charge_id_(std::exchange(other.charge_id_, 0)) {
  other.allocator_ = nullptr;
  other.what_ = "arena";
}

Arena& Arena::operator=(Arena&& other) noexcept {
  if (this != &other) {
    release();
    allocator_ = std::exchange(other.allocator_, nullptr);
    what_ = std::exchange(other.what_, "arena");
    base_ = std::exchange(other.base_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    reserved_ = std::exchange(other.reserved_, 0);
    mode_ = other.mode_;
    charge_id_ = std::exchange(other.charge_id_, 0);
  }
  return *this;
}

const std::shared_ptr<Allocator>& Arena::allocator() const {
  return allocator_ != nullptr ? allocator_ : Allocator::default_allocator();
}

int64_t Arena::committed_bytes() const { return detail::committed_bytes(base_, reserved_, mode_); }

void Arena::release() {
  detail::return_block(base_, reserved_, mode_);
  if (charge_id_ != 0) allocator()->uncharge(charge_id_);
  base_ = nullptr;
  bytes_ = 0;
  reserved_ = 0;
  charge_id_ = 0;
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

void Arena::grow_to(int64_t bytes, std::string what) {
  const int64_t reserved = aligned_size(bytes);
  if (bytes <= bytes_) return;  // what_ keeps naming what the block was sized for
  Allocator& allocator = *this->allocator();
  // Checked before anything is freed, so a refusal leaves the arena as it was.
  const uint64_t id = allocator.charge(reserved, what, charge_id_);
  charge_id_ = 0;  // the new record replaced the old one
  release();
  what_ = std::move(what);
  try {
    base_ = detail::take_block(reserved, allocator.mode(), what_);
  } catch (...) {
    allocator.uncharge(id);
    throw;
  }
  bytes_ = bytes;
  reserved_ = reserved;
  mode_ = allocator.mode();
  charge_id_ = id;
}

void Arena::grow_to(int64_t bytes) { grow_to(bytes, what_); }

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

// The one block of memory that holds every planned, step-local buffer, and a printer for byte
// counts.
#pragma once

#include <cstdint>
#include <string>

namespace leantrain::memory {

// One kAlignment-aligned block owned by this object (std::aligned_alloc / std::free).
// Move-only: a moved-from Arena is empty (base() == nullptr, bytes() == 0).
// Not thread-safe to grow while others use it; reading base() and bytes() concurrently is fine.
class Arena {
 public:
  static constexpr int64_t kAlignment = 64;

  // An empty arena: base() == nullptr, bytes() == 0.
  Arena() = default;
  // Allocates `bytes` and zero-fills them, which touches every page, so the resident memory is
  // what was planned from the start. bytes 0 allocates nothing. Throws Error(kInvalidArgument)
  // for negative bytes and Error(kOutOfBudget) naming the size when the system refuses.
  explicit Arena(int64_t bytes);
  ~Arena();

  Arena(Arena&& other) noexcept;
  Arena& operator=(Arena&& other) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // The first byte, kAlignment-aligned; nullptr when bytes() == 0.
  void* base() const { return base_; }
  int64_t bytes() const { return bytes_; }

  // True if [p, p + n) lies inside [base(), base() + bytes()); n == 0 counts when p lies in
  // [base(), base() + bytes()]. Always false for an empty arena or a negative n.
  bool contains(const void* p, int64_t n) const;

  // Makes the arena at least `bytes` long: when larger than bytes(), frees the old block first
  // (contents are NOT preserved; freeing first keeps the peak down) and allocates a new
  // zero-filled one; otherwise does nothing. The runtime calls this when a larger program is
  // compiled. Throws as the constructor does; if the new allocation fails the arena is empty.
  void grow_to(int64_t bytes);

 private:
  void* base_ = nullptr;
  int64_t bytes_ = 0;
};

// Human-readable byte counts as Keras prints them: divide by 1024 while the value is >= 1024,
// units B, KB, MB, GB, TB, printed with "%.2f <unit>", e.g. "2.39 MB", "244.00 B". Values past
// 1024 TB stay in TB. A negative count (a difference) prints with a leading '-'.
std::string readable_bytes(int64_t bytes);

}  // namespace leantrain::memory

// A block of memory reserved through an Allocator: the one that holds every planned, step-local
// buffer, or the persistent block; and a printer for byte counts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "leantrain/memory/allocator.h"

namespace leantrain::memory {

// One kAlignment-aligned, zero-initialized block reserved through an Allocator, which decides
// how it is taken (preallocate: allocated and zero-filled now; grow: mapped now, pages committed
// when first touched) and whether it fits the limit. The block keeps its allocator alive and is
// counted by memory_stats() while it lives. Move-only: a moved-from Arena is empty
// (base() == nullptr, bytes() == 0) and grows through the default allocator.
// Not thread-safe to grow while others use it; reading base() and bytes() concurrently is fine.
class Arena {
 public:
  static constexpr int64_t kAlignment = 64;

  // An empty arena: base() == nullptr, bytes() == 0. Grows through the default allocator.
  Arena() = default;
  // Allocates `bytes` through the default allocator (preallocate, no limit) and zero-fills them,
  // which touches every page, so the resident memory is what was planned from the start.
  // bytes 0 allocates nothing. Throws Error(kInvalidArgument) for negative bytes and
  // Error(kOutOfBudget) naming the size when the system refuses.
  explicit Arena(int64_t bytes);
  // Reserves `bytes` through `allocator` (not null), for `what` (named in messages and in the
  // allocator's list of held blocks, e.g. "persistent block (parameters, gradients)"); later
  // growth goes through the same allocator. Zero-initialized in either mode: preallocate
  // zero-fills, grow gets zero pages from the kernel. bytes 0 reserves nothing. Throws
  // Error(kInvalidArgument) for negative bytes, Error(kOutOfBudget) when the allocator's limit
  // would be exceeded (naming what, how much, the limit and what is already held) or the system
  // refuses.
  Arena(int64_t bytes, std::shared_ptr<Allocator> allocator, std::string what);
  ~Arena();

  Arena(Arena&& other) noexcept;
  Arena& operator=(Arena&& other) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // The first byte, kAlignment-aligned; nullptr when bytes() == 0.
  void* base() const { return base_; }
  int64_t bytes() const { return bytes_; }
  // What the block is for, as given (or "arena").
  const std::string& what() const { return what_; }
  // The allocator this arena reserves through (the default one unless given).
  const std::shared_ptr<Allocator>& allocator() const;
  // Bytes of the block committed now: bytes() rounded up to kAlignment in preallocate mode;
  // in grow mode the pages mincore(2) reports resident (up to that rounded size).
  int64_t committed_bytes() const;

  // True if [p, p + n) lies inside [base(), base() + bytes()); n == 0 counts when p lies in
  // [base(), base() + bytes()]. Always false for an empty arena or a negative n.
  bool contains(const void* p, int64_t n) const;

  // Makes the arena at least `bytes` long: when larger than bytes(), checks the limit (counting
  // this arena's current block as released: it is freed first, which keeps the peak down),
  // frees the old block, and reserves a new zero-initialized one through the same allocator
  // (contents are NOT preserved and nothing is copied); otherwise does nothing. The runtime
  // calls this when a larger program is compiled. The second form names what asks for the new block
  // (the old name stays when nothing grows). Throws as the constructor does: on a limit refusal the
  // arena keeps its old block; if the system refuses the new block the arena is empty.
  void grow_to(int64_t bytes);
  void grow_to(int64_t bytes, std::string what);

 private:
  void release();

  std::shared_ptr<Allocator> allocator_;  // null means the default allocator
  std::string what_ = "arena";
  void* base_ = nullptr;
  int64_t bytes_ = 0;
  int64_t reserved_ = 0;  // bytes_ rounded up to kAlignment: what the allocator was charged
  AllocatorMode mode_ = AllocatorMode::kPreallocate;  // how base_ was taken
  uint64_t charge_id_ = 0;                            // the allocator's record of this block
};

// Human-readable byte counts as Keras prints them: divide by 1024 while the value is >= 1024,
// units B, KB, MB, GB, TB, printed with "%.2f <unit>", e.g. "2.39 MB", "244.00 B". Values past
// 1024 TB stay in TB. A negative count (a difference) prints with a leading '-'.
std::string readable_bytes(int64_t bytes);

}  // namespace leantrain::memory

// Allocator modes, the per-allocator limit, the process-wide block registry and its statistics.
#include "leantrain/memory/allocator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>

#include "leantrain/core/error.h"
#include "leantrain/memory/arena.h"
#include "leantrain/memory/bytes.h"
#include "memory/block.h"

namespace leantrain::memory {
namespace {

int64_t page_bytes() {
  static const int64_t bytes = sysconf(_SC_PAGESIZE);
  return bytes;
}

int64_t round_up(int64_t bytes, int64_t to) { return (bytes + to - 1) / to * to; }

// "1.50 GiB (1610612736 bytes)": readable and exact.
std::string amount(int64_t bytes) {
  return internal::str_cat(format_iec_bytes(bytes), " (", bytes, " bytes)");
}

// Like amount(), but the readable part rounds up, so that passing it back as a limit is enough.
std::string amount_at_least(int64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return amount(bytes);
  double value = static_cast<double>(bytes) / 1024.0;
  int unit = 0;
  while (value >= 1024.0 && unit + 1 < 5) {
    value /= 1024.0;
    ++unit;
  }
  char text[64];
  std::snprintf(text, sizeof(text), "%.2f %s", std::ceil(value * 100.0) / 100.0, kUnits[unit]);
  return internal::str_cat(text, " (", bytes, " bytes)");
}

// Every live block taken from the system, for memory_stats(). One mutex guards it all: current
// bytes of grow blocks can only be read by walking the live mappings with mincore, so the list
// of mappings and the counters must change together; blocks are taken and returned at compile
// time, never during a step, so the lock is never contended on a hot path.
class Registry {
 public:
  void add(const void* base, int64_t bytes, AllocatorMode mode) {
    const std::lock_guard lock(mutex_);
    blocks_[base] = Block{bytes, mode};
    reserved_ += bytes;
    if (mode == AllocatorMode::kPreallocate) preallocated_ += bytes;
    peak_ = std::max(peak_, current_locked());
  }

  void remove(const void* base) {
    const std::lock_guard lock(mutex_);
    auto it = blocks_.find(base);
    LT_ASSERT(it != blocks_.end());
    peak_ = std::max(peak_, current_locked());  // the block's pages still count
    reserved_ -= it->second.bytes;
    if (it->second.mode == AllocatorMode::kPreallocate) preallocated_ -= it->second.bytes;
    blocks_.erase(it);
  }

  MemoryStats stats() {
    const std::lock_guard lock(mutex_);
    MemoryStats s;
    s.current_bytes = current_locked();
    peak_ = std::max(peak_, s.current_bytes);
    s.peak_bytes = peak_;
    s.reserved_bytes = reserved_;
    return s;
  }

  void reset_peak() {
    const std::lock_guard lock(mutex_);
    peak_ = current_locked();
  }

 private:
  struct Block {
    int64_t bytes = 0;
    AllocatorMode mode = AllocatorMode::kPreallocate;
  };

  int64_t current_locked() const {
    int64_t total = preallocated_;
    for (const auto& [base, block] : blocks_) {
      if (block.mode == AllocatorMode::kGrow) {
        total += detail::committed_bytes(base, block.bytes, block.mode);
      }
    }
    return total;
  }

  std::mutex mutex_;
  std::map<const void*, Block> blocks_;
  int64_t reserved_ = 0;
  int64_t preallocated_ = 0;  // committed bytes of preallocated blocks: all of them
  int64_t peak_ = 0;
};

// Never destroyed, so arenas in static objects may outlive every other static.
Registry& registry() {
  static Registry* const r = new Registry;
  return *r;
}

}  // namespace

const char* allocator_mode_name(AllocatorMode mode) {
  switch (mode) {
    case AllocatorMode::kPreallocate:
      return "preallocate";
    case AllocatorMode::kGrow:
      return "grow";
  }
  return "?";
}

AllocatorMode parse_allocator_mode(const std::string& text) {
  if (text == "preallocate") return AllocatorMode::kPreallocate;
  if (text == "grow") return AllocatorMode::kGrow;
  throw Error(ErrorCode::kInvalidArgument,
              internal::str_cat("unknown allocator mode '", text,
                                "'; use preallocate (take and touch the whole plan when it is "
                                "compiled) or grow (commit pages as they are first used)"));
}

Allocator::Allocator(AllocatorOptions options) : options_(options) {
  LT_CHECK(options_.limit_bytes >= 0, kInvalidArgument, "memory limit of ", options_.limit_bytes,
           " bytes is negative; pass 0 for no limit");
}

int64_t Allocator::held_bytes() const {
  const std::lock_guard lock(mutex_);
  int64_t total = 0;
  for (const Held& h : held_) total += h.bytes;
  return total;
}

const std::shared_ptr<Allocator>& Allocator::default_allocator() {
  static const auto* const allocator =
      new std::shared_ptr<Allocator>(std::make_shared<Allocator>());
  return *allocator;
}

uint64_t Allocator::charge(int64_t bytes, const std::string& what, uint64_t replacing) {
  LT_ASSERT(bytes > 0 && bytes % Arena::kAlignment == 0);
  const std::lock_guard lock(mutex_);
  int64_t others = 0;
  for (const Held& h : held_) {
    if (h.id != replacing) others += h.bytes;
  }
  const int64_t limit = options_.limit_bytes;
  if (limit > 0 && bytes > limit - others) {
    std::ostringstream message;
    message << what << " needs " << amount(bytes) << ", over the memory limit of " << amount(limit);
    if (others == 0) {
      message << " (nothing else is held)";
    } else {
      // One holder: "held by persistent block (...)"; more: "held by a 1.00 MiB + b 2.00 MiB".
      const bool several = static_cast<int64_t>(held_.size()) - (replacing != 0 ? 1 : 0) > 1;
      message << ", with " << amount(others) << " already held by ";
      const char* separator = "";
      for (const Held& h : held_) {
        if (h.id == replacing) continue;
        message << separator << h.what;
        if (several) message << " " << format_iec_bytes(h.bytes);
        separator = " + ";
      }
    }
    message << "; raise the limit to at least " << amount_at_least(others + bytes)
            << ", or ask for less (a smaller batch, or a memory budget)";
    throw Error(ErrorCode::kOutOfBudget, message.str());
  }
  std::erase_if(held_, [&](const Held& h) { return h.id == replacing; });
  held_.push_back(Held{next_id_, what, bytes});
  return next_id_++;
}

void Allocator::uncharge(uint64_t id) {
  if (id == 0) return;
  const std::lock_guard lock(mutex_);
  std::erase_if(held_, [&](const Held& h) { return h.id == id; });
}

MemoryStats memory_stats() { return registry().stats(); }

void reset_peak_memory_stats() { registry().reset_peak(); }

namespace detail {

void* take_block(int64_t bytes, AllocatorMode mode, const std::string& what) {
  LT_ASSERT(bytes > 0 && bytes % Arena::kAlignment == 0);
  void* base = nullptr;
  if (mode == AllocatorMode::kPreallocate) {
    base = std::aligned_alloc(static_cast<size_t>(Arena::kAlignment), static_cast<size_t>(bytes));
    LT_CHECK(base != nullptr, kOutOfBudget, "could not allocate ", what, " of ", amount(bytes),
             ": the system refused; lower the batch size or the budget");
    std::memset(base, 0, static_cast<size_t>(bytes));
  } else {
    // No MAP_NORESERVE: the kernel's overcommit check still sees the whole reservation, so a
    // reservation the machine cannot back fails here, at compile time, rather than as an
    // out-of-memory kill in the middle of a step.
    const int64_t mapped = round_up(bytes, page_bytes());
    base = mmap(nullptr, static_cast<size_t>(mapped), PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    LT_CHECK(base != MAP_FAILED, kOutOfBudget, "could not reserve ", what, " of ", amount(bytes),
             ": the system refused (", std::strerror(errno),
             "); lower the batch size or the budget");
  }
  try {
    registry().add(base, bytes, mode);
  } catch (...) {  // only std::bad_alloc from the registry's map: give the block back
    if (mode == AllocatorMode::kPreallocate) {
      std::free(base);
    } else {
      munmap(base, static_cast<size_t>(round_up(bytes, page_bytes())));
    }
    throw;
  }
  return base;
}

void return_block(void* base, int64_t bytes, AllocatorMode mode) {
  if (base == nullptr) return;
  registry().remove(base);
  if (mode == AllocatorMode::kPreallocate) {
    std::free(base);
  } else {
    munmap(base, static_cast<size_t>(round_up(bytes, page_bytes())));
  }
}

// mincore(2) fills one byte per page; bit 0 says whether the page is resident. Pages are asked
// for in chunks into a stack buffer, so this neither allocates nor throws: it runs inside
// destructors (return_block). mincore fails only for an unmapped range, which a live block is
// not; should it ever fail, the chunk counts as committed (an over-count, never an under-count).
int64_t committed_bytes(const void* base, int64_t bytes, AllocatorMode mode) {
  if (base == nullptr || bytes <= 0) return 0;
  if (mode == AllocatorMode::kPreallocate) return bytes;
  constexpr int64_t kChunkPages = 4096;
  unsigned char resident[kChunkPages];
  const int64_t page = page_bytes();
  const int64_t pages = round_up(bytes, page) / page;
  auto* const start = static_cast<unsigned char*>(const_cast<void*>(base));
  int64_t total = 0;
  for (int64_t first = 0; first < pages; first += kChunkPages) {
    const int64_t count = std::min(kChunkPages, pages - first);
    const bool known =
        mincore(start + first * page, static_cast<size_t>(count * page), resident) == 0;
    for (int64_t i = 0; i < count; ++i) {
      if (!known || (resident[i] & 1) != 0) total += std::min(page, bytes - (first + i) * page);
    }
  }
  return total;
}

}  // namespace detail
}  // namespace leantrain::memory

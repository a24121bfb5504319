// Allocator modes, a hard limit, and memory statistics for the memory leantrain's programs own:
// the persistent block and the step arenas (see Arena). TensorFlow's options, for our blocks:
// - preallocate: a block is allocated and zero-filled when it is reserved, so the resident memory
//   is the plan from the start (predictable; TensorFlow's default of mapping everything);
// - grow: a block is reserved as address space (an anonymous mapping, zero pages from the
//   kernel) and each page is committed the first time a kernel touches it, and not returned while
//   the block lives (TensorFlow's set_memory_growth). With a static plan this is "taken on demand
//   as the arena and buffers are first used, never returned";
// - a limit: the blocks of one allocator may never reserve more than limit_bytes together. It is
//   checked when a block is reserved (when a program is compiled or the persistent block is
//   allocated), never during a step: a step only touches what was reserved.
// The memory module knows sizes and names, nothing of graphs: callers pass what a block is for.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace leantrain::memory {

enum class AllocatorMode {
  kPreallocate,  // allocated and zero-filled when reserved: resident from the start (default)
  kGrow,         // address space reserved; pages committed when first touched, never returned
};

// "preallocate" or "grow".
const char* allocator_mode_name(AllocatorMode mode);
// Parses "preallocate" or "grow" (as a command line takes them). Throws Error(kInvalidArgument)
// naming the text and the two modes otherwise.
AllocatorMode parse_allocator_mode(const std::string& text);

struct AllocatorOptions {
  AllocatorMode mode = AllocatorMode::kPreallocate;
  // The most bytes the live blocks of one allocator may reserve together; 0 means no limit.
  int64_t limit_bytes = 0;
};

// Reserves blocks for Arena in one mode under one limit, and remembers what each live block is
// for, so that a refusal can name what is already held. A model has one: its persistent block
// and its step arena share it, so the limit covers both. Blocks keep their allocator alive
// (Arena holds a shared_ptr). Thread-safe.
class Allocator {
 public:
  // Throws Error(kInvalidArgument) for a negative limit.
  explicit Allocator(AllocatorOptions options = {});
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  const AllocatorOptions& options() const { return options_; }
  AllocatorMode mode() const { return options_.mode; }
  int64_t limit_bytes() const { return options_.limit_bytes; }
  // Bytes reserved by this allocator's live blocks, each rounded up to Arena::kAlignment.
  int64_t held_bytes() const;

  // The allocator of Arena(bytes) and of runtime objects built without options: preallocate,
  // no limit. Shared by the whole process, never destroyed.
  static const std::shared_ptr<Allocator>& default_allocator();

 private:
  friend class Arena;
  struct Held {
    uint64_t id = 0;
    std::string what;
    int64_t bytes = 0;
  };

  // Records `bytes` (> 0, a multiple of Arena::kAlignment) for `what`, counting the live block
  // `replacing` (0: none) as already released, and returns the new block's id. Throws
  // Error(kOutOfBudget) when the limit would be exceeded, naming `what`, `bytes`, the limit and
  // every other block held; nothing changes then.
  uint64_t charge(int64_t bytes, const std::string& what, uint64_t replacing);
  // Forgets block `id` (no-op for 0).
  void uncharge(uint64_t id);

  const AllocatorOptions options_;
  mutable std::mutex mutex_;
  std::vector<Held> held_;  // guarded by mutex_
  uint64_t next_id_ = 1;    // guarded by mutex_
};

// Figures over every block that any Allocator has reserved in this process (persistent blocks
// and arenas of every model), like tf.config.experimental.get_memory_info and
// torch.cuda.memory_allocated / max_memory_allocated / memory_reserved.
struct MemoryStats {
  // Committed now: all of every preallocated block, plus the resident pages of every grow block
  // as mincore(2) reports them (each block's count is capped at its reserved bytes, so the unused
  // tail of its last page is not counted). mincore rather than counting the plan's buffers: it is
  // what the kernel actually backs, whichever kernel touched which page. It can over-count, and
  // under-counts only pages the system swapped out: a page that was only read maps the kernel's
  // shared zero page, which mincore reports resident though it costs nothing (VmRSS does not count
  // it); a step never reads a buffer before writing it, so after a step this does not arise.
  int64_t current_bytes = 0;
  // The most current_bytes has been since the process started or reset_peak_memory_stats().
  int64_t peak_bytes = 0;
  // Reserved by live blocks, committed or not (what the limits count).
  int64_t reserved_bytes = 0;
};

// Returns the statistics now. Thread-safe. Costs one mincore call per 4096 pages (16 MiB) of grow
// blocks.
// The peak is exact: grow blocks only gain pages while they live (no swap), so the sum peaks
// either now or just before a block is released, and both points are measured.
MemoryStats memory_stats();

// Sets the peak to the current bytes (tf.config.experimental.reset_memory_stats,
// torch.cuda.reset_peak_memory_stats). Thread-safe.
void reset_peak_memory_stats();

}  // namespace leantrain::memory

// Blocks of memory taken from the system in one allocator mode, registered for memory_stats().
// Private to the memory module: Arena is the only caller.
#pragma once

#include <cstdint>
#include <string>

#include "leantrain/memory/allocator.h"

namespace leantrain::memory::detail {

// Takes `bytes` (> 0, a multiple of Arena::kAlignment) from the system, kAlignment-aligned and
// zero: preallocate allocates and zero-fills every byte; grow maps anonymous memory and touches
// nothing. Registers the block for memory_stats(). Throws Error(kOutOfBudget) naming `what` and
// the size when the system refuses. Thread-safe.
void* take_block(int64_t bytes, AllocatorMode mode, const std::string& what);

// Returns a block take_block gave with the same bytes and mode, after folding the process's
// current bytes into the peak. No-op for nullptr. Thread-safe.
void return_block(void* base, int64_t bytes, AllocatorMode mode);

// Bytes of the block committed now: all of them for preallocate; for grow, the pages mincore(2)
// reports resident, counted up to `bytes`. Thread-safe for a live block.
int64_t committed_bytes(const void* base, int64_t bytes, AllocatorMode mode);

}  // namespace leantrain::memory::detail

// ResidentGrowth: what compiling a program adds to the process beyond the allocator's blocks
// (MemoryReport::runtime_bytes).
#pragma once

#include <algorithm>
#include <cstdint>

#include "leantrain/memory/allocator.h"
#include "leantrain/memory/process_memory.h"

namespace leantrain::train {

// Resident bytes gained since construction that are not pages of our allocator's blocks (the
// persistent block and arenas): heap and generated code. Measured process-wide.
class ResidentGrowth {
 public:
  ResidentGrowth()
      : rss_(memory::current_rss_bytes()), committed_(memory::memory_stats().current_bytes) {}
  int64_t beyond_our_blocks() const {
    const int64_t rss = memory::current_rss_bytes() - rss_;
    const int64_t ours = memory::memory_stats().current_bytes - committed_;
    return std::max<int64_t>(0, rss - ours);
  }

 private:
  int64_t rss_, committed_;
};

}  // namespace leantrain::train

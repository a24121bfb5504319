// The process's resident memory as the kernel counts it: what benchmarks compare the plan's
// prediction against: the peak resident set (VmHWM) minus the resident set before the model was
// built. Linux only.
#pragma once

#include <cstdint>

namespace leantrain::memory {

// Reads VmRSS from /proc/self/status: the bytes resident now. Throws Error(kIo) if the file or
// the field cannot be read.
int64_t current_rss_bytes();

// Reads VmHWM from /proc/self/status: the peak resident bytes since the process started or
// since the last reset_peak_rss(). Throws Error(kIo) if the file or the field cannot be read.
int64_t peak_rss_bytes();

// Resets the kernel's peak-RSS counter (VmHWM) to the current RSS by writing "5" to
// /proc/self/clear_refs (Linux 4.0+). Returns false if not permitted or not supported.
bool reset_peak_rss();

// Returns the heap's free pages to the system (glibc's malloc_trim(0)): after a phase that
// allocated and freed many small blocks (indexing a directory of 20,000 files), so that their
// pages do not stay resident for the rest of the run. A no-op elsewhere.
void release_free_heap_memory();

}  // namespace leantrain::memory

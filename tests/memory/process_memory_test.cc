#include "leantrain/memory/process_memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

namespace leantrain::memory {
namespace {

constexpr int64_t kMiB = 1024 * 1024;
constexpr int64_t kPageBytes = 4096;

// Allocates `bytes` and writes one non-zero byte per page, so every page becomes resident;
// returns a sum of what was written so the writes cannot be optimized away.
int64_t touch_pages(std::unique_ptr<unsigned char[]>& block, int64_t bytes) {
  block = std::make_unique_for_overwrite<unsigned char[]>(static_cast<size_t>(bytes));
  for (int64_t i = 0; i < bytes; i += kPageBytes) block[static_cast<size_t>(i)] = 1;
  int64_t sum = 0;
  for (int64_t i = 0; i < bytes; i += kPageBytes) sum += block[static_cast<size_t>(i)];
  return sum;
}

TEST(ProcessMemoryTest, PeakIsAtLeastCurrentAndBothArePositive) {
  const int64_t current = current_rss_bytes();
  const int64_t peak = peak_rss_bytes();
  EXPECT_GT(current, 0);
  EXPECT_GE(peak, current);
  EXPECT_EQ(current % 1024, 0);  // the kernel reports kB
}

TEST(ProcessMemoryTest, TouchingSixtyFourMiBRaisesPeakBySixtyMiB) {
  reset_peak_rss();  // optional: the check below holds either way
  const int64_t before = current_rss_bytes();
  std::unique_ptr<unsigned char[]> block;
  const int64_t bytes = 64 * kMiB;
  EXPECT_EQ(touch_pages(block, bytes), bytes / kPageBytes);
  const int64_t peak = peak_rss_bytes();
  EXPECT_GE(peak - before, 60 * kMiB) << "rss before " << before << ", peak after " << peak;
}

TEST(ProcessMemoryTest, ResetBringsPeakDownToCurrent) {
  {
    std::unique_ptr<unsigned char[]> block;
    touch_pages(block, 64 * kMiB);
  }
  if (!reset_peak_rss()) GTEST_SKIP() << "/proc/self/clear_refs is not writable here";
  const int64_t peak = peak_rss_bytes();
  const int64_t current = current_rss_bytes();
  EXPECT_LE(peak - current, 16 * kMiB) << "peak " << peak << ", current " << current;
}

}  // namespace
}  // namespace leantrain::memory

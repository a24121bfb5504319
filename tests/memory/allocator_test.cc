#include "leantrain/memory/allocator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/memory/arena.h"
#include "leantrain/memory/process_memory.h"

namespace leantrain::memory {
namespace {

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
// The most one page fault may commit: a transparent huge page on x86-64, when THP is "always".
constexpr int64_t kHugePageBytes = 2 * kMiB;

int64_t page_bytes() { return sysconf(_SC_PAGESIZE); }

std::shared_ptr<Allocator> make_allocator(AllocatorMode mode, int64_t limit_bytes = 0) {
  return std::make_shared<Allocator>(AllocatorOptions{.mode = mode, .limit_bytes = limit_bytes});
}

// Writes one non-zero byte into each page of [base, base + bytes), committing them.
void touch(void* base, int64_t bytes) {
  auto* p = static_cast<volatile unsigned char*>(base);
  for (int64_t i = 0; i < bytes; i += page_bytes()) p[i] = 1;
}

// Runs `f`, expecting Error(kOutOfBudget); returns its message.
template <typename F>
std::string out_of_budget_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfBudget) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected Error(kOutOfBudget)";
  return "";
}

std::string bytes_text(int64_t bytes) { return std::to_string(bytes) + " bytes"; }

TEST(AllocatorModeTest, NamesParseBack) {
  for (const AllocatorMode mode : {AllocatorMode::kPreallocate, AllocatorMode::kGrow}) {
    EXPECT_EQ(parse_allocator_mode(allocator_mode_name(mode)), mode);
  }
  EXPECT_STREQ(allocator_mode_name(AllocatorMode::kPreallocate), "preallocate");
  EXPECT_STREQ(allocator_mode_name(AllocatorMode::kGrow), "grow");
}

TEST(AllocatorModeTest, UnknownModeNamesTheTextAndBothModes) {
  try {
    parse_allocator_mode("lazy");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    const std::string message = e.what();
    EXPECT_NE(message.find("'lazy'"), std::string::npos) << message;
    EXPECT_NE(message.find("preallocate"), std::string::npos) << message;
    EXPECT_NE(message.find("grow"), std::string::npos) << message;
  }
}

TEST(AllocatorTest, DefaultsArePreallocateWithoutLimit) {
  const Allocator allocator;
  EXPECT_EQ(allocator.mode(), AllocatorMode::kPreallocate);
  EXPECT_EQ(allocator.limit_bytes(), 0);
  EXPECT_EQ(Allocator::default_allocator()->mode(), AllocatorMode::kPreallocate);
  EXPECT_EQ(Allocator::default_allocator()->limit_bytes(), 0);
}

TEST(AllocatorTest, NegativeLimitIsInvalid) {
  try {
    Allocator allocator({.limit_bytes = -1});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

TEST(AllocatorTest, HeldBytesFollowLiveBlocksRoundedToTheAlignment) {
  const auto allocator = make_allocator(AllocatorMode::kPreallocate);
  {
    const Arena a(100, allocator, "a");  // charged 128: 100 rounded up to 64
    EXPECT_EQ(allocator->held_bytes(), 128);
    {
      const Arena b(64 * kKiB, allocator, "b");
      EXPECT_EQ(allocator->held_bytes(), 128 + 64 * kKiB);
    }
    EXPECT_EQ(allocator->held_bytes(), 128);
  }
  EXPECT_EQ(allocator->held_bytes(), 0);
}

TEST(AllocatorTest, BlocksUpToExactlyTheLimitFit) {
  for (const AllocatorMode mode : {AllocatorMode::kPreallocate, AllocatorMode::kGrow}) {
    const auto allocator = make_allocator(mode, kMiB);
    const Arena a(kMiB / 4, allocator, "a");
    const Arena b(3 * kMiB / 4, allocator, "b");
    EXPECT_EQ(allocator->held_bytes(), kMiB);
    EXPECT_FALSE(out_of_budget_message([&] { Arena c(1, allocator, "c"); }).empty());
  }
}

TEST(AllocatorTest, RefusalNamesWhatAskedHowMuchTheLimitAndWhatIsHeld) {
  const int64_t limit = kMiB;
  const int64_t persistent = 256 * kKiB;
  const int64_t arena = kMiB;
  const auto allocator = make_allocator(AllocatorMode::kPreallocate, limit);
  const Arena store(persistent, allocator,
                    "persistent block (parameters, gradients, optimizer state)");
  const std::string message = out_of_budget_message(
      [&] { Arena a(arena, allocator, "training step arena for batch 256"); });
  EXPECT_EQ(message.rfind("training step arena for batch 256 needs ", 0), 0u) << message;
  EXPECT_NE(message.find("1.00 MiB (" + bytes_text(arena) + ")"), std::string::npos) << message;
  EXPECT_NE(message.find("limit of 1.00 MiB (" + bytes_text(limit) + ")"), std::string::npos)
      << message;
  EXPECT_NE(message.find("256.00 KiB (" + bytes_text(persistent) +
                         ") already held by "
                         "persistent block (parameters, gradients, optimizer state)"),
            std::string::npos)
      << message;
  // What would work: the sum of what is held and what was asked.
  EXPECT_NE(message.find("at least 1.25 MiB (" + bytes_text(persistent + arena) + ")"),
            std::string::npos)
      << message;
  // Nothing was taken.
  EXPECT_EQ(allocator->held_bytes(), persistent);
}

TEST(AllocatorTest, RefusalListsEveryHolderWithItsSize) {
  const auto allocator = make_allocator(AllocatorMode::kGrow, kMiB);
  const Arena store(128 * kKiB, allocator, "persistent block (parameters)");
  const Arena train(512 * kKiB, allocator, "training step arena for batch 16");
  const std::string message =
      out_of_budget_message([&] { Arena a(512 * kKiB, allocator, "another arena"); });
  EXPECT_NE(message.find("640.00 KiB (" + bytes_text(640 * kKiB) +
                         ") already held by persistent block (parameters) 128.00 KiB + "
                         "training step arena for batch 16 512.00 KiB"),
            std::string::npos)
      << message;
}

TEST(AllocatorTest, RefusalWithNothingHeldSaysSo) {
  const auto allocator = make_allocator(AllocatorMode::kGrow, 4 * kKiB);
  const std::string message =
      out_of_budget_message([&] { Arena a(5 * kKiB, allocator, "step arena"); });
  EXPECT_NE(message.find("nothing else is held"), std::string::npos) << message;
  EXPECT_NE(message.find(bytes_text(5 * kKiB)), std::string::npos) << message;
  EXPECT_NE(message.find(bytes_text(4 * kKiB)), std::string::npos) << message;
}

TEST(AllocatorTest, SuggestedLimitRoundsUpSoItIsEnough) {
  // 1 MiB + 64 bytes needs 1.0000610 MiB; "1.00 MiB" would not be enough, "1.01 MiB" is.
  const auto allocator = make_allocator(AllocatorMode::kPreallocate, kMiB);
  const std::string message =
      out_of_budget_message([&] { Arena a(kMiB + 64, allocator, "step arena"); });
  EXPECT_NE(message.find("at least 1.01 MiB (" + bytes_text(kMiB + 64) + ")"), std::string::npos)
      << message;
}

TEST(AllocatorTest, GrowingAnArenaCountsItsOwnOldBlockAsReleased) {
  for (const AllocatorMode mode : {AllocatorMode::kPreallocate, AllocatorMode::kGrow}) {
    const auto allocator = make_allocator(mode, kMiB);
    Arena arena(600 * kKiB, allocator, "small step");
    arena.grow_to(kMiB, "large step");  // 600 KiB + 1 MiB > limit, but the old block goes first
    EXPECT_EQ(arena.bytes(), kMiB);
    EXPECT_EQ(arena.what(), "large step");
    EXPECT_EQ(allocator->held_bytes(), kMiB);
  }
}

TEST(AllocatorTest, RefusedGrowthKeepsTheOldBlockAndItsContents) {
  const auto allocator = make_allocator(AllocatorMode::kPreallocate, kMiB);
  const Arena store(512 * kKiB, allocator, "persistent block (parameters)");
  Arena arena(256 * kKiB, allocator, "evaluation step arena for batch 8");
  std::memset(arena.base(), 0x5a, 256 * kKiB);
  void* const base = arena.base();
  const std::string message =
      out_of_budget_message([&] { arena.grow_to(768 * kKiB, "training step arena for batch 32"); });
  EXPECT_NE(message.find("training step arena for batch 32"), std::string::npos) << message;
  // Held by others: the store only, not the arena being replaced.
  EXPECT_NE(message.find("512.00 KiB (" + bytes_text(512 * kKiB) +
                         ") already held by "
                         "persistent block (parameters);"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find("evaluation step arena"), std::string::npos) << message;
  EXPECT_EQ(arena.base(), base);
  EXPECT_EQ(arena.bytes(), 256 * kKiB);
  EXPECT_EQ(arena.what(), "evaluation step arena for batch 8");
  EXPECT_EQ(static_cast<unsigned char*>(arena.base())[256 * kKiB - 1], 0x5a);
  EXPECT_EQ(allocator->held_bytes(), 768 * kKiB);
}

TEST(AllocatorTest, MovedArenaKeepsItsChargeUntilDestroyed) {
  const auto allocator = make_allocator(AllocatorMode::kPreallocate, kMiB);
  {
    Arena a(kMiB, allocator, "a");
    Arena b(std::move(a));
    EXPECT_EQ(allocator->held_bytes(), kMiB);
    Arena c;
    c = std::move(b);
    EXPECT_EQ(allocator->held_bytes(), kMiB);
    EXPECT_EQ(c.allocator(), allocator);
  }
  EXPECT_EQ(allocator->held_bytes(), 0);
  const Arena again(kMiB, allocator, "again");  // the limit is free again
}

TEST(MemoryStatsTest, PreallocatedBlockIsCurrentAndReservedUntilFreedAndStaysInThePeak) {
  const int64_t bytes = 3 * kMiB + 64;
  reset_peak_memory_stats();
  const MemoryStats before = memory_stats();
  EXPECT_EQ(before.peak_bytes, before.current_bytes);
  {
    const Arena arena(bytes, make_allocator(AllocatorMode::kPreallocate), "block");
    const MemoryStats during = memory_stats();
    EXPECT_EQ(during.current_bytes - before.current_bytes, bytes);
    EXPECT_EQ(during.reserved_bytes - before.reserved_bytes, bytes);
    EXPECT_EQ(during.peak_bytes, during.current_bytes);
  }
  const MemoryStats after = memory_stats();
  EXPECT_EQ(after.current_bytes, before.current_bytes);
  EXPECT_EQ(after.reserved_bytes, before.reserved_bytes);
  EXPECT_EQ(after.peak_bytes - before.current_bytes, bytes);
  reset_peak_memory_stats();
  EXPECT_EQ(memory_stats().peak_bytes, after.current_bytes);
}

TEST(MemoryStatsTest, PeakIsTheLargestSumOfLiveBlocks) {
  reset_peak_memory_stats();
  const MemoryStats before = memory_stats();
  const auto allocator = make_allocator(AllocatorMode::kPreallocate);
  {
    Arena a(kMiB, allocator, "a");
    const Arena b(2 * kMiB, allocator, "b");  // a + b = 3 MiB live together
    a = Arena();
    const Arena c(kMiB, allocator, "c");  // b + c = 3 MiB again, not 4
  }
  EXPECT_EQ(memory_stats().peak_bytes - before.current_bytes, 3 * kMiB);
}

TEST(MemoryStatsTest, GrowBlockIsReservedAtOnceAndCurrentAsPagesAreWritten) {
  const int64_t bytes = 16 * kMiB;
  const int64_t written = bytes / 4;
  reset_peak_memory_stats();
  const MemoryStats before = memory_stats();
  Arena arena(bytes, make_allocator(AllocatorMode::kGrow), "grow block");
  const MemoryStats mapped = memory_stats();
  EXPECT_EQ(mapped.reserved_bytes - before.reserved_bytes, bytes);
  EXPECT_EQ(mapped.current_bytes, before.current_bytes);
  touch(arena.base(), written);
  const MemoryStats touched = memory_stats();
  EXPECT_GE(touched.current_bytes - before.current_bytes, written);
  EXPECT_LE(touched.current_bytes - before.current_bytes, written + kHugePageBytes);
  EXPECT_EQ(touched.current_bytes - before.current_bytes, arena.committed_bytes());
  EXPECT_EQ(touched.reserved_bytes, mapped.reserved_bytes);
}

TEST(MemoryStatsTest, PeakCountsGrowPagesWrittenBeforeTheBlockWasFreed) {
  const int64_t bytes = 8 * kMiB;
  reset_peak_memory_stats();
  const MemoryStats before = memory_stats();
  {
    Arena arena(bytes, make_allocator(AllocatorMode::kGrow), "grow block");
    touch(arena.base(), bytes);  // no memory_stats() call while it lives
  }
  const MemoryStats after = memory_stats();
  EXPECT_EQ(after.current_bytes, before.current_bytes);
  EXPECT_EQ(after.peak_bytes - before.current_bytes, bytes);
}

TEST(MemoryStatsTest, StatsAreConsistentUnderConcurrentAllocation) {
  const MemoryStats before = memory_stats();
  constexpr int kThreads = 4;
  constexpr int kRounds = 40;
  std::atomic<bool> bad{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &bad] {
      const auto allocator =
          make_allocator(t % 2 == 0 ? AllocatorMode::kGrow : AllocatorMode::kPreallocate, kMiB);
      for (int r = 0; r < kRounds; ++r) {
        Arena arena((r % 4 + 1) * 64 * kKiB, allocator, "worker block");
        touch(arena.base(), arena.bytes());
        const MemoryStats s = memory_stats();
        if (s.current_bytes > s.peak_bytes || s.current_bytes > s.reserved_bytes) bad = true;
        if (allocator->held_bytes() != arena.bytes()) bad = true;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(bad.load());
  const MemoryStats after = memory_stats();
  EXPECT_EQ(after.current_bytes, before.current_bytes);
  EXPECT_EQ(after.reserved_bytes, before.reserved_bytes);
}

TEST(MemoryStatsTest, GrowModeKeepsResidentMemoryLowUntilPagesAreWritten) {
  const int64_t bytes = 64 * kMiB;
  const int64_t rss_before = current_rss_bytes();
  Arena arena(bytes, make_allocator(AllocatorMode::kGrow), "grow block");
  const int64_t rss_mapped = current_rss_bytes();
  EXPECT_LT(rss_mapped - rss_before, bytes / 8) << "before " << rss_before;
  touch(arena.base(), bytes / 2);
  const int64_t rss_written = current_rss_bytes();
  EXPECT_GE(rss_written - rss_mapped, bytes / 2 - bytes / 8) << "mapped " << rss_mapped;
  EXPECT_LE(rss_written - rss_before, bytes / 2 + bytes / 8) << "before " << rss_before;
}

TEST(MemoryStatsTest, PreallocateRaisesResidentMemoryAtOnce) {
  const int64_t bytes = 64 * kMiB;
  const int64_t rss_before = current_rss_bytes();
  const Arena arena(bytes, make_allocator(AllocatorMode::kPreallocate), "block");
  EXPECT_GE(current_rss_bytes() - rss_before, bytes - bytes / 8) << "before " << rss_before;
  EXPECT_EQ(arena.committed_bytes(), bytes);
}

}  // namespace
}  // namespace leantrain::memory

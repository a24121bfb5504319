#include "leantrain/memory/arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "leantrain/core/error.h"
#include "leantrain/memory/process_memory.h"

namespace leantrain::memory {
namespace {

constexpr int64_t kMiB = 1024 * 1024;

bool all_zero(const Arena& arena) {
  const auto* bytes = static_cast<const unsigned char*>(arena.base());
  for (int64_t i = 0; i < arena.bytes(); ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

TEST(ArenaTest, BaseIsSixtyFourByteAligned) {
  for (const int64_t bytes : {int64_t{1}, int64_t{63}, int64_t{64}, int64_t{1000}, 3 * kMiB + 5}) {
    const Arena arena(bytes);
    ASSERT_NE(arena.base(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(arena.base()) % 64, 0u) << bytes;
    EXPECT_EQ(arena.bytes(), bytes);
  }
}

TEST(ArenaTest, StartsZeroFilled) {
  const Arena arena(kMiB + 3);
  EXPECT_TRUE(all_zero(arena));
}

TEST(ArenaTest, ContainsOnlyRangesInside) {
  Arena arena(256);
  auto* base = static_cast<char*>(arena.base());
  EXPECT_TRUE(arena.contains(base, 256));
  EXPECT_TRUE(arena.contains(base + 100, 156));
  EXPECT_TRUE(arena.contains(base + 255, 1));
  EXPECT_TRUE(arena.contains(base + 256, 0));  // an empty range at the end
  EXPECT_FALSE(arena.contains(base, 257));
  EXPECT_FALSE(arena.contains(base + 200, 57));
  EXPECT_FALSE(arena.contains(base + 1, -1));
  int outside = 0;
  EXPECT_FALSE(arena.contains(&outside, sizeof(outside)));
}

TEST(ArenaTest, ZeroBytesIsAnEmptyArena) {
  const Arena arena(0);
  EXPECT_EQ(arena.base(), nullptr);
  EXPECT_EQ(arena.bytes(), 0);
  int x = 0;
  EXPECT_FALSE(arena.contains(&x, 0));
  const Arena default_constructed;
  EXPECT_EQ(default_constructed.bytes(), 0);
}

TEST(ArenaTest, NegativeSizeThrowsInvalidArgument) {
  try {
    Arena arena(-1);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

TEST(ArenaTest, MoveTransfersOwnershipAndEmptiesTheSource) {
  Arena a(128);
  void* base = a.base();
  Arena b(std::move(a));
  EXPECT_EQ(b.base(), base);
  EXPECT_EQ(b.bytes(), 128);
  EXPECT_EQ(a.base(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(a.bytes(), 0);
  Arena c(64);
  c = std::move(b);
  EXPECT_EQ(c.base(), base);
  EXPECT_EQ(c.bytes(), 128);
}

TEST(ArenaTest, GrowToLargerReallocatesZeroFilledAndSmallerKeepsTheBlock) {
  Arena arena(100);
  std::memset(arena.base(), 0xab, 100);
  arena.grow_to(50);  // smaller: nothing happens
  EXPECT_EQ(arena.bytes(), 100);
  EXPECT_EQ(static_cast<unsigned char*>(arena.base())[0], 0xab);
  arena.grow_to(10000);
  EXPECT_EQ(arena.bytes(), 10000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(arena.base()) % 64, 0u);
  EXPECT_TRUE(all_zero(arena));
  Arena empty;
  empty.grow_to(64);
  EXPECT_NE(empty.base(), nullptr);
  EXPECT_EQ(empty.bytes(), 64);
}

TEST(ArenaTest, ConstructionMakesEveryPageResident) {
  const int64_t before = current_rss_bytes();
  const Arena arena(64 * kMiB);
  const int64_t after = current_rss_bytes();
  EXPECT_GE(after - before, 60 * kMiB) << "before " << before << " after " << after;
}

TEST(ArenaTest, NullAllocatorIsInvalid) {
  try {
    Arena arena(64, nullptr, "step arena");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

TEST(ArenaTest, DefaultArenaUsesTheDefaultAllocatorAndIsCommittedAtOnce) {
  const Arena arena(kMiB + 1);
  EXPECT_EQ(arena.allocator(), Allocator::default_allocator());
  EXPECT_EQ(arena.what(), "arena");
  EXPECT_EQ(arena.committed_bytes(), kMiB + 64);  // rounded up to the alignment
}

TEST(ArenaTest, GrowModeArenaIsAlignedZeroAndUncommitted) {
  const auto allocator =
      std::make_shared<Allocator>(AllocatorOptions{.mode = AllocatorMode::kGrow});
  const Arena arena(3 * kMiB + 5, allocator, "grow arena");
  ASSERT_NE(arena.base(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(arena.base()) % 64, 0u);
  EXPECT_EQ(arena.bytes(), 3 * kMiB + 5);
  EXPECT_EQ(arena.committed_bytes(), 0);
  EXPECT_TRUE(all_zero(arena));  // read after the check: a page only read maps the zero page
}

TEST(ArenaTest, GrowModeGrowthMapsFreshZeroPagesWithoutCopying) {
  const auto allocator =
      std::make_shared<Allocator>(AllocatorOptions{.mode = AllocatorMode::kGrow});
  Arena arena(kMiB, allocator, "small step");
  std::memset(arena.base(), 0xab, kMiB);
  EXPECT_GE(arena.committed_bytes(), kMiB);
  arena.grow_to(4 * kMiB, "large step");
  EXPECT_EQ(arena.bytes(), 4 * kMiB);
  // A copy of the old contents would have committed the first MiB of the new block.
  EXPECT_EQ(arena.committed_bytes(), 0);
  EXPECT_EQ(allocator->held_bytes(), 4 * kMiB);
  EXPECT_TRUE(all_zero(arena));
  arena.grow_to(2 * kMiB, "smaller step");  // smaller: nothing happens, the name stays
  EXPECT_EQ(arena.bytes(), 4 * kMiB);
  EXPECT_EQ(arena.what(), "large step");
}

TEST(ReadableBytesTest, PrintsLikeKeras) {
  EXPECT_EQ(readable_bytes(0), "0.00 B");
  EXPECT_EQ(readable_bytes(244), "244.00 B");
  EXPECT_EQ(readable_bytes(1023), "1023.00 B");
  EXPECT_EQ(readable_bytes(1024), "1.00 KB");
  EXPECT_EQ(readable_bytes(1536), "1.50 KB");
  EXPECT_EQ(readable_bytes(2506752), "2.39 MB");  // 2506752 / 1024^2 = 2.3906...
  EXPECT_EQ(readable_bytes(int64_t{3} << 30), "3.00 GB");
  EXPECT_EQ(readable_bytes(int64_t{1} << 40), "1.00 TB");
  EXPECT_EQ(readable_bytes(int64_t{1} << 50), "1024.00 TB");  // no unit past TB
  EXPECT_EQ(readable_bytes(-1536), "-1.50 KB");
}

}  // namespace
}  // namespace leantrain::memory

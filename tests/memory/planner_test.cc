#include "leantrain/memory/planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"

namespace leantrain::memory {
namespace {

using Offsets = std::vector<int64_t>;

// Returns the code of the Error that `f` throws; fails the test if it throws nothing.
template <typename F>
ErrorCode thrown_code(F&& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message != nullptr) *message = e.what();
    return e.code();
  }
  ADD_FAILURE() << "expected an Error";
  return ErrorCode::kInternal;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

int64_t round_up(int64_t value, int64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

// ---------------------------------------------------------------------------------------------
// Greedy by size: hand-worked cases.

TEST(GreedyPlannerTest, EmptyListPlansAnEmptyArena) {
  const Plan plan = plan_greedy_by_size({});
  EXPECT_TRUE(plan.offsets.empty());
  EXPECT_EQ(plan.arena_bytes, 0);
  EXPECT_EQ(plan.alignment, 64);
  verify_plan({}, plan);
}

TEST(GreedyPlannerTest, TwoBuffersApartInTimeShareOffsetZero) {
  // a lives at steps 0..1, b at 2..3: never together, so b reuses a's bytes.
  const std::vector<Buffer> buffers = {{"a", 100, 0, 1}, {"b", 100, 2, 3}};
  const Plan plan = plan_greedy_by_size(buffers);
  EXPECT_EQ(plan.offsets, (Offsets{0, 0}));
  EXPECT_EQ(plan.arena_bytes, 100);
  verify_plan(buffers, plan);
}

TEST(GreedyPlannerTest, ThreeOverlappingBuffersAreStackedLargestFirst) {
  // All live at steps 0..2. Order by size: b (300) at 0; c (200) after b: 300 -> 320 aligned;
  // a (100) after c: 520 -> 576 aligned. Arena ends at 576 + 100.
  const std::vector<Buffer> buffers = {{"a", 100, 0, 2}, {"b", 300, 0, 2}, {"c", 200, 0, 2}};
  const Plan plan = plan_greedy_by_size(buffers, 64);
  EXPECT_EQ(plan.offsets, (Offsets{576, 0, 320}));
  EXPECT_EQ(plan.arena_bytes, 676);
  verify_plan(buffers, plan);
}

TEST(GreedyPlannerTest, ReusesSpaceOfDeadBuffer) {
  // A chain a -> b -> c of equal sizes (alignment 1). a at 0; b overlaps a -> 100; c overlaps
  // only b ([100, 200)), so the gap [0, 100) below b holds it exactly.
  const std::vector<Buffer> buffers = {{"a", 100, 0, 1}, {"b", 100, 1, 2}, {"c", 100, 2, 3}};
  const Plan plan = plan_greedy_by_size(buffers, 1);
  EXPECT_EQ(plan.offsets, (Offsets{0, 100, 0}));
  EXPECT_EQ(plan.arena_bytes, 200);
  verify_plan(buffers, plan);
}

TEST(GreedyPlannerTest, BestFitPicksTheSmallerOfTwoGaps) {
  // Alignment 1. Placed by size at step 0 (all overlap there):
  //   A 400 [0,0] -> 0;  B 300 [0,1] -> 400;  C 200 [0,0] -> 700;  D 100 [0,1] -> 900.
  // E 80, the smallest, is placed last. It lives only at step 1, with B [400, 700) and
  // D [900, 1000): gaps [0, 400) (400 bytes) and [700, 900) (200 bytes). First fit would take 0;
  // best fit takes 700.
  const std::vector<Buffer> buffers = {
      {"A", 400, 0, 0}, {"B", 300, 0, 1}, {"C", 200, 0, 0}, {"D", 100, 0, 1}, {"E", 80, 1, 1}};
  const Plan plan = plan_greedy_by_size(buffers, 1);
  EXPECT_EQ(plan.offsets, (Offsets{0, 400, 700, 900, 700}));
  EXPECT_EQ(plan.arena_bytes, 1000);
  verify_plan(buffers, plan);
}

TEST(GreedyPlannerTest, BufferThatFitsNoGapGoesAboveTheHighestLiveBuffer) {
  // Alignment 1. A 400 [0,0] -> 0; B 300 [0,1] -> 400 (above A).
  // C 150 [1,1] sees only B: the gap [0, 400) -> 0.
  // D 150 [1,1] sees C [0, 150) and B [400, 700): gap [150, 400) -> 150.
  // E 150 [1,1] sees C, D [150, 300) and B: the only gap, [300, 400), is 100 bytes, too small,
  // so E goes above B at 700.
  const std::vector<Buffer> buffers = {
      {"A", 400, 0, 0}, {"B", 300, 0, 1}, {"C", 150, 1, 1}, {"D", 150, 1, 1}, {"E", 150, 1, 1}};
  const Plan plan = plan_greedy_by_size(buffers, 1);
  EXPECT_EQ(plan.offsets, (Offsets{0, 400, 0, 150, 700}));
  EXPECT_EQ(plan.arena_bytes, 850);
  verify_plan(buffers, plan);
}

TEST(GreedyPlannerTest, AlignmentRoundsOffsetsUpAndCanWasteAGap) {
  // Alignment 64. a 100 [0,1] -> 0; b 50 [0,1] -> 100 rounded to 128; c 10 [1,2] overlaps both:
  // the hole [100, 128) rounds up to an empty gap at 128, so c goes after b: 178 -> 192.
  const std::vector<Buffer> buffers = {{"a", 100, 0, 1}, {"b", 50, 0, 1}, {"c", 10, 1, 2}};
  const Plan plan = plan_greedy_by_size(buffers, 64);
  EXPECT_EQ(plan.offsets, (Offsets{0, 128, 192}));
  EXPECT_EQ(plan.arena_bytes, 202);
  verify_plan(buffers, plan);

  // With alignment 1 the same buffers pack tightly: a 0, b 100, c 150.
  const Plan tight = plan_greedy_by_size(buffers, 1);
  EXPECT_EQ(tight.offsets, (Offsets{0, 100, 150}));
  EXPECT_EQ(tight.arena_bytes, 160);
  verify_plan(buffers, tight);
}

TEST(GreedyPlannerTest, ZeroByteBuffersGetOffsetZeroAndNeverConflict) {
  const std::vector<Buffer> buffers = {{"empty", 0, 0, 3}, {"x", 100, 0, 3}, {"y", 0, 1, 1}};
  const Plan plan = plan_greedy_by_size(buffers);
  EXPECT_EQ(plan.offsets, (Offsets{0, 0, 0}));
  EXPECT_EQ(plan.arena_bytes, 100);
  verify_plan(buffers, plan);
}

TEST(GreedyPlannerTest, EqualSizesGoByFirstStepThenIndex) {
  // Same size, overlapping at step 1: b starts earlier, so b is placed first at 0.
  const std::vector<Buffer> by_step = {{"a", 64, 1, 2}, {"b", 64, 0, 1}};
  EXPECT_EQ(plan_greedy_by_size(by_step).offsets, (Offsets{64, 0}));
  // Same size and first step: the lower index is placed first.
  const std::vector<Buffer> by_index = {{"c", 64, 0, 1}, {"d", 64, 0, 1}};
  EXPECT_EQ(plan_greedy_by_size(by_index).offsets, (Offsets{0, 64}));
}

TEST(GreedyPlannerTest, RejectsAlignmentThatIsNotAPowerOfTwo) {
  const std::vector<Buffer> buffers = {{"a", 8, 0, 0}};
  EXPECT_EQ(thrown_code([&] { plan_greedy_by_size(buffers, 0); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(thrown_code([&] { plan_greedy_by_size(buffers, 48); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(thrown_code([&] { plan_greedy_by_size(buffers, -64); }), ErrorCode::kInvalidArgument);
}

TEST(GreedyPlannerTest, RejectsNegativeSizeAndReversedInterval) {
  std::string message;
  EXPECT_EQ(thrown_code(
                [] {
                  plan_greedy_by_size({{"neg", -1, 0, 0}});
                },
                &message),
            ErrorCode::kInvalidArgument);
  EXPECT_TRUE(contains(message, "'neg'")) << message;
  EXPECT_EQ(thrown_code(
                [] {
                  plan_greedy_by_size({{"rev", 8, 3, 2}});
                },
                &message),
            ErrorCode::kInvalidArgument);
  EXPECT_TRUE(contains(message, "'rev'")) << message;
}

TEST(GreedyPlannerTest, RejectsSizesWhoseSumOverflows) {
  const int64_t huge = int64_t{1} << 61;
  const std::vector<Buffer> buffers = {{"a", huge, 0, 0}, {"b", huge, 0, 0}, {"c", huge, 0, 0}};
  EXPECT_EQ(thrown_code([&] { plan_greedy_by_size(buffers); }), ErrorCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// The verifier must be able to fail.

TEST(VerifyPlanTest, CatchesTwoLiveBuffersSharingBytes) {
  const std::vector<Buffer> buffers = {{"a", 256, 0, 3}, {"b", 256, 2, 5}};
  Plan plan = plan_greedy_by_size(buffers);
  verify_plan(buffers, plan);
  plan.offsets = {0, 128};  // overlaps a's [128, 256) while both live at steps 2..3
  plan.arena_bytes = 384;
  std::string message;
  EXPECT_EQ(thrown_code([&] { verify_plan(buffers, plan); }, &message), ErrorCode::kInternal);
  EXPECT_TRUE(contains(message, "'a' (steps [0, 3], bytes [0, 256))")) << message;
  EXPECT_TRUE(contains(message, "'b' (steps [2, 5], bytes [128, 384))")) << message;
  EXPECT_TRUE(contains(message, "steps [2, 3]")) << message;
  EXPECT_TRUE(contains(message, "[128, 256)")) << message;
}

TEST(VerifyPlanTest, AcceptsSharedBytesWhenLifetimesAreDisjoint) {
  const std::vector<Buffer> buffers = {{"a", 256, 0, 1}, {"b", 256, 2, 5}};
  verify_plan(buffers, Plan{{0, 0}, 256, 64});
}

TEST(VerifyPlanTest, CatchesBufferPastTheArenaEnd) {
  const std::vector<Buffer> buffers = {{"a", 100, 0, 0}};
  std::string message;
  EXPECT_EQ(thrown_code(
                [&] {
                  verify_plan(buffers, Plan{{0}, 99, 64});
                },
                &message),
            ErrorCode::kInternal);
  EXPECT_TRUE(contains(message, "'a'")) << message;
  EXPECT_TRUE(contains(message, "past the end")) << message;
}

TEST(VerifyPlanTest, CatchesMisalignedAndNegativeOffsets) {
  const std::vector<Buffer> buffers = {{"a", 64, 0, 0}};
  std::string message;
  EXPECT_EQ(thrown_code(
                [&] {
                  verify_plan(buffers, Plan{{32}, 128, 64});
                },
                &message),
            ErrorCode::kInternal);
  EXPECT_TRUE(contains(message, "alignment")) << message;
  EXPECT_EQ(thrown_code([&] { verify_plan(buffers, Plan{{-64}, 128, 64}); }), ErrorCode::kInternal);
}

TEST(VerifyPlanTest, CatchesWrongNumberOfOffsets) {
  const std::vector<Buffer> buffers = {{"a", 64, 0, 0}, {"b", 64, 0, 0}};
  EXPECT_EQ(thrown_code([&] { verify_plan(buffers, Plan{{0}, 64, 64}); }), ErrorCode::kInternal);
}

TEST(VerifyPlanTest, IgnoresZeroByteBuffersInsideOthers) {
  const std::vector<Buffer> buffers = {{"a", 128, 0, 3}, {"empty", 0, 0, 3}};
  verify_plan(buffers, Plan{{0, 64}, 128, 64});
}

// ---------------------------------------------------------------------------------------------
// Bounds.

TEST(PeakLiveBytesTest, SumsTheBusiestStep) {
  // Step 0: a. Step 1: a + b = 300. Step 2: b + c = 250. Step 3: c.
  const std::vector<Buffer> buffers = {{"a", 100, 0, 1}, {"b", 200, 1, 2}, {"c", 50, 2, 3}};
  EXPECT_EQ(peak_live_bytes(buffers), 300);
  EXPECT_EQ(total_bytes(buffers), 350);
  EXPECT_EQ(peak_live_bytes({}), 0);
  EXPECT_EQ(total_bytes({}), 0);
}

TEST(PeakLiveBytesTest, BufferEndingAtAStepStillCountsThere) {
  // a ends at step 2 and b starts at step 2: both live at step 2 (intervals are inclusive).
  const std::vector<Buffer> buffers = {{"a", 10, 0, 2}, {"b", 20, 2, 4}};
  EXPECT_EQ(peak_live_bytes(buffers), 30);
}

// ---------------------------------------------------------------------------------------------
// Liveness.

TEST(LivenessTest, IntervalRunsFromFirstToLastUse) {
  // x -> conv -> h -> relu -> y -> loss -> l -> backward -> g, which reads h again at step 4.
  const std::vector<std::string> names = {"x", "h", "y", "l", "g"};
  const std::vector<int64_t> bytes = {10, 20, 30, 4, 20};
  const std::vector<std::vector<int32_t>> uses = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 1}};
  const std::vector<Buffer> buffers = liveness(names, bytes, uses);
  ASSERT_EQ(buffers.size(), 5u);
  const std::vector<std::pair<int32_t, int32_t>> expected = {
      {0, 0}, {0, 4}, {1, 2}, {2, 3}, {3, 4}};
  for (size_t i = 0; i < buffers.size(); ++i) {
    EXPECT_EQ(buffers[i].name, names[i]);
    EXPECT_EQ(buffers[i].bytes, bytes[i]);
    EXPECT_EQ(buffers[i].first_step, expected[i].first) << names[i];
    EXPECT_EQ(buffers[i].last_step, expected[i].second) << names[i];
  }
}

TEST(LivenessTest, RepeatedUseInOneStepAndEmptyStepsAreFine) {
  const std::vector<Buffer> buffers = liveness({"a"}, {8}, {{}, {0, 0}, {}, {0}});
  ASSERT_EQ(buffers.size(), 1u);
  EXPECT_EQ(buffers[0].first_step, 1);
  EXPECT_EQ(buffers[0].last_step, 3);
}

TEST(LivenessTest, RejectsBufferNeverUsed) {
  std::string message;
  EXPECT_EQ(thrown_code(
                [] {
                  liveness({"a", "unused"}, {8, 8}, {{0}});
                },
                &message),
            ErrorCode::kInvalidArgument);
  EXPECT_TRUE(contains(message, "'unused'")) << message;
  EXPECT_TRUE(contains(message, "never used")) << message;
}

TEST(LivenessTest, RejectsIndexOutOfRange) {
  std::string message;
  EXPECT_EQ(thrown_code(
                [] {
                  liveness({"a"}, {8}, {{0}, {1}});
                },
                &message),
            ErrorCode::kInvalidArgument);
  EXPECT_TRUE(contains(message, "step 1")) << message;
  EXPECT_EQ(thrown_code([] { liveness({"a"}, {8}, {{-1}}); }), ErrorCode::kInvalidArgument);
}

TEST(LivenessTest, RejectsMismatchedListsAndNegativeSizes) {
  EXPECT_EQ(thrown_code([] { liveness({"a", "b"}, {8}, {{0, 1}}); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(thrown_code([] { liveness({"a"}, {-8}, {{0}}); }), ErrorCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// In-place merging.

TEST(InplaceTest, ConvReluDropoutChainSharesOneSlot) {
  const std::vector<Buffer> buffers = {
      {"conv", 1024, 0, 1}, {"relu", 1024, 1, 2}, {"dropout", 1024, 2, 3}, {"loss", 4, 3, 4}};
  const Slots slots = assign_inplace(buffers, {{1, 0, 1}, {2, 1, 2}});
  ASSERT_EQ(slots.decisions.size(), 2u);
  for (const InplaceDecision& d : slots.decisions) {
    EXPECT_TRUE(d.accepted) << d.reason;
    EXPECT_TRUE(d.reason.empty()) << d.reason;
  }
  EXPECT_EQ(slots.slot_of, (std::vector<int32_t>{0, 0, 0, 1}));
  ASSERT_EQ(slots.slots.size(), 2u);
  EXPECT_EQ(slots.slots[0].name, "conv+relu+dropout");
  EXPECT_EQ(slots.slots[0].bytes, 1024);
  EXPECT_EQ(slots.slots[0].first_step, 0);
  EXPECT_EQ(slots.slots[0].last_step, 3);
  EXPECT_EQ(slots.slots[1].name, "loss");

  // Planned: the chain [0, 1024) and loss, which overlaps it at steps 3, above it at 1024.
  const Plan plan = plan_greedy_by_size(slots.slots);
  verify_plan(slots.slots, plan);
  EXPECT_EQ(plan.offsets, (Offsets{0, 1024}));
  EXPECT_EQ(buffer_offsets(slots, plan), (Offsets{0, 0, 0, 1024}));
}

TEST(InplaceTest, ChainAlsoMergesWhenRequestsComeInReverseOrder) {
  const std::vector<Buffer> buffers = {
      {"conv", 1024, 0, 1}, {"relu", 1024, 1, 2}, {"dropout", 1024, 2, 3}};
  const Slots slots = assign_inplace(buffers, {{2, 1, 2}, {1, 0, 1}});
  EXPECT_TRUE(slots.decisions[0].accepted) << slots.decisions[0].reason;
  EXPECT_TRUE(slots.decisions[1].accepted) << slots.decisions[1].reason;
  ASSERT_EQ(slots.slots.size(), 1u);
  EXPECT_EQ(slots.slots[0].name, "conv+relu+dropout");
}

TEST(InplaceTest, SmallerOutputKeepsTheInputsSize) {
  const std::vector<Buffer> buffers = {{"x", 1024, 0, 1}, {"y", 512, 1, 2}};
  const Slots slots = assign_inplace(buffers, {{1, 0, 1}});
  ASSERT_TRUE(slots.decisions[0].accepted);
  ASSERT_EQ(slots.slots.size(), 1u);
  EXPECT_EQ(slots.slots[0].bytes, 1024);
}

TEST(InplaceTest, NoRequestsLeavesEveryBufferInItsOwnSlot) {
  const std::vector<Buffer> buffers = {{"a", 8, 0, 1}, {"b", 16, 1, 2}};
  const Slots slots = assign_inplace(buffers, {});
  EXPECT_EQ(slots.slot_of, (std::vector<int32_t>{0, 1}));
  ASSERT_EQ(slots.slots.size(), 2u);
  EXPECT_EQ(slots.slots[1].name, "b");
  EXPECT_EQ(slots.slots[1].bytes, 16);
  EXPECT_TRUE(slots.decisions.empty());
}

// Runs one request on `buffers` and returns its decision.
InplaceDecision decide(const std::vector<Buffer>& buffers,
                       const std::vector<InplaceRequest>& requests) {
  const Slots slots = assign_inplace(buffers, requests);
  EXPECT_EQ(slots.decisions.size(), requests.size());
  return slots.decisions.back();
}

TEST(InplaceTest, RefusesInputStillReadLater) {
  const std::vector<Buffer> buffers = {{"x", 64, 0, 9}, {"y", 64, 2, 3}};
  const InplaceDecision d = decide(buffers, {{2, 0, 1}});
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "input 'x' is still read at step 9");
  const Slots slots = assign_inplace(buffers, {{2, 0, 1}});
  EXPECT_EQ(slots.slot_of, (std::vector<int32_t>{0, 1}));  // a refusal merges nothing
}

TEST(InplaceTest, RefusesInputNotLiveAtThatStep) {
  const std::vector<Buffer> buffers = {{"x", 64, 0, 1}, {"y", 64, 2, 3}};
  const InplaceDecision d = decide(buffers, {{2, 0, 1}});
  EXPECT_FALSE(d.accepted);
  EXPECT_TRUE(contains(d.reason, "input 'x' is not live at step 2")) << d.reason;
}

TEST(InplaceTest, RefusesOutputAlreadyLiveBeforeTheStep) {
  const std::vector<Buffer> buffers = {{"x", 64, 0, 2}, {"y", 64, 1, 3}};
  const InplaceDecision d = decide(buffers, {{2, 0, 1}});
  EXPECT_FALSE(d.accepted);
  EXPECT_TRUE(contains(d.reason, "output 'y' is already live at step 1")) << d.reason;
}

TEST(InplaceTest, RefusesOutputFirstUsedAfterTheStep) {
  const std::vector<Buffer> buffers = {{"x", 64, 0, 2}, {"y", 64, 3, 4}};
  const InplaceDecision d = decide(buffers, {{2, 0, 1}});
  EXPECT_FALSE(d.accepted);
  EXPECT_TRUE(contains(d.reason, "output 'y' is first used at step 3")) << d.reason;
}

TEST(InplaceTest, RefusesOutputLargerThanInput) {
  const std::vector<Buffer> buffers = {{"bf16", 512, 0, 1}, {"f32", 1024, 1, 2}};
  const InplaceDecision d = decide(buffers, {{1, 0, 1}});
  EXPECT_FALSE(d.accepted);
  EXPECT_TRUE(contains(d.reason, "output larger than input")) << d.reason;
  EXPECT_TRUE(contains(d.reason, "'f32' is 1024 bytes, 'bf16' is 512 bytes")) << d.reason;
}

TEST(InplaceTest, RefusesInputAlreadyShared) {
  // Two outputs of one step both want x: the second would land on the first.
  const std::vector<Buffer> buffers = {{"x", 64, 0, 2}, {"y", 64, 2, 3}, {"z", 64, 2, 2}};
  const Slots slots = assign_inplace(buffers, {{2, 0, 1}, {2, 0, 2}});
  EXPECT_TRUE(slots.decisions[0].accepted);
  EXPECT_FALSE(slots.decisions[1].accepted);
  EXPECT_TRUE(contains(slots.decisions[1].reason, "input already shared"))
      << slots.decisions[1].reason;
  EXPECT_TRUE(contains(slots.decisions[1].reason, "'y'")) << slots.decisions[1].reason;
  EXPECT_EQ(slots.slot_of, (std::vector<int32_t>{0, 0, 1}));
}

TEST(InplaceTest, RefusesOutputAlreadyShared) {
  // y already overwrote x; writing it over w too would put x and w in one place at step 2.
  const std::vector<Buffer> buffers = {{"x", 64, 0, 2}, {"w", 64, 1, 2}, {"y", 64, 2, 3}};
  const Slots slots = assign_inplace(buffers, {{2, 0, 2}, {2, 1, 2}});
  EXPECT_TRUE(slots.decisions[0].accepted);
  EXPECT_FALSE(slots.decisions[1].accepted);
  EXPECT_TRUE(contains(slots.decisions[1].reason, "output already shared"))
      << slots.decisions[1].reason;
}

TEST(InplaceTest, RefusesInputEqualToOutput) {
  const std::vector<Buffer> buffers = {{"x", 64, 2, 2}};
  const InplaceDecision d = decide(buffers, {{2, 0, 0}});
  EXPECT_FALSE(d.accepted);
  EXPECT_TRUE(contains(d.reason, "same buffer")) << d.reason;
}

TEST(InplaceTest, ThrowsForIndexOutOfRange) {
  const std::vector<Buffer> buffers = {{"x", 64, 0, 1}, {"y", 64, 1, 2}};
  EXPECT_EQ(thrown_code([&] {
              assign_inplace(buffers, {{1, 0, 2}});
            }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(thrown_code([&] {
              assign_inplace(buffers, {{1, -1, 1}});
            }),
            ErrorCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Printing.

TEST(FormatPlanTest, NamesEveryBufferAndEndsWithTheTotals) {
  const std::vector<Buffer> buffers = {
      {"conv1", 4096, 0, 2}, {"relu1", 4096, 2, 4}, {"a_long_gradient_buffer_name", 100, 1, 5}};
  const Plan plan = plan_greedy_by_size(buffers);
  const std::string text = format_plan(buffers, plan, 60);
  for (const Buffer& b : buffers) EXPECT_TRUE(contains(text, b.name)) << text;
  EXPECT_TRUE(contains(text, "arena ")) << text;
  EXPECT_TRUE(contains(text, "peak live")) << text;
  EXPECT_TRUE(contains(text, "sum of sizes")) << text;
  EXPECT_TRUE(contains(text, "(" + std::to_string(plan.arena_bytes) + " bytes)")) << text;
  EXPECT_TRUE(contains(text, "|###...|")) << text;  // conv1 at steps 0..2 of 0..5
}

TEST(FormatPlanTest, TimelineFitsTheWidthWhenStepsOutnumberColumns) {
  std::vector<Buffer> buffers;
  for (int32_t i = 0; i < 10; ++i)
    buffers.push_back({"b" + std::to_string(i), 64, i * 50, i * 50 + 60});
  const Plan plan = plan_greedy_by_size(buffers);
  const int width = 40;
  const std::string text = format_plan(buffers, plan, width);
  size_t start = 0;
  int timeline_rows = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    if (contains(line, " |")) {
      ++timeline_rows;
      EXPECT_LE(static_cast<int>(line.size()), width) << line;
    }
    start = end + 1;
  }
  EXPECT_EQ(timeline_rows, 10);
}

// ---------------------------------------------------------------------------------------------
// Seeded random cases.

struct RandomCase {
  std::vector<Buffer> buffers;
  int64_t alignment;
};

RandomCase random_case(uint64_t seed) {
  Rng rng(seed);
  const int64_t alignments[] = {1, 8, 64, 256};
  RandomCase c;
  c.alignment = alignments[rng.below(4)];
  const auto count = static_cast<int32_t>(1 + rng.below(40));
  const auto steps = static_cast<int32_t>(1 + rng.below(30));
  for (int32_t i = 0; i < count; ++i) {
    Buffer b;
    b.name = "t" + std::to_string(i);
    const uint64_t kind = rng.below(10);
    b.bytes = kind == 0  ? 0
              : kind < 8 ? static_cast<int64_t>(1 + rng.below(5000))
                         : static_cast<int64_t>(64 * (1 + rng.below(1000)));
    b.first_step = static_cast<int32_t>(rng.below(static_cast<uint64_t>(steps)));
    const auto length =
        static_cast<int32_t>(rng.below(static_cast<uint64_t>(steps - b.first_step)));
    b.last_step = b.first_step + (rng.below(3) == 0 ? 0 : length);
    c.buffers.push_back(b);
  }
  return c;
}

TEST(GreedyPlannerRandomTest, PlansVerifyStayWithinBoundsAndAreDeterministic) {
  for (uint64_t seed = 1; seed <= 600; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    const RandomCase c = random_case(seed);
    const Plan plan = plan_greedy_by_size(c.buffers, c.alignment);
    ASSERT_NO_THROW(verify_plan(c.buffers, plan));

    // Bounds: the busiest step, computed here by brute force over steps.
    int32_t last = 0;
    for (const Buffer& b : c.buffers) last = std::max(last, b.last_step);
    int64_t busiest = 0;
    for (int32_t s = 0; s <= last; ++s) {
      int64_t live = 0;
      for (const Buffer& b : c.buffers) {
        if (b.first_step <= s && s <= b.last_step) live += b.bytes;
      }
      busiest = std::max(busiest, live);
    }
    int64_t aligned_sum = 0;
    for (const Buffer& b : c.buffers) aligned_sum += round_up(b.bytes, c.alignment);
    EXPECT_EQ(peak_live_bytes(c.buffers), busiest);
    EXPECT_LE(busiest, plan.arena_bytes);
    EXPECT_LE(plan.arena_bytes, aligned_sum);
    for (size_t i = 0; i < c.buffers.size(); ++i) {
      EXPECT_EQ(plan.offsets[i] % c.alignment, 0);
      if (c.buffers[i].bytes == 0) {
        EXPECT_EQ(plan.offsets[i], 0);
      }
    }

    const Plan again = plan_greedy_by_size(c.buffers, c.alignment);
    EXPECT_EQ(again.offsets, plan.offsets);
    EXPECT_EQ(again.arena_bytes, plan.arena_bytes);
  }
}

TEST(GreedyPlannerRandomTest, BuffersAllLiveTogetherAreStackedWithoutHoles) {
  // When every buffer is live at one step, nothing can share: with alignment 1 the arena is
  // exactly the sum of sizes, which is also the peak.
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    Rng rng(seed);
    std::vector<Buffer> buffers;
    const auto count = 1 + rng.below(10);
    for (uint64_t i = 0; i < count; ++i) {
      buffers.push_back({"s" + std::to_string(i), static_cast<int64_t>(1 + rng.below(1000)),
                         static_cast<int32_t>(rng.below(3)),
                         static_cast<int32_t>(3 + rng.below(3))});
    }
    const Plan plan = plan_greedy_by_size(buffers, 1);
    verify_plan(buffers, plan);
    EXPECT_EQ(plan.arena_bytes, total_bytes(buffers));
    EXPECT_EQ(plan.arena_bytes, peak_live_bytes(buffers));
  }
}

TEST(InplaceRandomTest, MergedSlotsPlanSafelyAndMembersTouchOnlyAtHandOver) {
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    const RandomCase c = random_case(seed);
    const std::vector<Buffer>& buffers = c.buffers;
    const auto count = static_cast<int32_t>(buffers.size());
    Rng rng(seed + 1000000);

    // Mostly plausible requests (input ends where output starts), some arbitrary ones.
    std::vector<InplaceRequest> requests;
    for (int32_t i = 0; i < count; ++i) {
      for (int32_t j = 0; j < count; ++j) {
        if (i != j &&
            buffers[static_cast<size_t>(i)].last_step ==
                buffers[static_cast<size_t>(j)].first_step &&
            rng.below(2) == 0) {
          requests.push_back({buffers[static_cast<size_t>(i)].last_step, i, j});
        }
      }
    }
    for (int k = 0; k < 10; ++k) {
      requests.push_back({static_cast<int32_t>(rng.below(30)),
                          static_cast<int32_t>(rng.below(static_cast<uint64_t>(count))),
                          static_cast<int32_t>(rng.below(static_cast<uint64_t>(count)))});
    }
    const Slots slots = assign_inplace(buffers, requests);
    ASSERT_EQ(slots.decisions.size(), requests.size());
    ASSERT_EQ(slots.slot_of.size(), buffers.size());

    // Every accepted request met the rules on the original buffers; every refusal says why.
    std::vector<int> times_input(buffers.size(), 0), times_output(buffers.size(), 0);
    for (const InplaceDecision& d : slots.decisions) {
      if (!d.accepted) {
        EXPECT_FALSE(d.reason.empty());
        continue;
      }
      const Buffer& in = buffers[static_cast<size_t>(d.request.input)];
      const Buffer& out = buffers[static_cast<size_t>(d.request.output)];
      EXPECT_EQ(in.last_step, d.request.step);
      EXPECT_EQ(out.first_step, d.request.step);
      EXPECT_LE(out.bytes, in.bytes);
      EXPECT_EQ(slots.slot_of[static_cast<size_t>(d.request.input)],
                slots.slot_of[static_cast<size_t>(d.request.output)]);
      EXPECT_EQ(++times_input[static_cast<size_t>(d.request.input)], 1);
      EXPECT_EQ(++times_output[static_cast<size_t>(d.request.output)], 1);
    }

    // A slot covers its members: union interval, largest size.
    for (size_t i = 0; i < buffers.size(); ++i) {
      const Buffer& slot = slots.slots[static_cast<size_t>(slots.slot_of[i])];
      EXPECT_GE(slot.bytes, buffers[i].bytes);
      EXPECT_LE(slot.first_step, buffers[i].first_step);
      EXPECT_GE(slot.last_step, buffers[i].last_step);
      EXPECT_TRUE(contains(slot.name, buffers[i].name));
    }

    // Plan the slots; then, per original buffer, two live together that share bytes must be
    // in one slot and meet only at one step, where one ends and the other starts.
    const Plan plan = plan_greedy_by_size(slots.slots, c.alignment);
    ASSERT_NO_THROW(verify_plan(slots.slots, plan));
    int64_t aligned_slot_sum = 0;
    for (const Buffer& slot : slots.slots) aligned_slot_sum += round_up(slot.bytes, c.alignment);
    EXPECT_LE(peak_live_bytes(slots.slots), plan.arena_bytes);
    EXPECT_LE(plan.arena_bytes, aligned_slot_sum);
    const std::vector<int64_t> offsets = buffer_offsets(slots, plan);
    for (size_t i = 0; i < buffers.size(); ++i) {
      for (size_t j = i + 1; j < buffers.size(); ++j) {
        const Buffer& a = buffers[i];
        const Buffer& b = buffers[j];
        if (a.bytes == 0 || b.bytes == 0) continue;
        const bool together = a.first_step <= b.last_step && b.first_step <= a.last_step;
        const bool share = offsets[i] < offsets[j] + b.bytes && offsets[j] < offsets[i] + a.bytes;
        if (!together || !share) continue;
        EXPECT_EQ(slots.slot_of[i], slots.slot_of[j]) << a.name << " " << b.name;
        EXPECT_TRUE(a.last_step == b.first_step || b.last_step == a.first_step)
            << a.name << " [" << a.first_step << ", " << a.last_step << "] " << b.name << " ["
            << b.first_step << ", " << b.last_step << "]";
      }
    }
  }
}

}  // namespace
}  // namespace leantrain::memory

// Static memory planning for one training step: buffer lifetimes, in-place merging, and offset
// assignment in one arena. The planner sees only sizes and lifetimes, nothing of graphs (as
// TFLite Micro's memory_planner): the graph layer turns its schedule into Buffers, and the
// runtime turns a Plan into addresses.
//
// Typical use:
//   std::vector<Buffer> buffers = liveness(names, bytes, uses);
//   Slots slots = assign_inplace(buffers, requests);
//   Plan plan = plan_greedy_by_size(slots.slots);
//   verify_plan(slots.slots, plan);
//   std::vector<int64_t> offsets = buffer_offsets(slots, plan);  // one per original buffer
//
// All functions are pure (no global state) and safe to call from several threads at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace leantrain::memory {

// One step-local buffer: its size and the schedule steps [first_step, last_step] (inclusive) in
// which it is live. Valid when bytes >= 0 and 0 <= first_step <= last_step.
struct Buffer {
  std::string name;
  int64_t bytes = 0;
  int32_t first_step = 0;
  int32_t last_step = 0;
};

// Liveness over a schedule: uses[s] lists the buffer indices step s reads or writes. Buffer i is
// live from its first to its last use. Returns one Buffer per name, in the order of `names`.
// Throws Error(kInvalidArgument) when names and bytes differ in length, a size is negative, an
// index is out of range, or a buffer is never used (naming the buffer).
// Complexity: O(B + U) for B buffers and U uses.
std::vector<Buffer> liveness(const std::vector<std::string>& names,
                             const std::vector<int64_t>& bytes,
                             const std::vector<std::vector<int32_t>>& uses);

// An in-place opportunity: at `step`, an elementwise op may write buffer `output` over buffer
// `input` (indices into the buffer list).
struct InplaceRequest {
  int32_t step = 0;
  int32_t input = 0;
  int32_t output = 0;
};

// The verdict on one request. `reason` is empty when accepted; otherwise it says why refused,
// naming the buffers, e.g. "input 'x' is still read at step 9", "output larger than input: ...",
// "input already shared: ...".
struct InplaceDecision {
  InplaceRequest request;
  bool accepted = false;
  std::string reason;
};

// The buffers after in-place merging: slots[k] is a merged buffer (union interval, max bytes,
// name the members' names joined by '+' in time order); slot_of[i] is the slot buffer i lives
// in. Slots are numbered by their lowest member index, so with no merges slots == buffers.
// decisions holds one entry per request, in request order.
struct Slots {
  std::vector<Buffer> slots;
  std::vector<int32_t> slot_of;
  std::vector<InplaceDecision> decisions;
};

// Merges buffers that in-place ops may share. Processes requests in the order given; accepts
// one only when, measured on the original buffers:
//   - the input's last use is exactly `step` (nothing reads it afterwards),
//   - the output's first use is exactly `step` (nothing was there before),
//   - output bytes <= input bytes (an elementwise op writes element i over element i),
//   - input != output, the input has not already been written over by an accepted request,
//     the output has not already been written over another input, and the two are not already
//     in one slot.
// Merges chain: conv -> relu -> dropout in place ends in one slot when the requests are given
// in step order (and also in reverse order). Each slot is a time-ordered chain whose members
// touch only at their hand-over step.
// Throws Error(kInvalidArgument) for an invalid buffer or a request index out of range.
// Complexity: O(R + B log B) for B buffers and R requests (a merge relabels the smaller slot).
Slots assign_inplace(const std::vector<Buffer>& buffers,
                     const std::vector<InplaceRequest>& requests);

// Offsets of each buffer in one arena: buffer i occupies [offsets[i], offsets[i] + bytes).
// arena_bytes is the largest such end (0 for no buffers), not rounded up to `alignment`.
struct Plan {
  std::vector<int64_t> offsets;
  int64_t arena_bytes = 0;
  int64_t alignment = 64;
};

// Greedy by size, best fit (TFLite's ArenaPlanner / GPU delegate GreedyBySizeAssignment):
//   - sort buffers by bytes descending; ties: earlier first_step, then lower index, so the
//     result is a pure function of the input;
//   - keep the placed buffers ordered by offset; for each buffer in turn, walk the placed
//     buffers whose intervals overlap it in time, in offset order, tracking the highest end so
//     far (rounded up to `alignment`): each space between that end and the next buffer's offset
//     is a gap;
//   - place the buffer in the smallest gap that holds it (ties: the lowest offset), else at the
//     aligned end of the highest of those buffers (0 if none).
// Zero-byte buffers get offset 0 and never conflict with anything.
// Requires alignment a power of two; throws Error(kInvalidArgument) otherwise, for an invalid
// buffer, or if the sum of aligned sizes exceeds 2^62 bytes.
// Complexity: O(n log n) to sort plus O(n) per buffer to walk and insert: O(n^2) time, O(n)
// space.
Plan plan_greedy_by_size(const std::vector<Buffer>& buffers, int64_t alignment = 64);

// Checks a plan against its buffers. Throws Error(kInternal) naming both buffers, their
// intervals and byte ranges if two buffers live at the same step overlap in the arena; naming
// the buffer if one runs past arena_bytes, has a negative or misaligned offset; or if the plan
// has the wrong number of offsets or an alignment that is not a power of two.
// Throws Error(kInvalidArgument) for an invalid buffer.
// Complexity: O(n^2) pairs (kept simple so that it is obviously right).
void verify_plan(const std::vector<Buffer>& buffers, const Plan& plan);

// The largest sum of bytes live at one step: a lower bound on any arena for these buffers.
// Complexity: O(n log n) sweep over interval ends.
int64_t peak_live_bytes(const std::vector<Buffer>& buffers);

// The sum of all sizes: what the step would need with no reuse at all.
int64_t total_bytes(const std::vector<Buffer>& buffers);

// The offset of every original buffer after planning its slots: offsets[i] =
// plan.offsets[slots.slot_of[i]]. Throws Error(kInvalidArgument) if the plan does not match.
std::vector<int64_t> buffer_offsets(const Slots& slots, const Plan& plan);

// Printable plan: one line per buffer (offset, bytes, interval, name) sorted by offset, then an
// ASCII timeline (steps across, buffers down, '#' where live) scaled to fit `width` columns;
// ends with arena bytes, peak live bytes and the sum of sizes. Requires plan.offsets to match
// buffers (throws Error(kInvalidArgument) otherwise).
std::string format_plan(const std::vector<Buffer>& buffers, const Plan& plan, int width = 80);

}  // namespace leantrain::memory

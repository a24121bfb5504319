// Liveness, in-place merging, greedy-by-size offset assignment, the plan verifier and the plan
// printer. planner.h states the contracts; this file explains only the how.
#include "leantrain/memory/planner.h"

#include <algorithm>
#include <iomanip>
#include <limits>
#include <numeric>
#include <sstream>
#include <utility>

#include "leantrain/core/error.h"
#include "leantrain/memory/arena.h"

namespace leantrain::memory {
namespace {

// No arena may need more: keeps every sum and every rounding below 2^63 without checks.
constexpr int64_t kMaxArenaBytes = int64_t{1} << 62;
constexpr int64_t kMaxBuffers = std::numeric_limits<int32_t>::max();

bool is_power_of_two(int64_t x) { return x > 0 && (x & (x - 1)) == 0; }

// Requires `alignment` a power of two and value + alignment - 1 <= INT64_MAX.
int64_t align_up(int64_t value, int64_t alignment) {
  return (value + alignment - 1) & ~(alignment - 1);
}

bool live_together(const Buffer& a, const Buffer& b) {
  return a.first_step <= b.last_step && b.first_step <= a.last_step;
}

// "'conv1' (steps [0, 3], bytes [128, 384))": a buffer and where the plan put it.
std::string describe_placed(const Buffer& b, int64_t offset) {
  return internal::str_cat("'", b.name, "' (steps [", b.first_step, ", ", b.last_step, "], bytes [",
                           offset, ", ", offset + b.bytes, "))");
}

// Throws Error(kInvalidArgument) naming the first buffer with a negative size or a bad interval.
void validate_buffers(const std::vector<Buffer>& buffers) {
  LT_CHECK(static_cast<int64_t>(buffers.size()) <= kMaxBuffers, kInvalidArgument,
           "memory planner: ", buffers.size(), " buffers; at most ", kMaxBuffers, " are supported");
  for (size_t i = 0; i < buffers.size(); ++i) {
    const Buffer& b = buffers[i];
    LT_CHECK(b.bytes >= 0, kInvalidArgument, "buffer ", i, " '", b.name, "' has size ", b.bytes,
             " bytes; sizes must be >= 0");
    LT_CHECK(b.first_step >= 0 && b.first_step <= b.last_step, kInvalidArgument, "buffer ", i, " '",
             b.name, "' has interval [", b.first_step, ", ", b.last_step,
             "]; need 0 <= first_step <= last_step");
  }
}

// Returns the empty string when `request` may merge, else why not. Inputs are in range.
std::string refusal(const std::vector<Buffer>& buffers, const InplaceRequest& request,
                    const std::vector<int32_t>& overwritten_by,
                    const std::vector<int32_t>& written_over, const std::vector<int32_t>& slot_of) {
  const Buffer& in = buffers[static_cast<size_t>(request.input)];
  const Buffer& out = buffers[static_cast<size_t>(request.output)];
  const int32_t step = request.step;
  if (request.input == request.output) {
    return internal::str_cat("input and output are the same buffer '", in.name, "'");
  }
  if (step < in.first_step || step > in.last_step) {
    return internal::str_cat("input '", in.name, "' is not live at step ", step,
                             " (live at steps [", in.first_step, ", ", in.last_step, "])");
  }
  if (in.last_step > step) {
    return internal::str_cat("input '", in.name, "' is still read at step ", in.last_step);
  }
  if (out.first_step < step) {
    return internal::str_cat("output '", out.name, "' is already live at step ", out.first_step,
                             ", before step ", step);
  }
  if (out.first_step > step) {
    return internal::str_cat("output '", out.name, "' is first used at step ", out.first_step,
                             ", not at step ", step);
  }
  if (out.bytes > in.bytes) {
    return internal::str_cat("output larger than input: '", out.name, "' is ", out.bytes,
                             " bytes, '", in.name, "' is ", in.bytes, " bytes");
  }
  const int32_t over = overwritten_by[static_cast<size_t>(request.input)];
  if (over >= 0) {
    return internal::str_cat("input already shared: '", in.name, "' is already written over by '",
                             buffers[static_cast<size_t>(over)].name, "'");
  }
  const int32_t under = written_over[static_cast<size_t>(request.output)];
  if (under >= 0) {
    return internal::str_cat("output already shared: '", out.name, "' already writes over '",
                             buffers[static_cast<size_t>(under)].name, "'");
  }
  if (slot_of[static_cast<size_t>(request.input)] == slot_of[static_cast<size_t>(request.output)]) {
    return internal::str_cat("input '", in.name, "' and output '", out.name,
                             "' already share a slot");
  }
  return "";
}

}  // namespace

std::vector<Buffer> liveness(const std::vector<std::string>& names,
                             const std::vector<int64_t>& bytes,
                             const std::vector<std::vector<int32_t>>& uses) {
  LT_CHECK(names.size() == bytes.size(), kInvalidArgument, "liveness: ", names.size(),
           " names but ", bytes.size(), " sizes; give one size per buffer");
  LT_CHECK(static_cast<int64_t>(names.size()) <= kMaxBuffers, kInvalidArgument,
           "liveness: ", names.size(), " buffers; at most ", kMaxBuffers, " are supported");
  LT_CHECK(static_cast<int64_t>(uses.size()) <= std::numeric_limits<int32_t>::max(),
           kInvalidArgument, "liveness: ", uses.size(), " steps; at most ",
           std::numeric_limits<int32_t>::max(), " are supported");
  const auto count = static_cast<int32_t>(names.size());
  std::vector<Buffer> buffers(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    LT_CHECK(bytes[i] >= 0, kInvalidArgument, "liveness: buffer ", i, " '", names[i], "' has size ",
             bytes[i], " bytes; sizes must be >= 0");
    buffers[i] = Buffer{names[i], bytes[i], -1, -1};
  }
  // Steps come in increasing order, so the last step that mentions a buffer is its last use.
  for (size_t s = 0; s < uses.size(); ++s) {
    const auto step = static_cast<int32_t>(s);
    for (const int32_t index : uses[s]) {
      LT_CHECK(index >= 0 && index < count, kInvalidArgument, "liveness: step ", step,
               " uses buffer index ", index, ", but there are ", count, " buffers (0..", count - 1,
               ")");
      Buffer& b = buffers[static_cast<size_t>(index)];
      if (b.first_step < 0) b.first_step = step;
      b.last_step = step;
    }
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    LT_CHECK(buffers[i].first_step >= 0, kInvalidArgument, "liveness: buffer ", i, " '",
             buffers[i].name, "' is never used by any of the ", uses.size(),
             " steps; drop it or list its uses");
  }
  return buffers;
}

// Slots are kept as chains: overwritten_by[i] is the output written over buffer i and
// written_over[o] the input that output o was written over, so each slot is a path from a head
// (written over nothing) to a tail (not yet overwritten). A request needs its input to be a
// tail and its output a head, which makes the slot's interval end (start) exactly at the input's
// last (output's first) step: merging two chains at their hand-over step keeps them disjoint in
// time everywhere else.
//   - Per request: O(1) checks; a merge moves the smaller slot's members to the larger one, so
//     each buffer moves O(log B) times.
//   - At the end: number slots by lowest member and name them by walking each chain: O(B).
Slots assign_inplace(const std::vector<Buffer>& buffers,
                     const std::vector<InplaceRequest>& requests) {
  validate_buffers(buffers);
  const size_t n = buffers.size();
  const auto count = static_cast<int32_t>(n);

  std::vector<int32_t> slot_of(n);  // a slot id: the index of one member
  std::iota(slot_of.begin(), slot_of.end(), 0);
  std::vector<std::vector<int32_t>> members(n);
  for (size_t i = 0; i < n; ++i) members[i] = {static_cast<int32_t>(i)};
  std::vector<int32_t> overwritten_by(n, -1);
  std::vector<int32_t> written_over(n, -1);

  Slots result;
  result.decisions.reserve(requests.size());
  for (size_t r = 0; r < requests.size(); ++r) {
    const InplaceRequest& request = requests[r];
    LT_CHECK(request.input >= 0 && request.input < count, kInvalidArgument, "in-place request ", r,
             " at step ", request.step, ": input index ", request.input, " is out of range (",
             count, " buffers)");
    LT_CHECK(request.output >= 0 && request.output < count, kInvalidArgument, "in-place request ",
             r, " at step ", request.step, ": output index ", request.output, " is out of range (",
             count, " buffers)");
    InplaceDecision decision{request, false,
                             refusal(buffers, request, overwritten_by, written_over, slot_of)};
    if (decision.reason.empty()) {
      decision.accepted = true;
      const auto input = static_cast<size_t>(request.input);
      const auto output = static_cast<size_t>(request.output);
      overwritten_by[input] = request.output;
      written_over[output] = request.input;
      int32_t keep = slot_of[input];
      int32_t drop = slot_of[output];
      if (members[static_cast<size_t>(keep)].size() < members[static_cast<size_t>(drop)].size()) {
        std::swap(keep, drop);
      }
      std::vector<int32_t>& kept = members[static_cast<size_t>(keep)];
      for (const int32_t m : members[static_cast<size_t>(drop)]) {
        slot_of[static_cast<size_t>(m)] = keep;
        kept.push_back(m);
      }
      members[static_cast<size_t>(drop)].clear();
    }
    result.decisions.push_back(std::move(decision));
  }

  // Number the slots by their lowest member index.
  std::vector<int32_t> number_of_id(n, -1);
  int32_t slot_count = 0;
  for (size_t i = 0; i < n; ++i) {
    int32_t& number = number_of_id[static_cast<size_t>(slot_of[i])];
    if (number < 0) number = slot_count++;
  }
  result.slots.resize(static_cast<size_t>(slot_count));
  result.slot_of.resize(n);
  for (size_t i = 0; i < n; ++i) {
    result.slot_of[i] = number_of_id[static_cast<size_t>(slot_of[i])];
  }
  // Walk each chain from its head: names in time order, union interval, largest size.
  for (size_t head = 0; head < n; ++head) {
    if (written_over[head] >= 0) continue;
    Buffer& slot = result.slots[static_cast<size_t>(result.slot_of[head])];
    slot = Buffer{buffers[head].name, buffers[head].bytes, buffers[head].first_step,
                  buffers[head].last_step};
    for (int32_t next = overwritten_by[head]; next >= 0;
         next = overwritten_by[static_cast<size_t>(next)]) {
      const Buffer& b = buffers[static_cast<size_t>(next)];
      slot.name += "+" + b.name;
      slot.bytes = std::max(slot.bytes, b.bytes);
      LT_ASSERT(b.first_step >= slot.first_step);
      slot.last_step = std::max(slot.last_step, b.last_step);
    }
  }
  return result;
}

Plan plan_greedy_by_size(const std::vector<Buffer>& buffers, int64_t alignment) {
  LT_CHECK(is_power_of_two(alignment), kInvalidArgument, "plan_greedy_by_size: alignment ",
           alignment, " is not a power of two; use e.g. 64");
  validate_buffers(buffers);
  int64_t aligned_sum = 0;
  for (const Buffer& b : buffers) {
    LT_CHECK(b.bytes <= kMaxArenaBytes - aligned_sum, kInvalidArgument,
             "plan_greedy_by_size: buffer '", b.name, "' of ", b.bytes,
             " bytes takes the sum of sizes past 2^62 bytes");
    aligned_sum += align_up(b.bytes, alignment);
  }
  LT_CHECK(aligned_sum <= kMaxArenaBytes, kInvalidArgument,
           "plan_greedy_by_size: the aligned sizes sum to ", aligned_sum,
           " bytes, past 2^62 bytes");

  const size_t n = buffers.size();
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const Buffer& x = buffers[static_cast<size_t>(a)];
    const Buffer& y = buffers[static_cast<size_t>(b)];
    if (x.bytes != y.bytes) return x.bytes > y.bytes;
    if (x.first_step != y.first_step) return x.first_step < y.first_step;
    return a < b;
  });

  Plan plan;
  plan.alignment = alignment;
  plan.offsets.assign(n, 0);
  std::vector<int32_t> placed;  // buffer indices, ordered by offset
  placed.reserve(n);
  for (const int32_t index : order) {
    const Buffer& b = buffers[static_cast<size_t>(index)];
    if (b.bytes == 0) continue;  // offset 0; occupies nothing, so conflicts with nothing
    int64_t end = 0;             // aligned end of the highest overlapping buffer so far
    int64_t best_offset = -1;
    int64_t best_gap = std::numeric_limits<int64_t>::max();
    for (const int32_t p : placed) {
      const Buffer& other = buffers[static_cast<size_t>(p)];
      if (!live_together(b, other)) continue;
      const int64_t other_offset = plan.offsets[static_cast<size_t>(p)];
      if (other_offset >= end) {
        const int64_t gap = other_offset - end;
        if (gap >= b.bytes && gap < best_gap) {
          best_gap = gap;
          best_offset = end;
        }
      }
      end = std::max(end, align_up(other_offset + other.bytes, alignment));
    }
    const int64_t offset = best_offset >= 0 ? best_offset : end;
    plan.offsets[static_cast<size_t>(index)] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + b.bytes);
    const auto at = std::upper_bound(
        placed.begin(), placed.end(), offset,
        [&](int64_t o, int32_t p) { return o < plan.offsets[static_cast<size_t>(p)]; });
    placed.insert(at, index);
  }
  return plan;
}

void verify_plan(const std::vector<Buffer>& buffers, const Plan& plan) {
  validate_buffers(buffers);
  LT_CHECK(plan.offsets.size() == buffers.size(), kInternal, "plan has ", plan.offsets.size(),
           " offsets for ", buffers.size(), " buffers");
  LT_CHECK(is_power_of_two(plan.alignment), kInternal, "plan alignment ", plan.alignment,
           " is not a power of two");
  LT_CHECK(plan.arena_bytes >= 0, kInternal, "plan arena_bytes ", plan.arena_bytes, " is negative");
  for (size_t i = 0; i < buffers.size(); ++i) {
    const Buffer& b = buffers[i];
    const int64_t offset = plan.offsets[i];
    LT_CHECK(offset >= 0, kInternal, "plan puts buffer '", b.name, "' at negative offset ", offset);
    LT_CHECK(offset % plan.alignment == 0, kInternal, "plan puts buffer '", b.name, "' at offset ",
             offset, ", not a multiple of the alignment ", plan.alignment);
    LT_CHECK(offset <= plan.arena_bytes && b.bytes <= plan.arena_bytes - offset, kInternal,
             "plan puts buffer ", describe_placed(b, offset), " past the end of the arena of ",
             plan.arena_bytes, " bytes");
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    const Buffer& a = buffers[i];
    if (a.bytes == 0) continue;
    const int64_t a_offset = plan.offsets[i];
    for (size_t j = i + 1; j < buffers.size(); ++j) {
      const Buffer& b = buffers[j];
      if (b.bytes == 0 || !live_together(a, b)) continue;
      const int64_t b_offset = plan.offsets[j];
      const int64_t low = std::max(a_offset, b_offset);
      const int64_t high = std::min(a_offset + a.bytes, b_offset + b.bytes);
      LT_CHECK(low >= high, kInternal, "plan overlap: buffer ", describe_placed(a, a_offset),
               " and buffer ", describe_placed(b, b_offset), " are both live at steps [",
               std::max(a.first_step, b.first_step), ", ", std::min(a.last_step, b.last_step),
               "] and share arena bytes [", low, ", ", high, ")");
    }
  }
}

// Sweep over interval ends: +bytes at first_step, -bytes at last_step + 1; at equal steps the
// removals go first, so the running sum after each addition is the live total at that step.
int64_t peak_live_bytes(const std::vector<Buffer>& buffers) {
  validate_buffers(buffers);
  std::vector<std::pair<int64_t, int64_t>> events;  // (step, change in live bytes)
  events.reserve(2 * buffers.size());
  for (const Buffer& b : buffers) {
    events.emplace_back(b.first_step, b.bytes);
    events.emplace_back(int64_t{b.last_step} + 1, -b.bytes);
  }
  std::sort(events.begin(), events.end());
  int64_t live = 0;
  int64_t peak = 0;
  for (const auto& [step, change] : events) {
    LT_CHECK(change <= std::numeric_limits<int64_t>::max() - live, kInvalidArgument,
             "peak_live_bytes: live bytes at step ", step, " overflow int64_t");
    live += change;
    peak = std::max(peak, live);
  }
  return peak;
}

int64_t total_bytes(const std::vector<Buffer>& buffers) {
  validate_buffers(buffers);
  int64_t total = 0;
  for (const Buffer& b : buffers) {
    LT_CHECK(b.bytes <= std::numeric_limits<int64_t>::max() - total, kInvalidArgument,
             "total_bytes: the sizes overflow int64_t at buffer '", b.name, "'");
    total += b.bytes;
  }
  return total;
}

std::vector<int64_t> buffer_offsets(const Slots& slots, const Plan& plan) {
  LT_CHECK(plan.offsets.size() == slots.slots.size(), kInvalidArgument, "buffer_offsets: plan has ",
           plan.offsets.size(), " offsets for ", slots.slots.size(),
           " slots; plan the slots, not the original buffers");
  std::vector<int64_t> offsets(slots.slot_of.size());
  for (size_t i = 0; i < offsets.size(); ++i) {
    const int32_t slot = slots.slot_of[i];
    LT_CHECK(slot >= 0 && static_cast<size_t>(slot) < plan.offsets.size(), kInvalidArgument,
             "buffer_offsets: buffer ", i, " lives in slot ", slot, ", but there are ",
             plan.offsets.size(), " slots");
    offsets[i] = plan.offsets[static_cast<size_t>(slot)];
  }
  return offsets;
}

// Layout: a table sorted by offset, then one timeline row per buffer in the same order. When
// there are more steps than columns, column c covers steps [lo + c*S/C, lo + (c+1)*S/C) and
// shows '#' if the buffer is live at any of them. O(n log n + n * width).
std::string format_plan(const std::vector<Buffer>& buffers, const Plan& plan, int width) {
  validate_buffers(buffers);
  LT_CHECK(plan.offsets.size() == buffers.size(), kInvalidArgument, "format_plan: plan has ",
           plan.offsets.size(), " offsets for ", buffers.size(), " buffers");
  const size_t n = buffers.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (plan.offsets[a] != plan.offsets[b]) return plan.offsets[a] < plan.offsets[b];
    if (buffers[a].first_step != buffers[b].first_step) {
      return buffers[a].first_step < buffers[b].first_step;
    }
    return a < b;
  });

  std::ostringstream out;
  out << "plan of " << n << " buffers, alignment " << plan.alignment << "\n";
  out << std::setw(14) << "offset" << std::setw(14) << "bytes"
      << "  " << std::left << std::setw(16) << "steps"
      << "name\n"
      << std::right;
  for (const size_t i : order) {
    const Buffer& b = buffers[i];
    const std::string steps = internal::str_cat("[", b.first_step, ", ", b.last_step, "]");
    out << std::setw(14) << plan.offsets[i] << std::setw(14) << b.bytes << "  " << std::left
        << std::setw(16) << steps << b.name << "\n"
        << std::right;
  }

  if (n > 0) {
    int32_t lo = buffers[0].first_step;
    int32_t hi = buffers[0].last_step;
    size_t label_width = 4;
    for (const Buffer& b : buffers) {
      lo = std::min(lo, b.first_step);
      hi = std::max(hi, b.last_step);
      label_width = std::max(label_width, b.name.size());
    }
    label_width = std::min(label_width, static_cast<size_t>(std::max(4, width / 4)));
    const int64_t steps = int64_t{hi} - lo + 1;
    const int64_t room =
        std::max<int64_t>(1, int64_t{width} - static_cast<int64_t>(label_width) - 3);
    const int64_t columns = std::min(steps, room);
    out << "timeline: steps " << lo << ".." << hi << " across, ";
    if (columns == steps) {
      out << "1 column per step\n";
    } else {
      out << "up to " << (steps + columns - 1) / columns << " steps per column\n";
    }
    for (const size_t i : order) {
      const Buffer& b = buffers[i];
      std::string label = b.name.substr(0, label_width);
      label.resize(label_width, ' ');
      std::string row(static_cast<size_t>(columns), '.');
      for (int64_t c = 0; c < columns; ++c) {
        const int64_t first = lo + c * steps / columns;
        const int64_t last = lo + (c + 1) * steps / columns - 1;
        if (b.first_step <= last && first <= b.last_step) row[static_cast<size_t>(c)] = '#';
      }
      out << label << " |" << row << "|\n";
    }
  }

  const int64_t peak = peak_live_bytes(buffers);
  const int64_t total = total_bytes(buffers);
  out << "arena " << readable_bytes(plan.arena_bytes) << " (" << plan.arena_bytes
      << " bytes), peak live " << readable_bytes(peak) << " (" << peak << " bytes), sum of sizes "
      << readable_bytes(total) << " (" << total << " bytes)\n";
  return out.str();
}

}  // namespace leantrain::memory

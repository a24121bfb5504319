// Lowers a graph's schedule to buffers with lifetimes and places them in one arena.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "leantrain/graph/graph.h"
#include "leantrain/memory/planner.h"

namespace leantrain::graph {

// Where every step-local byte of one graph lives.
struct GraphMemoryPlan {
  // Per value: the buffer index in `buffers` (-1 for persistent values).
  std::vector<int32_t> buffer_of_value;
  // Per node: the buffer index of its scratch (-1 when it needs none).
  std::vector<int32_t> scratch_buffer_of_node;
  // Step-local buffers before in-place merging (aliases already share one buffer).
  std::vector<memory::Buffer> buffers;
  memory::Slots slots;  // after in-place merging
  memory::Plan plan;    // offsets of slots.slots in the arena

  int64_t arena_bytes() const { return plan.arena_bytes; }
  // Arena offset of value `v`'s bytes; requires a step-local value.
  int64_t value_offset(ValueId v) const;
  // Arena offset of node `n`'s scratch, or -1.
  int64_t scratch_offset(NodeId n) const;
  // Sum of the sizes of all step-local buffers: what the step would take with no reuse.
  int64_t sum_of_buffers_bytes() const { return memory::total_bytes(buffers); }
};

// Plans the arena for running `graph`'s nodes in order: step s runs node s.
// - Each step-local value (inputs and activations) is a buffer live from its producer to its
//   last reader; graph inputs are live from step 0, outputs the host reads to the last step.
// - A node whose op aliases its input (Reshape) shares the input's buffer.
// - A node with scratch_bytes[n] > 0 gets a scratch buffer live at its own step only.
// - Elementwise ops (Op::inplace_input) write over their input when it dies there.
// - Offsets: memory::plan_greedy_by_size; the result is checked with memory::verify_plan.
// Throws Error(kInternal) if the verifier finds an overlap.
GraphMemoryPlan plan_graph_memory(const Graph& graph, std::span<const int64_t> scratch_bytes);

}  // namespace leantrain::graph

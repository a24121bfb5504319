// The memory profile of one compiled step: live arena bytes at every step of the schedule, the
// peak and what is live there, and per layer what it keeps for backward, recomputes, needs as
// kernel scratch and holds as persistent state. Computed from the program's plan alone, before
// any step runs; printable as a table, a JSON report and an SVG timeline.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "leantrain/graph/graph.h"
#include "leantrain/graph/memory_plan.h"
#include "leantrain/train/plot.h"

namespace leantrain::runtime {
class Program;
}  // namespace leantrain::runtime

namespace leantrain::train {

// What a step of the schedule does: the node's graph::Phase, except that a node rerun during
// backward to rematerialize its outputs (graph::Node::recomputed) is kRecomputed whatever its
// phase.
enum class StepKind { kForward, kLoss, kBackward, kUpdate, kRecomputed };
// "forward", "loss", "backward", "update", "recomputed".
const char* step_kind_name(StepKind kind);

// One step of the schedule (step s runs node s).
struct ProfileStep {
  std::string node;   // the node's name
  std::string op;     // its op type, e.g. "Conv2D"
  std::string layer;  // its layer; "(loss)" for the loss and metric nodes
  StepKind kind = StepKind::kForward;
  // Sum of the bytes of the arena slots (buffers after in-place merging, kernel scratch
  // included) live at this step: what the arena must hold while the node runs.
  int64_t live_bytes = 0;
  int64_t scratch_bytes = 0;  // the node's own kernel scratch (part of live_bytes)
};

// One arena slot live at the peak step.
struct LiveTensor {
  std::string name;   // the buffer's value name, or "<node>/scratch"
  std::string layer;  // "(loss)" when the value belongs to no layer
  // "input", "activation" (forward), "loss", "gradient" (backward), "update", "recomputed" or
  // "scratch".
  std::string what;
  int64_t bytes = 0;       // the slot's bytes
  int32_t first_step = 0;  // of the buffer live at the peak (a slot chains in-place buffers)
  int32_t last_step = 0;
};

// Per layer. Byte counts of step-local tensors count each planned buffer once (a Reshape's
// output shares its input's buffer).
struct LayerProfile {
  std::string layer;
  // Step-local tensors written by forward nodes (or graph inputs) that a backward node or a
  // recomputed node reads: what the forward pass keeps for the backward pass. For a graph with
  // no recomputed nodes this is Trainer::layer_memory()'s kept_for_backward_bytes.
  int64_t kept_for_backward_bytes = 0;
  // Step-local tensors written by recomputed nodes of this layer (rematerialized during
  // backward instead of kept). 0 while no node is recomputed.
  int64_t recomputed_bytes = 0;
  int64_t scratch_bytes = 0;       // the largest kernel scratch of the layer's nodes
  int64_t live_at_peak_bytes = 0;  // the layer's arena slots live at the peak step
  int64_t parameter_bytes = 0;     // trainable variables
  int64_t state_bytes = 0;         // non-trainable variables (batch-norm statistics)
  int64_t gradient_bytes = 0;
  int64_t optimizer_bytes = 0;  // optimizer state (momentum, Adam moments)
  int64_t persistent_bytes() const {
    return parameter_bytes + state_bytes + gradient_bytes + optimizer_bytes;
  }
};

// The profile of one step. A plain value; copyable.
//
// How the figures relate: peak_live_bytes is the largest sum of slot bytes live at one step.
// The planner places slots at offsets that must not overlap while both are live; placement can
// fragment (and rounds offsets up to 64 bytes), so arena_bytes >= peak_live_bytes, and the gap
// is the price of the placement. The process holds arena_bytes (the planned arena) plus
// persistent_bytes; peak_bytes() is that sum.
struct MemoryProfile {
  std::string title;                     // e.g. "mobilenetv2_1.00_224, batch 32"
  int64_t persistent_bytes = 0;          // the persistent block (constant across the step)
  int64_t arena_bytes = 0;               // the plan's arena: GraphMemoryPlan::arena_bytes()
  int64_t peak_live_bytes = 0;           // the largest live_bytes of any step
  int64_t sum_of_buffers_bytes = 0;      // every step-local buffer with no reuse
  int32_t peak_step = -1;                // the first step whose live_bytes is peak_live_bytes
  std::vector<ProfileStep> steps;        // one per node, in schedule order
  std::vector<LiveTensor> live_at_peak;  // the slots live at peak_step, largest first
  // In schedule order: the layers of each node's inputs, then the node's own.
  std::vector<LayerProfile> layers;

  // persistent_bytes + arena_bytes: what one training step of this plan holds.
  int64_t peak_bytes() const { return persistent_bytes + arena_bytes; }
  // The step at the peak; requires a non-empty profile.
  const ProfileStep& peak() const { return steps.at(static_cast<size_t>(peak_step)); }

  // The per-layer table: Layer, Kept for backward, Recomputed, Scratch, Live at peak, Weights
  // (parameters and state), Gradients, Optimizer; then a totals row (scratch: the largest).
  std::string table() const;
  // "Peak 1.86 GiB at step 412 (backward of block_3_expand_BN: BatchNormalizationBackward) ..."
  // with the arena and persistent parts and the `top` largest tensors live there.
  std::string peak_line(int top = 5) const;
  // The whole profile as a JSON object (every step, layer and live tensor).
  std::string to_json() const;
  // The timeline: x the step, y bytes; series: persistent + live arena (filled), the persistent
  // block (filled band), the planned arena's top (persistent + arena_bytes, dashed); the
  // phases shaded; the peak marked and labelled with its op. `width` in pixels.
  Chart timeline_chart(double width = 960) const;
};

// The step-local tensors the forward pass keeps for the backward pass: read by a backward node
// or by a recomputation (a checkpoint), and written by the forward pass proper (not by a
// recomputation, whose tensors live only during the backward pass) or a graph input. One value
// per planned buffer of `plan` (views share their source's), the first in schedule order.
// MemoryProfile's and MemoryReport's kept_for_backward_bytes are their bytes.
std::vector<graph::ValueId> kept_for_backward(const graph::Graph& graph,
                                              const graph::GraphMemoryPlan& plan);

// Profiles running `graph`'s nodes in order with arena plan `plan` (plan_graph_memory(graph,
// scratch_bytes)), node n's kernel scratch being scratch_bytes[n], and a persistent block of
// `persistent_bytes`. Per-layer persistent bytes come from the graph's persistent values.
// Returns an empty profile (no steps, peak_step -1) for a graph with no nodes.
// Throws Error(kInvalidArgument) for negative persistent_bytes, or when scratch_bytes or the
// plan do not match the graph (sizes of scratch_bytes, buffer_of_value, scratch_buffer_of_node,
// slots.slot_of).
// Complexity: O(nodes + values + buffers log buffers).
MemoryProfile profile_memory(const graph::Graph& graph, const graph::GraphMemoryPlan& plan,
                             std::span<const int64_t> scratch_bytes, int64_t persistent_bytes,
                             std::string title = "");

// Profiles `program` (a compiled step, usually Trainer::training_program()) whose persistent
// block holds `persistent_bytes` (PersistentStore::total_bytes()): the overload above with the
// program's graph, plan and kernel scratch.
MemoryProfile profile_memory(const runtime::Program& program, int64_t persistent_bytes,
                             std::string title = "");

}  // namespace leantrain::train

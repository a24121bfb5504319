// bf16 storage of kept activations: a training graph rewritten so that a forward activation
// that backward reads is kept between its forward and backward uses as bf16 (half the bytes),
// cast back to f32 just before backward first reads it. One of the memory-budget planner's
// options.
//
// Which kept values are converted, and why the others are not (plan_bf16_storage):
// - a candidate is a step-local f32 activation written by a forward node (not a recomputation)
//   that some backward node reads;
// - skipped: graph outputs (the host reads them), values below min_bytes, views (a Reshape's
//   output shares its source's bytes), values with a view a backward node reads (the bytes stay
//   live anyway), values the loss or an update reads, values a forward node reads after
//   backward has begun, and values read by a backward op listed in skip_reader_types.
// - Per backward op type (what it reads of the forward pass, what bf16 does to it):
//   * ReluBackward: its output's sign. Rounding to nearest keeps the sign and keeps every
//     float above 2^-134 positive (bf16's smallest denormal is 2^-133), so the gradient is
//     bit-identical unless an output is a positive f32 denormal <= 2^-134 (which rounds to 0).
//   * Relu6Backward: its output against 0 and 6. Outputs in [6 - 2^-6, 6) round to 6, so those
//     units lose their gradient; the rest is exact. Approximate (a unit a hair below the
//     clamp), allowed by default.
//   * Conv2DBackwardWeights, DepthwiseConv2DBackwardWeights, DenseBackwardWeights,
//     BatchNormalizationBackward, MultiplyBackward*, SwishBackward, Sigmoid/Tanh/Softmax
//     backwards, NormalizationBackward: products with the input or output; bf16 adds a
//     relative error of at most 2^-8 per element (half a unit in the last of 8 bits). Approximate,
//     allowed by default (a small conv model's losses stay within 1% of f32's over 20 steps). The
//     exception is BatchNormalizationBackward: it recomputes (x - mean) * invstd from the stored
//     x, so plain bf16 gives an error of 2^-8 |x| / std rather than 2^-8, large for a channel
//     whose |mean| is many times its standard deviation (on MobileNetV2 224x224 batch 32, SGD,
//     20 steps, random labels over 1000 classes: per-step losses up to 1.2% from f32's, against
//     0.92% with those inputs kept f32; the same f32 run on 1 thread instead of 2 differs by
//     0.64%: summation order alone). So by default (center_batch_norm_inputs) a batch
//     normalization's input is stored centered: bf16(x - batch mean) per channel
//     (CastToBF16Centered, right after the normalization's forward node, which computes the
//     mean), restored as that + mean (CastToF32Centered) before its backward; the error is then
//     2^-8 |x - mean|, as for the other products.
//   * MaxPooling2DBackward: recomputes the argmax of each window from its input. Rounding can
//     merge distinct values into a tie, and the whole gradient of that window then goes to the
//     first of them, which need not be the true maximum: an error of the gradient's size, not
//     of 2^-8. Skipped by default too.
//   * Loss backwards read the logits and labels: the loss reads them too, so they are skipped
//     by the rule above (and they are small).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "leantrain/graph/graph.h"

namespace leantrain::passes {

// Backward op types whose forward reads are never converted by default.
inline const std::vector<std::string> kDefaultBf16SkipTypes = {"MaxPooling2DBackward"};

struct Bf16StorageOptions {
  // Values smaller than this (f32 bytes) stay f32: the casts would cost more than they save.
  int64_t min_bytes = 64 * 1024;
  // A value read by a backward node of one of these op types (Op::type()) stays f32.
  std::vector<std::string> skip_reader_types = kDefaultBf16SkipTypes;
  // When not empty, only values whose backward readers all have one of these types are
  // converted (e.g. {"ReluBackward"}).
  std::vector<std::string> only_reader_types = {};
  // A value a BatchNormalizationBackward reads (the normalization's input) is stored as
  // bf16(x - batch mean) per channel rather than bf16(x). Off: plain bf16 like the others.
  bool center_batch_norm_inputs = true;
};

// One kept activation of a training graph: converted, or why not.
struct Bf16StorageEntry {
  graph::ValueId value = graph::kNoValue;  // in the graph given to plan_bf16_storage
  std::string name;
  int64_t f32_bytes = 0;
  bool converted = false;
  std::string skipped_because;  // empty when converted
  // Node ids of the backward nodes that read it, in schedule order.
  std::vector<graph::NodeId> backward_readers;
  // Centered storage (a batch normalization's input): the batch mean it is stored relative to,
  // and the normalization's forward node, after which the bf16 cast runs. kNoValue / -1 when
  // stored plainly, right after its producer.
  graph::ValueId center_mean = graph::kNoValue;
  graph::NodeId cast_after = -1;
};

struct Bf16StoragePlan {
  std::vector<Bf16StorageEntry> entries;  // every candidate, in value order
  int64_t converted_values() const;
  // Sum of the f32 bytes of the converted values (their bf16 copies take half).
  int64_t converted_f32_bytes() const;
  // One line per entry, "<name> <bytes> bf16" or "<name> <bytes> f32: <reason>", then a total
  // line: for plan explanations and debugging.
  std::string to_string() const;
};

// Lists every forward activation a backward node of `training_graph` reads, with the decision
// the rules above make. Requires a graph whose nodes are in schedule order (as a Trainer's
// training program has them); reads it only. Throws Error(kInvalidArgument) for a negative
// min_bytes. O(nodes + edges).
Bf16StoragePlan plan_bf16_storage(const graph::Graph& training_graph,
                                  const Bf16StorageOptions& options = {});

// Returns `training_graph` rewritten to keep the values plan_bf16_storage converts in bf16:
// - right after the producer of each such value v, a CastToBF16 node (forward phase) writes
//   "<v>/bf16" (for a centered value: a CastToBF16Centered right after the normalization's
//   forward node, reading v and the batch mean);
// - right before the first backward reader of v, a CastToF32 node (backward phase, forward_of
//   as that reader's) writes "<v>/f32" (CastToF32Centered for a centered value, reading the
//   mean too), and every backward reader of v reads it instead;
// - forward readers keep reading v, which now dies at its last forward reader; the arena
//   planner sees the f32 copy live only from its cast to v's last backward reader.
// The arena is not promised to shrink: at each cast both copies are live, so when the peak
// lies in backward (after rematerialization, for example) it can grow; measure with
// bf16_storage_savings.
// Every other node, value, name, kind and flag is as in the original (node ids shift by the
// casts inserted before them; forward_of follows). A graph with nothing to convert comes back
// as an equal copy (the same node and value ids). Throws as plan_bf16_storage; the returned graph
// compiles into a runtime::Program with the same PersistentStore as the original.
graph::Graph store_kept_in_bf16(const graph::Graph& training_graph,
                                const Bf16StorageOptions& options = {});

// What the rewrite saves, by the caller's arena planner.
struct Bf16StorageSavings {
  int64_t arena_bytes_before = 0;
  int64_t arena_bytes_after = 0;
  int64_t converted_values = 0;
  int64_t converted_f32_bytes = 0;  // kept as f32 before; half of it is kept after
};

// Plans `training_graph` and its rewrite with `arena_bytes` (the caller's planner, as for
// fit_remat: runtime::planned_arena_bytes, kernel scratch included). Throws as
// store_kept_in_bf16 and what arena_bytes throws.
Bf16StorageSavings bf16_storage_savings(
    const graph::Graph& training_graph,
    const std::function<int64_t(const graph::Graph&)>& arena_bytes,
    const Bf16StorageOptions& options = {});

}  // namespace leantrain::passes

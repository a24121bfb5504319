// Micro-batch gradient accumulation: the graph each micro-step of a batch split into
// micro-batches runs, adding its gradients into the persistent ones.
#pragma once

#include <cstdint>

#include "leantrain/graph/graph.h"

namespace leantrain::passes {

struct MicroBatchOptions {
  int64_t rows = 0;        // rows of the micro-batch the graph runs on
  int64_t batch_rows = 0;  // rows of the whole batch: gradients are scaled by rows / batch_rows
};

// Returns `g` (forward, loss and backward nodes, no update nodes: the optimizer runs once per
// batch, after the last micro-step) rebuilt node by node, with each gradient made step-local
// and an Accumulate node right after its producer, which adds it times rows / batch_rows (in
// f32) into the persistent gradient. Accumulating right away keeps a gradient's step-local
// buffer alive for one node only, so the arena holds at most a few.
// Producer-less values come first, in their order and under their names, then one persistent
// gradient (ValueKind::kGradient) per gradient of `g`, under that gradient's name; the
// micro-batch's own gradient is renamed "<name>/micro" (a suffix _1, _2, ... when taken). Every
// other value and node keeps its name, kind, layer and flags; node ids shift by the Accumulate
// nodes (forward_of follows).
// Throws Error(kInvalidArgument) for an update node or rows outside 1..batch_rows;
// Error(kInternal) for a gradient without a producer or a node that reads a value no earlier
// node writes. O(nodes + edges + values log values).
graph::Graph accumulate_micro_batch_gradients(const graph::Graph& g,
                                              const MicroBatchOptions& options);

}  // namespace leantrain::passes

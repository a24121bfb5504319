// Reverse-mode automatic differentiation as a graph-to-graph transformation.
#pragma once

#include <map>
#include <memory>

#include "leantrain/graph/graph.h"

namespace leantrain::graph {

// Appends to `graph` the backward nodes that compute the gradient of the scalar `loss` with
// respect to every parameter (ValueKind::kParameter) it depends on, and returns
// parameter -> gradient. Each gradient value becomes ValueKind::kGradient named
// "<parameter>/grad" (persistent, so updates and later accumulation can read it).
//
// - Walks the forward nodes in reverse insertion order; a node's gradient rule runs when one of
//   its outputs has a gradient (the node producing `loss` is seeded with d loss = 1: its rule
//   receives kNoValue for that output and treats it as 1).
// - A value read by several nodes gets the sum of their contributions (`sum_op`, which must add
//   two tensors of one shape).
// - A parameter whose gradient is not a value of its own (two parameters of one Add share the
//   incoming gradient; a Reshape's gradient is a view) gets a copy (`copy_op`, which must copy
//   one tensor).
// - Only inputs on a path from a parameter to the loss get gradients: GradContext::needs_grad
//   tells a rule which inputs to skip (e.g. no backward-data pass for the image input).
// - Checks each rule reads no forward tensor beyond what Op::saved_for_backward declares;
//   throws Error(kInternal) naming the op otherwise.
// Cost: O(nodes + edges).
std::map<ValueId, ValueId> add_backward(Graph& graph, ValueId loss,
                                        const std::shared_ptr<const Op>& sum_op,
                                        const std::shared_ptr<const Op>& copy_op);

}  // namespace leantrain::graph

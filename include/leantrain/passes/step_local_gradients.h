// Step-local gradients: each parameter updated as soon as its gradient is complete, the gradient
// living in the step's arena instead of the persistent block.
#pragma once

#include "leantrain/graph/graph.h"

namespace leantrain::passes {

// No options yet: the struct gives the pass the form every pass has (passes.h).
struct StepLocalGradientsOptions {};

// Returns `g` with every update node (Phase::kUpdate) moved earlier, to just after the last node it
// has to follow: the producers of its inputs and every earlier reader of the persistent values it
// reads (the parameter, whose update writes it in place, is still read by backward nodes computing
// input gradients, and by recomputed forward nodes). Updates following the same node keep their
// order; every other node keeps its place relative to the others.
// Each gradient (graph::ValueKind::kGradient) read by nothing but its update becomes a step-local
// ValueKind::kActivation, so the arena planner gives it memory from its producer to its update:
// at a step's peak (usually the start of the backward pass) few gradients are alive, where the
// persistent block holds all of them for the whole run (PyTorch's optimizer-step-in-backward
// hooks, LOMO's fused update, do the same).
//
// The same numbers as updating after the backward pass: every node reads the same values (no
// reader of a parameter runs after its update; update ops read only their own inputs), so
// losses, parameters and optimizer state are bitwise identical. A gradient read by anything but
// its update (a global-norm clip over all gradients, a data-parallel reduction) stays
// persistent; micro-batch accumulation keeps gradients across steps and has no update nodes.
//
// Values and nodes keep their names, kinds (but the gradients above), layers and flags; node ids
// change (forward_of is remapped). A graph with no gradient to make step-local comes back as an
// equal copy (its updates not moved).
// O(nodes + edges).
graph::Graph make_gradients_step_local(const graph::Graph& g,
                                       const StepLocalGradientsOptions& options = {});

}  // namespace leantrain::passes

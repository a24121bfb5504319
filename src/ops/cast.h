// Casts between f32 and bf16 storage: what graph rewrites insert to keep an activation in half
// the bytes between its forward and backward uses (train/bf16_storage.h). Declared here, not in
// ops.h, because no layer builds them: they are added after autodiff and have no gradient.
#pragma once

#include <memory>

#include "leantrain/graph/op.h"

namespace leantrain::ops {

// "CastToBF16": (x) f32 -> (y) bf16 of the same shape, rounding to nearest even (NaN stays NaN).
// Not differentiable (gradient() throws Error(kUnimplemented)); infer() throws
// Error(kInvalidArgument) for an input that is not f32. Shared, immutable: thread-safe.
std::shared_ptr<const graph::Op> cast_to_bf16();
// "CastToF32": (x) bf16 -> (y) f32 of the same shape, exactly. Not differentiable; infer()
// throws Error(kInvalidArgument) for an input that is not bf16.
std::shared_ptr<const graph::Op> cast_to_f32();

}  // namespace leantrain::ops

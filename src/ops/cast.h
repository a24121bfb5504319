// Casts between f32 and bf16 storage: what graph rewrites insert to keep an activation in half
// the bytes between its forward and backward uses (passes/bf16_storage.h). Declared here, not in
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

// "CastToBF16Centered": (x f32 [..., C], mean f32 [C]) -> bf16 of x - mean per channel (the
// last axis): what bf16 storage keeps of a batch normalization's input, whose backward
// recomputes (x - mean) * invstd, so that the rounding error is relative to x - mean rather
// than to x (large when a channel's |mean| is many times its spread). Not differentiable.
std::shared_ptr<const graph::Op> cast_to_bf16_centered();
// "CastToF32Centered": (y bf16 [..., C], mean f32 [C]) -> f32 y + mean per channel: the
// inverse of cast_to_bf16_centered up to its rounding. Not differentiable.
std::shared_ptr<const graph::Op> cast_to_f32_centered();

}  // namespace leantrain::ops

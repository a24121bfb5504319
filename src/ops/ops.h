// Factories for every op. Each op file defines the forward op, its backward ops, its shape and
// gradient rules, what backward keeps, its in-place capability and its kernels (oneDNN or fast
// path, and the reference path for tests).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "leantrain/graph/graph.h"
#include "leantrain/graph/op.h"

namespace leantrain::ops {

using OpPtr = std::shared_ptr<const graph::Op>;

enum class Padding { kValid, kSame };
// Parses Keras' padding names, case-insensitive; throws Error(kInvalidArgument) otherwise.
Padding parse_padding(const std::string& name);

struct ConvAttrs {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  Padding padding = Padding::kValid;
  // Keras' Conv2D groups: C and F split into `groups` blocks, output block g reads input block g
  // only. Conv2D only; DepthwiseConv2D requires 1.
  int64_t groups = 1;
  // Zeros around the input before a 'valid' window: a ZeroPadding2D folded into the convolution
  // (passes::fold_zero_padding); 0 with 'same'.
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
};

// passes::fold_zero_padding's hooks into the op files: zeros around an image, Keras'
// ZeroPadding2D ((top, bottom), (left, right)).
struct Padding2D {
  int64_t top = 0, bottom = 0, left = 0, right = 0;
};
// The padding of a ZeroPadding2D op (shape.cc): true and *pad set; false for any other op.
bool zero_pad2d_amounts(const graph::Op& op, Padding2D* pad);
// A 'valid' Conv2D or DepthwiseConv2D op with `pad` more zeros around its input (conv.cc); null
// for any other op, or when a pad would be as wide as the window.
OpPtr conv_with_input_padding(const graph::Op& op, const Padding2D& pad);

// Conv2D: inputs (src (N,H,W,C), kernel (KH,KW,C/groups,F)[, bias (F)]) -> (N,OH,OW,F); groups
// must divide C and F.
OpPtr conv2d(const ConvAttrs& attrs);
// DepthwiseConv2D: inputs (src, kernel (KH,KW,C,M)[, bias (C*M)]) -> (N,OH,OW,C*M).
OpPtr depthwise_conv2d(const ConvAttrs& attrs);
// Dense: inputs (src (N,IN), kernel (IN,OUT)[, bias (OUT)]) -> (N,OUT).
OpPtr dense();

// BatchNormalization over the last axis. Training: inputs (src, gamma, beta, moving_mean,
// moving_variance) -> (dst, batch_mean, batch_var), and it updates the moving statistics in
// place (Keras' momentum rule) unless update_moving_statistics is false (what a recomputation
// runs: the same outputs, the moving statistics left alone and mutated_inputs() empty; the op
// implements graph::RecomputableOp to give that variant). Inference: same inputs -> dst, with
// the moving statistics.
OpPtr batch_norm(bool training, float momentum, float epsilon,
                 bool update_moving_statistics = true);

enum class ActivationKind { kRelu, kRelu6, kSigmoid, kTanh, kSwish };
// Parses a Keras activation name ("relu", "relu6", "sigmoid", "tanh", "swish"/"silu");
// returns false for "linear" / "" (no op). Throws Error(kUnimplemented) for other names.
bool parse_activation(const std::string& name, ActivationKind* kind);
OpPtr activation(ActivationKind kind);

struct PoolAttrs {
  int64_t pool_h = 2, pool_w = 2;
  int64_t stride_h = 2, stride_w = 2;
  Padding padding = Padding::kValid;
};
OpPtr max_pool(const PoolAttrs& attrs);
OpPtr avg_pool(const PoolAttrs& attrs);
// (N,H,W,C) -> (N,C).
OpPtr global_avg_pool();

// Elementwise sum of two tensors of one shape (also used to sum gradient contributions).
OpPtr add();
// A copy of input 0 (gives a parameter a gradient buffer of its own).
OpPtr copy();
// Output 0 is input 0 under `shape` (dimension 0 is kept: the batch); a view, never a copy.
OpPtr reshape(const Shape& shape_without_batch);
// Dropout(rate) in training; `salt` makes each dropout layer's masks independent.
OpPtr dropout(float rate, uint64_t salt);

// --- Padding, merging, scaling and resizing (NHWC f32; dimension 0 is the batch). Factories
// throw Error(kInvalidArgument) for bad attributes, infer() for shapes that do not fit.
// ZeroPadding2D(((top, bottom), (left, right))): (N,H,W,C) -> (N,H+top+bottom,W+left+right,C),
// zeros around. Pads must be >= 0. Keeps nothing for backward (a crop, in place over dy).
OpPtr zero_pad2d(int64_t top, int64_t bottom, int64_t left, int64_t right);
// Concatenate(axis=-1) of n >= 2 inputs of one rank (>= 2) that agree in every dimension but the
// last -> (..., sum of last dimensions), input 0's channels first. Keeps nothing for backward
// (slices of dy, only for inputs that need a gradient; the first in place over dy).
OpPtr concat(int n);
// Multiply: (x, s) -> x * s, where s has x's shape, or x is (N,H,W,C) and s is (N,1,1,C)
// broadcast over H and W (the squeeze-and-excitation gate). Keeps both inputs for backward
// (dx = dy * s; ds = dy * x, summed over H and W for the gate); y may overwrite x.
OpPtr multiply();
// Rescaling(scale, offset): y = x * scale + offset, any shape; in place. Keeps nothing.
OpPtr rescale(float scale, float offset);
// Resizing(out_h, out_w, interpolation="bilinear", crop_to_aspect_ratio=False), i.e.
// tf.image.resize(method="bilinear", antialias=False): (N,H,W,C) -> (N,out_h,out_w,C) with
// half-pixel centers, edge taps clamped. Keeps nothing for backward (weights scatter dy).
OpPtr resize_bilinear(int64_t out_h, int64_t out_w);

// Fused softmax + sparse categorical cross-entropy from logits: (logits (N,C) f32, labels (N)
// i32) -> mean loss, shape (1) f32.
OpPtr softmax_cross_entropy();
// (logits (N,C), labels (N)) -> number of rows whose argmax is the label, shape (1) f32.
OpPtr top1_correct();

// Optimizer updates: write the parameter (input 0) and state in place from the gradient
// (input 1); no outputs. Learning rate and iteration come from the StepState.
OpPtr sgd_update(float momentum, bool nesterov);  // (param, grad[, velocity])
OpPtr adam_update(float beta_1, float beta_2, float epsilon,
                  float weight_decay);  // (param, grad, m, v)

// Gradient accumulation (micro-batching): (dst, src) f32 of one shape -> dst += alpha * src, dst
// written in place (typically a persistent gradient); no outputs, no gradient. Throws
// Error(kInvalidArgument) for a non-finite alpha, infer() for shapes or dtypes that differ.
OpPtr accumulate(float alpha);

// Runs one tiny convolution and matrix product so that the engine's process-wide state (oneDNN
// engine and stream, OpenMP threads, oneDNN's shared JIT GEMM kernels) exists before any model
// is built. Idempotent in effect; costs a few megabytes of resident memory once per process.
void warm_up_kernels();
// Frees what compiled kernels that no longer exist left cached in the process (oneDNN's
// primitive cache: JIT code). A plan search that dry-runs graphs calls it, so that the programs
// it then compiles create (and measure) their own kernels.
void release_unused_kernels();

// --- Softmax, losses, metrics and regularizers (Keras 3 formulas; src/kernels/losses.h and
// metrics.h give them term by term). Each loss maps (pred, target) to the mean over the batch,
// shape (1) f32, and backpropagates to pred only (it throws Error(kUnimplemented) at autodiff if
// the target depends on trainable weights). A loss or penalty may be the final loss or a term of
// one (summed with add()): its backward then reads the incoming gradient. Shapes and dtypes are
// checked when the node is added (Error(kInvalidArgument) naming the op and the shapes).

// Softmax over the last axis of an f32 tensor of rank >= 1 (Keras' Softmax layer, "softmax"
// activation); in place; backward keeps the output, not the input.
OpPtr softmax();
// (pred (N,C) f32, target (N,C) f32 one-hot or soft). From probabilities, pred is divided by its
// row sum and clipped to [1e-7, 1 - 1e-7]; clipped entries pass no gradient.
OpPtr categorical_cross_entropy(bool from_logits);
// (pred (N,C) f32, labels (N) i32). from_logits: the fused softmax_cross_entropy() op. From
// probabilities: as categorical_cross_entropy with one-hot targets (Keras' NumPy/JAX/PyTorch
// backends; its TensorFlow backend clips before normalizing).
OpPtr sparse_categorical_cross_entropy(bool from_logits);
// (pred, target) of one shape, f32, rank >= 1 -> mean over all elements. From logits:
// max(x,0) - x z + log(1 + exp(-|x|)); from probabilities: clipped to [1e-7, 1 - 1e-7].
OpPtr binary_cross_entropy(bool from_logits);
// (pred, target) of one shape, f32 -> mean over all elements of (pred - target)^2.
OpPtr mean_squared_error();

// Accuracy counts, shape (1) f32, read by the host (no gradient). Throw Error(kInvalidArgument)
// for k < 1 or a non-finite threshold.
// (pred (N,C), labels (N) i32) -> rows whose label is among the k largest, by tf.math.in_top_k's
// rule: fewer than k entries strictly greater than the label's (ties at the k-th place count); a
// row with a non-finite prediction or an out-of-range label never counts.
OpPtr top_k_correct(int k);
// (pred (N,C), target (N,C) f32) -> rows whose argmax of pred equals the argmax of target
// (Keras' categorical_accuracy; ties go to the lowest index).
OpPtr categorical_top1_correct();
// (pred, target) of one shape, f32 -> elements where (pred > threshold ? 1 : 0) == target
// (Keras' binary_accuracy; exact comparison, so soft targets never match). For logits pass
// threshold 0.
OpPtr binary_correct(float threshold = 0.5f);

// Keras' L2 regularizer: (w, any shape, f32) -> (1) = l2 * sum(w^2); backward 2 l2 w. Throws
// Error(kInvalidArgument) unless l2 is finite and >= 0.
OpPtr l2_penalty(float l2);

// --- Model zoo (EfficientNet): Keras' Normalization and per-example Dropout (src/ops/
// normalization.cc, per_example_dropout.cc; kernels/normalization.h, per_example_dropout.h).
// Normalization(axis=-1): (x (N, ..., C) f32, rank >= 2, mean (C), variance (C)) -> x's shape,
// (x - mean) / max(sqrt(variance), 1e-7) per channel. mean and variance are non-trainable: only
// x gets a gradient (autodiff throws Error(kUnimplemented) if they need one). In place; backward
// keeps the variance only.
OpPtr normalization();
// Dropout(rate, noise_shape=(None, 1, 1, 1)) in training: one keep/drop draw per example
// (dimension 0), a kept example scaled by 1 / (1 - rate). Any f32 shape with a batch dimension;
// in place; keeps nothing for backward. `salt` makes each layer's draws independent. Throws
// Error(kInvalidArgument) unless 0 <= rate < 1.
OpPtr per_example_dropout(float rate, uint64_t salt);

}  // namespace leantrain::ops

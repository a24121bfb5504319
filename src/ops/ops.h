// Factories for every op. Each op file defines the forward op, its backward ops, its shape and
// gradient rules, what backward keeps, its in-place capability and its kernels (oneDNN or fast
// path, and the reference path for tests).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

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
};

// Conv2D: inputs (src (N,H,W,C), kernel (KH,KW,C,F)[, bias (F)]) -> (N,OH,OW,F).
OpPtr conv2d(const ConvAttrs& attrs);
// DepthwiseConv2D: inputs (src, kernel (KH,KW,C,M)[, bias (C*M)]) -> (N,OH,OW,C*M).
OpPtr depthwise_conv2d(const ConvAttrs& attrs);
// Dense: inputs (src (N,IN), kernel (IN,OUT)[, bias (OUT)]) -> (N,OUT).
OpPtr dense();

// BatchNormalization over the last axis. Training: inputs (src, gamma, beta, moving_mean,
// moving_variance) -> (dst, batch_mean, batch_var), and it updates the moving statistics in
// place (Keras' momentum rule). Inference: same inputs -> dst, with the moving statistics.
OpPtr batch_norm(bool training, float momentum, float epsilon);

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

// Runs one tiny convolution and matrix product so that the engine's process-wide state (oneDNN
// engine and stream, OpenMP threads, oneDNN's shared JIT GEMM kernels) exists before any model
// is built. Idempotent in effect; costs a few megabytes of resident memory once per process.
void warm_up_kernels();

}  // namespace leantrain::ops

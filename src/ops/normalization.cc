// Keras' Normalization layer as an op: (x - mean) / max(sqrt(variance), 1e-7) per channel
// (kernels/normalization.h), with mean and variance as non-trainable state.
// Memory facts: forward may write y over x; backward keeps only the variance (a persistent
// state tensor, so nothing step-local) and may write dx over dy.
#include "kernels/normalization.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

// Throws unless `spec` is an f32 vector of c entries.
void check_channel_vector(const char* op, const char* what, const TensorSpec& spec, int64_t c) {
  LT_CHECK(spec.dtype == DType::kF32 && spec.shape == Shape{c}, kInvalidArgument, op, ": ", what,
           " must be an f32 vector of the input's ", c, " channels, got ", dtype_name(spec.dtype),
           " ", spec.shape.to_string());
}

// (diff_dst (N, ..., C), variance (C)) -> diff_src.
class NormalizationBwdOp final : public graph::Op {
 public:
  std::string type() const override { return "NormalizationBackward"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    return {in[0]};
  }
  int inplace_input() const override { return 0; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const int64_t c = in[0].shape.dim(-1);
    const int64_t rows = in[0].shape.num_elements() / c;
    if (options.choice == KernelChoice::kReference) {
      return make_kernel([rows, c](const RunArgs& a) {
        kernels::normalization_bwd_ref(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.outputs[0]), rows,
                                       c);
      });
    }
    return make_kernel(
        [rows, c](const RunArgs& a) {
          kernels::normalization_bwd_fast(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.outputs[0]),
                                          rows, c, static_cast<float*>(a.scratch));
        },
        kernels::normalization_scratch_floats(c) * static_cast<int64_t>(sizeof(float)));
  }
};

class NormalizationOp final : public graph::Op {
 public:
  std::string type() const override { return "Normalization"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 3, 3);
    const Shape& x = in[0].shape;
    LT_CHECK(in[0].dtype == DType::kF32 && x.rank() >= 2, kInvalidArgument,
             "Normalization: input must be an f32 tensor (N, ..., C) of rank >= 2, got ",
             dtype_name(in[0].dtype), " ", x.to_string());
    check_channel_vector("Normalization", "mean", in[1], x.dim(-1));
    check_channel_vector("Normalization", "variance", in[2], x.dim(-1));
    return {in[0]};
  }
  int inplace_input() const override { return 0; }
  graph::SavedForBackward saved_for_backward() const override { return {{2}, {}}; }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    LT_CHECK(!ctx.needs_grad(1) && !ctx.needs_grad(2), kUnimplemented, "Normalization '", node.name,
             "': mean and variance are non-trainable statistics and have no gradient; keep them "
             "out of the trainable variables");
    std::vector<graph::ValueId> grads(3, graph::kNoValue);
    if (ctx.needs_grad(0)) {
      grads[0] = ctx.add(std::make_shared<NormalizationBwdOp>(), {dy[0], node.inputs[2]}, "bwd");
    }
    return grads;
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const int64_t c = in[0].shape.dim(-1);
    const int64_t rows = in[0].shape.num_elements() / c;
    if (options.choice == KernelChoice::kReference) {
      return make_kernel([rows, c](const RunArgs& a) {
        kernels::normalization_fwd_ref(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.inputs[2]),
                                       f32(a.outputs[0]), rows, c);
      });
    }
    return make_kernel(
        [rows, c](const RunArgs& a) {
          kernels::normalization_fwd_fast(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.inputs[2]),
                                          f32(a.outputs[0]), rows, c,
                                          static_cast<float*>(a.scratch));
        },
        kernels::normalization_scratch_floats(c) * static_cast<int64_t>(sizeof(float)));
  }
};

}  // namespace

OpPtr normalization() { return std::make_shared<NormalizationOp>(); }

}  // namespace leantrain::ops

// Multiply (Keras' multiply([x, s]), including the squeeze-and-excitation gate that scales each
// image's channels by s (N, 1, 1, C)) and Rescaling, with their backward ops.
// Memory facts:
// - Multiply keeps both inputs for backward (dx = dy * s reads s, ds = dy * x reads x) and may
//   write y over x; its dx is again a Multiply, which may write over dy once ds has read it.
// - Rescaling keeps nothing (dx = dy * scale) and runs in place both ways.
#include <cmath>

#include "kernels/multiply.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

// True when `s` is (N, 1, 1, C) for `x` (N, H, W, C) and not simply x's own shape.
bool is_channel_gate(const Shape& x, const Shape& s) {
  return x.rank() == 4 && s.rank() == 4 && !(x == s) && s[0] == x[0] && s[1] == 1 && s[2] == 1 &&
         s[3] == x[3];
}

// The gate's gradient with respect to the scale: (diff_dst (N,H,W,C), src (N,H,W,C)) ->
// diff_scale (N,1,1,C), summed over H and W.
class GateScaleBwdOp final : public graph::Op {
 public:
  std::string type() const override { return "MultiplyBackwardScale"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    const Shape& s = in[0].shape;
    return {TensorSpec{Shape{s[0], 1, 1, s[3]}, DType::kF32}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::multiply_channels_bwd_scale_fast
                                                    : kernels::multiply_channels_bwd_scale_ref;
    const Shape s = in[0].shape;
    const int64_t n = s[0], p = s[1] * s[2], c = s[3];
    return make_kernel([fn, n, p, c](const RunArgs& a) {
      fn(f32(a.inputs[1]), f32(a.inputs[0]), f32(a.outputs[0]), n, p, c);
    });
  }
};

class MultiplyOp final : public graph::Op {
 public:
  std::string type() const override { return "Multiply"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    const Shape& x = in[0].shape;
    const Shape& s = in[1].shape;
    LT_CHECK(in[0].dtype == DType::kF32 && in[1].dtype == DType::kF32, kInvalidArgument,
             "Multiply: inputs must be f32, got ", dtype_name(in[0].dtype), " and ",
             dtype_name(in[1].dtype));
    LT_CHECK(x == s || is_channel_gate(x, s), kInvalidArgument, "Multiply: input 1 ", s.to_string(),
             " must have input 0's shape ", x.to_string(),
             " or, for a (N, H, W, C) input 0, be (N, 1, 1, C) (a squeeze-and-excitation gate)");
    return {in[0]};
  }
  int inplace_input() const override { return 0; }
  graph::SavedForBackward saved_for_backward() const override { return {{0, 1}, {}}; }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    const graph::ValueId x = node.inputs[0], s = node.inputs[1];
    const bool gate =
        is_channel_gate(ctx.graph().value(x).spec.shape, ctx.graph().value(s).spec.shape);
    std::vector<graph::ValueId> grads(2, graph::kNoValue);
    // ds first: it reads dy, which dx may then overwrite.
    if (ctx.needs_grad(1)) {
      grads[1] = gate ? ctx.add(std::make_shared<GateScaleBwdOp>(), {dy[0], x}, "bwd_scale")
                      : ctx.add(std::make_shared<MultiplyOp>(), {dy[0], x}, "bwd_scale");
    }
    if (ctx.needs_grad(0)) {
      grads[0] = ctx.add(std::make_shared<MultiplyOp>(), {dy[0], s}, "bwd_data");
    }
    return grads;
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const bool fast = options.choice == KernelChoice::kFast;
    const Shape& x = in[0].shape;
    if (is_channel_gate(x, in[1].shape)) {
      auto fn = fast ? kernels::multiply_channels_fast : kernels::multiply_channels_ref;
      const int64_t n = x[0], p = x[1] * x[2], c = x[3];
      return make_kernel([fn, n, p, c](const RunArgs& a) {
        fn(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.outputs[0]), n, p, c);
      });
    }
    auto fn = fast ? kernels::multiply_fast : kernels::multiply_ref;
    return make_kernel([fn](const RunArgs& a) {
      fn(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.outputs[0]), a.outputs[0].num_elements());
    });
  }
};

class RescaleOp final : public graph::Op {
 public:
  RescaleOp(float scale, float offset) : scale_(scale), offset_(offset) {}
  std::string type() const override { return "Rescaling"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    LT_CHECK(in[0].dtype == DType::kF32, kInvalidArgument, "Rescaling: input must be f32, got ",
             dtype_name(in[0].dtype));
    return {in[0]};
  }
  int inplace_input() const override { return 0; }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node&,
                                       std::span<const graph::ValueId> dy) const override {
    return {ctx.add(std::make_shared<RescaleOp>(scale_, 0.0f), {dy[0]}, "bwd")};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::rescale_fast : kernels::rescale_ref;
    const float scale = scale_, offset = offset_;
    return make_kernel([fn, scale, offset](const RunArgs& a) {
      fn(scale, offset, f32(a.inputs[0]), f32(a.outputs[0]), a.outputs[0].num_elements());
    });
  }

 private:
  float scale_;
  float offset_;
};

}  // namespace

OpPtr multiply() { return std::make_shared<MultiplyOp>(); }

OpPtr rescale(float scale, float offset) {
  LT_CHECK(std::isfinite(scale) && std::isfinite(offset), kInvalidArgument,
           "Rescaling: scale and offset must be finite, got scale=", scale, ", offset=", offset);
  return std::make_shared<RescaleOp>(scale, offset);
}

}  // namespace leantrain::ops

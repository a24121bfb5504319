// Softmax over the last axis (Keras' Softmax layer and "softmax" activation): in place, and
// backward from the output, so the input dies at the softmax.
#include "kernels/softmax.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

// Rows and classes of a tensor whose last axis is the softmax axis.
struct Rows {
  int64_t n, c;
};
Rows rows_of(const Shape& s) { return {s.num_elements() / s.dim(-1), s.dim(-1)}; }

class SoftmaxBwdOp final : public graph::Op {
 public:
  std::string type() const override { return "SoftmaxBackward"; }
  // (dst, diff_dst) -> diff_src, written over diff_dst when it dies here.
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    LT_CHECK(in[0].dtype == DType::kF32 && in[1].dtype == DType::kF32 && in[0].shape == in[1].shape,
             kInternal, type(), ": output and its gradient must be f32 of one shape, got ",
             in[0].shape.to_string(), " and ", in[1].shape.to_string());
    return {in[1]};
  }
  int inplace_input() const override { return 1; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::softmax_bwd_fast
                                                    : kernels::softmax_bwd_ref;
    const Rows r = rows_of(in[0].shape);
    return make_kernel([fn, r](const RunArgs& a) {
      fn(f32(a.inputs[0]), f32(a.inputs[1]), r.n, r.c, f32(a.outputs[0]));
    });
  }
};

class SoftmaxOp final : public graph::Op {
 public:
  std::string type() const override { return "Softmax"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    const TensorSpec& x = in[0];
    LT_CHECK(x.dtype == DType::kF32 && x.shape.rank() >= 1 && x.shape.num_elements() >= 1,
             kInvalidArgument, type(),
             ": input must be a non-empty f32 tensor of rank >= 1 (softmax runs over the last "
             "axis), got ",
             dtype_name(x.dtype), " ", x.shape.to_string());
    return {x};
  }
  int inplace_input() const override { return 0; }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    LT_CHECK(dy[0] != graph::kNoValue, kInvalidArgument, "Softmax '", node.name,
             "' is not a scalar loss; add a loss after it");
    return {ctx.add(std::make_shared<SoftmaxBwdOp>(), {node.outputs[0], dy[0]}, "bwd")};
  }
  graph::SavedForBackward saved_for_backward() const override { return {{}, {0}}; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::softmax_fwd_fast
                                                    : kernels::softmax_fwd_ref;
    const Rows r = rows_of(in[0].shape);
    return make_kernel(
        [fn, r](const RunArgs& a) { fn(f32(a.inputs[0]), r.n, r.c, f32(a.outputs[0])); });
  }
};

}  // namespace

OpPtr softmax() { return std::make_shared<SoftmaxOp>(); }

}  // namespace leantrain::ops

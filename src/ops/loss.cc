// The fused softmax + sparse categorical cross-entropy loss and the top-1 accuracy count.
#include "kernels/softmax_xent.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::RunArgs;
using graph::TensorSpec;

void check_logits_labels(const std::string& op, std::span<const TensorSpec> in) {
  check_arity(op, in, 2, 2);
  check_f32(op, "logits", in[0], 2);
  LT_CHECK(in[1].dtype == DType::kI32 && in[1].shape == Shape{in[0].shape[0]}, kInvalidArgument, op,
           ": labels must be i32 of shape (", in[0].shape[0], ",), got ", dtype_name(in[1].dtype),
           " ", in[1].shape.to_string());
}

class SoftmaxXentBwdOp final : public graph::Op {
 public:
  std::string type() const override { return "SoftmaxCrossEntropyBackward"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_logits_labels(type(), in);
    return {in[0]};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         KernelChoice choice) const override {
    auto fn = choice == KernelChoice::kFast ? kernels::softmax_xent_bwd_fast
                                            : kernels::softmax_xent_bwd_ref;
    const int64_t n = in[0].shape[0], c = in[0].shape[1];
    return make_kernel([fn, n, c](const RunArgs& a) {
      fn(f32(a.inputs[0]), a.inputs[1].i32(), n, c, 1.0f, f32(a.outputs[0]));
    });
  }
};

class SoftmaxXentOp final : public graph::Op {
 public:
  std::string type() const override { return "SoftmaxCrossEntropy"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_logits_labels(type(), in);
    return {TensorSpec{Shape{1}, DType::kF32}};
  }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    LT_CHECK(dy[0] == graph::kNoValue, kUnimplemented,
             "SoftmaxCrossEntropy must be the final loss (scaled losses are not supported yet)");
    return {ctx.add(std::make_shared<SoftmaxXentBwdOp>(), {node.inputs[0], node.inputs[1]}, "bwd"),
            graph::kNoValue};
  }
  graph::SavedForBackward saved_for_backward() const override { return {{0, 1}, {}}; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         KernelChoice choice) const override {
    auto fn = choice == KernelChoice::kFast ? kernels::softmax_xent_fwd_fast
                                            : kernels::softmax_xent_fwd_ref;
    const int64_t n = in[0].shape[0], c = in[0].shape[1];
    return make_kernel([fn, n, c](const RunArgs& a) {
      fn(f32(a.inputs[0]), a.inputs[1].i32(), n, c, f32(a.outputs[0]));
    });
  }
};

class Top1CorrectOp final : public graph::Op {
 public:
  std::string type() const override { return "Top1Correct"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_logits_labels(type(), in);
    return {TensorSpec{Shape{1}, DType::kF32}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>, KernelChoice) const override {
    const int64_t n = in[0].shape[0], c = in[0].shape[1];
    return make_kernel([n, c](const RunArgs& a) {
      kernels::sparse_top1_correct(f32(a.inputs[0]), a.inputs[1].i32(), n, c, f32(a.outputs[0]));
    });
  }
};

}  // namespace

OpPtr softmax_cross_entropy() { return std::make_shared<SoftmaxXentOp>(); }
OpPtr top1_correct() { return std::make_shared<Top1CorrectOp>(); }

}  // namespace leantrain::ops

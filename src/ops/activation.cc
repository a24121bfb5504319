// Activations (ReLU, ReLU6, sigmoid, tanh, swish): in place, and backward from the output
// where the derivative allows it, so a conv's output dies at its activation.
#include "kernels/eltwise.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

kernels::Activation to_kernel(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::kRelu:
      return kernels::Activation::kRelu;
    case ActivationKind::kRelu6:
      return kernels::Activation::kRelu6;
    case ActivationKind::kSigmoid:
      return kernels::Activation::kSigmoid;
    case ActivationKind::kTanh:
      return kernels::Activation::kTanh;
    case ActivationKind::kSwish:
      return kernels::Activation::kSwish;
  }
  return kernels::Activation::kRelu;
}

const char* kind_name(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::kRelu:
      return "Relu";
    case ActivationKind::kRelu6:
      return "Relu6";
    case ActivationKind::kSigmoid:
      return "Sigmoid";
    case ActivationKind::kTanh:
      return "Tanh";
    case ActivationKind::kSwish:
      return "Swish";
  }
  return "?";
}

class ActivationBwdOp final : public graph::Op {
 public:
  explicit ActivationBwdOp(ActivationKind kind) : kind_(kind) {}
  std::string type() const override { return std::string(kind_name(kind_)) + "Backward"; }
  // (saved: dst or src, diff_dst) -> diff_src, written over diff_dst when it dies here.
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    return {in[1]};
  }
  int inplace_input() const override { return 1; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const kernels::Activation act = to_kernel(kind_);
    auto fn = options.choice == KernelChoice::kReference ? kernels::activation_bwd_ref
                                                         : kernels::activation_bwd_fast;
    return make_kernel([act, fn](const RunArgs& a) {
      fn(act, f32(a.inputs[0]), f32(a.inputs[1]), f32(a.outputs[0]), a.outputs[0].num_elements());
    });
  }

 private:
  ActivationKind kind_;
};

class ActivationOp final : public graph::Op {
 public:
  explicit ActivationOp(ActivationKind kind) : kind_(kind) {}
  std::string type() const override { return kind_name(kind_); }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    LT_CHECK(in[0].dtype == DType::kF32, kInvalidArgument, type(), ": input must be f32");
    return {in[0]};
  }
  int inplace_input() const override { return 0; }
  bool uses_dst() const { return kernels::activation_grad_uses_dst(to_kernel(kind_)); }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    const graph::ValueId saved = uses_dst() ? node.outputs[0] : node.inputs[0];
    return {ctx.add(std::make_shared<ActivationBwdOp>(kind_), {saved, dy[0]}, "bwd")};
  }
  graph::SavedForBackward saved_for_backward() const override {
    if (uses_dst()) return {{}, {0}};
    return {{0}, {}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const kernels::Activation act = to_kernel(kind_);
    auto fn = options.choice == KernelChoice::kReference ? kernels::activation_fwd_ref
                                                         : kernels::activation_fwd_fast;
    return make_kernel([act, fn](const RunArgs& a) {
      fn(act, f32(a.inputs[0]), f32(a.outputs[0]), a.outputs[0].num_elements());
    });
  }

 private:
  ActivationKind kind_;
};

}  // namespace

bool parse_activation(const std::string& name, ActivationKind* kind) {
  if (name.empty() || name == "linear") return false;
  if (name == "relu") {
    *kind = ActivationKind::kRelu;
  } else if (name == "relu6") {
    *kind = ActivationKind::kRelu6;
  } else if (name == "sigmoid") {
    *kind = ActivationKind::kSigmoid;
  } else if (name == "tanh") {
    *kind = ActivationKind::kTanh;
  } else if (name == "swish" || name == "silu") {
    *kind = ActivationKind::kSwish;
  } else {
    throw Error(ErrorCode::kUnimplemented,
                "activation '" + name +
                    "' is not supported; use relu, relu6, sigmoid, tanh, swish, silu or linear");
  }
  return true;
}

OpPtr activation(ActivationKind kind) { return std::make_shared<ActivationOp>(kind); }

}  // namespace leantrain::ops

// Dense: forward, backward-data and backward-weights ops.
#include "kernels/dense.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

class DenseBwdDataOp final : public graph::Op {
 public:
  std::string type() const override { return "DenseBackwardData"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);  // (diff_dst (N,OUT), kernel (IN,OUT))
    return {TensorSpec{Shape{in[0].shape[0], in[1].shape[0]}, DType::kF32}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    if (options.choice == KernelChoice::kReference) {
      return make_kernel([](const RunArgs& a) {
        kernels::dense_bwd_data_ref(a.inputs[0], a.inputs[1], a.outputs[0]);
      });
    }
    auto k = std::make_shared<kernels::DenseDnnl>(in[0].shape[0], in[1].shape[0], in[1].shape[1],
                                                  false, options.dense);
    return make_kernel(
        [k](const RunArgs& a) {
          k->bwd_data(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.outputs[0]), a.scratch);
        },
        k->bwd_data_scratch_bytes());
  }
};

class DenseBwdWeightsOp final : public graph::Op {
 public:
  explicit DenseBwdWeightsOp(bool has_bias) : has_bias_(has_bias) {}
  std::string type() const override { return "DenseBackwardWeights"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);  // (src (N,IN), diff_dst (N,OUT))
    std::vector<TensorSpec> out{TensorSpec{Shape{in[0].shape[1], in[1].shape[1]}, DType::kF32}};
    if (has_bias_) out.push_back(TensorSpec{Shape{in[1].shape[1]}, DType::kF32});
    return out;
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const bool has_bias = has_bias_;
    if (options.choice == KernelChoice::kReference) {
      return make_kernel([has_bias](const RunArgs& a) {
        kernels::dense_bwd_weights_ref(a.inputs[0], a.inputs[1], a.outputs[0],
                                       has_bias ? a.outputs[1] : TensorView());
      });
    }
    auto k = std::make_shared<kernels::DenseDnnl>(in[0].shape[0], in[0].shape[1], in[1].shape[1],
                                                  has_bias, options.dense);
    return make_kernel(
        [k, has_bias](const RunArgs& a) {
          k->bwd_weights(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.outputs[0]),
                         has_bias ? f32(a.outputs[1]) : nullptr, a.scratch);
        },
        k->bwd_weights_scratch_bytes());
  }

 private:
  bool has_bias_;
};

class DenseOp final : public graph::Op {
 public:
  std::string type() const override { return "Dense"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 3);
    check_f32(type(), "input", in[0], 2);
    check_f32(type(), "kernel", in[1], 2);
    LT_CHECK(in[1].shape[0] == in[0].shape[1], kInvalidArgument, "Dense: kernel ",
             in[1].shape.to_string(), " does not fit input ", in[0].shape.to_string(),
             " (the input's last dimension must equal the kernel's first; add a Flatten?)");
    if (in.size() == 3) {
      check_f32(type(), "bias", in[2], 1);
      LT_CHECK(in[2].shape[0] == in[1].shape[1], kInvalidArgument, "Dense: bias has ",
               in[2].shape[0], " elements, expected ", in[1].shape[1]);
    }
    return {TensorSpec{Shape{in[0].shape[0], in[1].shape[1]}, DType::kF32}};
  }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    const bool has_bias = node.inputs.size() == 3;
    std::vector<graph::ValueId> grads(node.inputs.size(), graph::kNoValue);
    if (ctx.needs_grad(1) || (has_bias && ctx.needs_grad(2))) {
      auto dw = ctx.add_node(std::make_shared<DenseBwdWeightsOp>(has_bias), {node.inputs[0], dy[0]},
                             "bwd_weights");
      grads[1] = dw[0];
      if (has_bias) grads[2] = dw[1];
    }
    if (ctx.needs_grad(0)) {
      grads[0] = ctx.add(std::make_shared<DenseBwdDataOp>(), {dy[0], node.inputs[1]}, "bwd_data");
    }
    return grads;
  }
  graph::SavedForBackward saved_for_backward() const override { return {{0}, {}}; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const bool has_bias = in.size() == 3;
    if (options.choice == KernelChoice::kReference) {
      return make_kernel([has_bias](const RunArgs& a) {
        kernels::dense_fwd_ref(a.inputs[0], a.inputs[1], has_bias ? a.inputs[2] : TensorView(),
                               a.outputs[0]);
      });
    }
    auto k = std::make_shared<kernels::DenseDnnl>(in[0].shape[0], in[0].shape[1], in[1].shape[1],
                                                  has_bias, options.dense);
    return make_kernel(
        [k, has_bias](const RunArgs& a) {
          k->fwd(f32(a.inputs[0]), f32(a.inputs[1]), has_bias ? f32(a.inputs[2]) : nullptr,
                 f32(a.outputs[0]), a.scratch);
        },
        k->fwd_scratch_bytes());
  }
};

}  // namespace

OpPtr dense() { return std::make_shared<DenseOp>(); }

}  // namespace leantrain::ops

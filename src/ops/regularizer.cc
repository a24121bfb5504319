// Keras' L2 weight regularizer as an op: (w) -> l2 * sum(w^2), shape (1) f32, to be added to the
// loss with ops::add(). Backward reads w and writes 2 * l2 * w * d(penalty).
#include <cmath>

#include "kernels/losses.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

void check_weight(const std::string& op, const TensorSpec& w) {
  LT_CHECK(w.dtype == DType::kF32 && w.shape.num_elements() >= 1, kInvalidArgument, op,
           ": the weight must be a non-empty f32 tensor, got ", dtype_name(w.dtype), " ",
           w.shape.to_string());
}

class L2PenaltyBwdOp final : public graph::Op {
 public:
  explicit L2PenaltyBwdOp(float l2) : l2_(l2) {}
  std::string type() const override { return "L2PenaltyBackward"; }
  // (w[, diff_penalty]) -> diff_w.
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 2);
    check_weight(type(), in[0]);
    if (in.size() == 2) {
      LT_CHECK(in[1].dtype == DType::kF32 && in[1].shape.num_elements() == 1, kInternal, type(),
               ": the incoming gradient must be one f32, got ", in[1].shape.to_string());
    }
    return {in[0]};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::l2_penalty_bwd_fast
                                                    : kernels::l2_penalty_bwd_ref;
    const int64_t count = in[0].shape.num_elements();
    const float l2 = l2_;
    return make_kernel([fn, count, l2](const RunArgs& a) {
      const float diff = a.inputs.size() > 1 ? f32(a.inputs[1])[0] : 1.0f;
      fn(f32(a.inputs[0]), count, l2, diff, f32(a.outputs[0]));
    });
  }

 private:
  float l2_;
};

class L2PenaltyOp final : public graph::Op {
 public:
  explicit L2PenaltyOp(float l2) : l2_(l2) {}
  std::string type() const override { return "L2Penalty"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    check_weight(type(), in[0]);
    return {TensorSpec{Shape{1}, DType::kF32}};
  }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    std::vector<graph::ValueId> in = {node.inputs[0]};
    if (dy[0] != graph::kNoValue) in.push_back(dy[0]);
    return {ctx.add(std::make_shared<L2PenaltyBwdOp>(l2_), in, "bwd")};
  }
  graph::SavedForBackward saved_for_backward() const override { return {{0}, {}}; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::l2_penalty_fwd_fast
                                                    : kernels::l2_penalty_fwd_ref;
    const int64_t count = in[0].shape.num_elements();
    const float l2 = l2_;
    return make_kernel(
        [fn, count, l2](const RunArgs& a) { fn(f32(a.inputs[0]), count, l2, f32(a.outputs[0])); });
  }

 private:
  float l2_;
};

}  // namespace

OpPtr l2_penalty(float l2) {
  LT_CHECK(std::isfinite(l2) && l2 >= 0.0f, kInvalidArgument,
           "L2 regularizer: l2 must be a finite non-negative float (Keras' default is 0.01), got ",
           l2);
  return std::make_shared<L2PenaltyOp>(l2);
}

}  // namespace leantrain::ops

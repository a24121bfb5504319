// Optimizer update ops: they write a parameter and its state in place; no outputs.
#include "kernels/optimizers.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

void check_same(const std::string& op, std::span<const TensorSpec> in) {
  for (const TensorSpec& s : in) {
    LT_CHECK(s.shape == in[0].shape && s.dtype == DType::kF32, kInvalidArgument, op,
             ": parameter, gradient and state must be f32 of one shape, got ",
             in[0].shape.to_string(), " and ", s.shape.to_string());
  }
}

class SgdUpdateOp final : public graph::Op {
 public:
  SgdUpdateOp(float momentum, bool nesterov) : momentum_(momentum), nesterov_(nesterov) {}
  std::string type() const override { return "SGDUpdate"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, momentum_ > 0 ? 3 : 2, momentum_ > 0 ? 3 : 2);
    check_same(type(), in);
    return {};
  }
  std::vector<int> mutated_inputs() const override {
    return momentum_ > 0 ? std::vector<int>{0, 2} : std::vector<int>{0};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn =
        options.choice == KernelChoice::kFast ? kernels::sgd_update_fast : kernels::sgd_update_ref;
    const float momentum = momentum_;
    const bool nesterov = nesterov_;
    return make_kernel([fn, momentum, nesterov](const RunArgs& a) {
      const kernels::SgdHyper h{a.state->learning_rate, momentum, nesterov};
      fn(h, f32(a.inputs[0]), f32(a.inputs[1]), a.inputs.size() > 2 ? f32(a.inputs[2]) : nullptr,
         a.inputs[0].num_elements());
    });
  }

 private:
  float momentum_;
  bool nesterov_;
};

class AdamUpdateOp final : public graph::Op {
 public:
  AdamUpdateOp(float beta_1, float beta_2, float epsilon, float weight_decay)
      : beta_1_(beta_1), beta_2_(beta_2), epsilon_(epsilon), weight_decay_(weight_decay) {}
  std::string type() const override { return weight_decay_ > 0 ? "AdamWUpdate" : "AdamUpdate"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 4, 4);
    check_same(type(), in);
    return {};
  }
  std::vector<int> mutated_inputs() const override { return {0, 2, 3}; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::adam_update_fast
                                                    : kernels::adam_update_ref;
    kernels::AdamHyper base;
    base.beta_1 = beta_1_;
    base.beta_2 = beta_2_;
    base.epsilon = epsilon_;
    base.weight_decay = weight_decay_;
    return make_kernel([fn, base](const RunArgs& a) {
      kernels::AdamHyper h = base;
      h.learning_rate = a.state->learning_rate;
      h.step = a.state->iteration;
      fn(h, f32(a.inputs[0]), f32(a.inputs[1]), f32(a.inputs[2]), f32(a.inputs[3]),
         a.inputs[0].num_elements());
    });
  }

 private:
  float beta_1_, beta_2_, epsilon_, weight_decay_;
};

}  // namespace

OpPtr sgd_update(float momentum, bool nesterov) {
  LT_CHECK(momentum >= 0.0f && momentum <= 1.0f, kInvalidArgument,
           "SGD: momentum must be in [0, 1], got ", momentum);
  return std::make_shared<SgdUpdateOp>(momentum, nesterov);
}

OpPtr adam_update(float beta_1, float beta_2, float epsilon, float weight_decay) {
  LT_CHECK(beta_1 >= 0.0f && beta_1 < 1.0f && beta_2 >= 0.0f && beta_2 < 1.0f, kInvalidArgument,
           "Adam: beta_1 and beta_2 must be in [0, 1), got ", beta_1, " and ", beta_2);
  LT_CHECK(epsilon > 0.0f, kInvalidArgument, "Adam: epsilon must be > 0, got ", epsilon);
  LT_CHECK(weight_decay >= 0.0f, kInvalidArgument, "AdamW: weight_decay must be >= 0, got ",
           weight_decay);
  return std::make_shared<AdamUpdateOp>(beta_1, beta_2, epsilon, weight_decay);
}

}  // namespace leantrain::ops

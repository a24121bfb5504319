// Dropout with one keep/drop draw per example (Keras' Dropout with noise_shape=(None, 1, 1, 1):
// EfficientNet's stochastic depth). Memory facts: keeps nothing for backward (the mask is
// regenerated from the seed, the step and the example index); both directions run in place.
#include "kernels/per_example_dropout.h"
#include "leantrain/core/rng.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

// The step's mask seed, mixed as ops::dropout() mixes it (run seed, layer salt, iteration).
uint64_t mask_seed(const RunArgs& a, uint64_t salt) {
  return mix64(a.state->seed ^ mix64(salt ^ mix64(static_cast<uint64_t>(a.state->iteration))));
}

std::unique_ptr<graph::Kernel> per_example_kernel(const TensorSpec& x, float rate, uint64_t salt,
                                                  KernelChoice choice) {
  auto fn = choice == KernelChoice::kFast ? kernels::per_example_dropout_fast
                                          : kernels::per_example_dropout_ref;
  const int64_t examples = x.shape[0];
  const int64_t per_example = x.shape.num_elements() / examples;
  return make_kernel([fn, rate, salt, examples, per_example](const RunArgs& a) {
    fn(mask_seed(a, salt), rate, f32(a.inputs[0]), f32(a.outputs[0]), examples, per_example);
  });
}

// diff_dst -> diff_src with the forward mask.
class PerExampleDropoutBwdOp final : public graph::Op {
 public:
  PerExampleDropoutBwdOp(float rate, uint64_t salt) : rate_(rate), salt_(salt) {}
  std::string type() const override { return "PerExampleDropoutBackward"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    return {in[0]};
  }
  int inplace_input() const override { return 0; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    return per_example_kernel(in[0], rate_, salt_, options.choice);
  }

 private:
  float rate_;
  uint64_t salt_;
};

class PerExampleDropoutOp final : public graph::Op {
 public:
  PerExampleDropoutOp(float rate, uint64_t salt) : rate_(rate), salt_(salt) {}
  std::string type() const override { return "PerExampleDropout"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    LT_CHECK(in[0].dtype == DType::kF32 && in[0].shape.rank() >= 1 && in[0].shape[0] > 0,
             kInvalidArgument,
             "PerExampleDropout: input must be an f32 tensor with a batch dimension, got ",
             dtype_name(in[0].dtype), " ", in[0].shape.to_string());
    return {in[0]};
  }
  int inplace_input() const override { return 0; }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node&,
                                       std::span<const graph::ValueId> dy) const override {
    return {ctx.add(std::make_shared<PerExampleDropoutBwdOp>(rate_, salt_), {dy[0]}, "bwd")};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    return per_example_kernel(in[0], rate_, salt_, options.choice);
  }

 private:
  float rate_;
  uint64_t salt_;
};

}  // namespace

OpPtr per_example_dropout(float rate, uint64_t salt) {
  LT_CHECK(rate >= 0.0f && rate < 1.0f, kInvalidArgument,
           "Dropout(noise_shape=(None, 1, 1, 1)): rate must be in [0, 1), got ", rate);
  return std::make_shared<PerExampleDropoutOp>(rate, salt);
}

}  // namespace leantrain::ops

// Gradient accumulation for micro-batching: dst += alpha * src, dst (a persistent gradient)
// written in place; no outputs.
#include <cmath>

#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

// The reference (and only) kernel: one pass, the compiler vectorizes it. `n` elements.
void accumulate_ref(float alpha, const float* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += alpha * src[i];
}

class AccumulateOp final : public graph::Op {
 public:
  explicit AccumulateOp(float alpha) : alpha_(alpha) {}
  std::string type() const override { return "Accumulate"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    LT_CHECK(in[0].shape == in[1].shape && in[0].dtype == DType::kF32 && in[1].dtype == DType::kF32,
             kInvalidArgument, type(),
             ": the accumulator and the addend must be f32 of one shape, got ",
             dtype_name(in[0].dtype), " ", in[0].shape.to_string(), " and ",
             dtype_name(in[1].dtype), " ", in[1].shape.to_string());
    return {};
  }
  std::vector<int> mutated_inputs() const override { return {0}; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions&) const override {
    const float alpha = alpha_;
    return make_kernel([alpha](const RunArgs& a) {
      accumulate_ref(alpha, static_cast<const float*>(a.inputs[1].data), f32(a.inputs[0]),
                     a.inputs[0].num_elements());
    });
  }

 private:
  float alpha_;
};

}  // namespace

OpPtr accumulate(float alpha) {
  LT_CHECK(std::isfinite(alpha), kInvalidArgument, "Accumulate: alpha must be finite, got ", alpha);
  return std::make_shared<AccumulateOp>(alpha);
}

}  // namespace leantrain::ops

// CastToBF16 and CastToF32: shape-preserving element-type casts without a gradient.
#include "ops/cast.h"

#include <cstdint>

#include "kernels/cast.h"
#include "ops/op_util.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::RunArgs;
using graph::TensorSpec;

class CastOp final : public graph::Op {
 public:
  CastOp(DType from, DType to) : from_(from), to_(to) {}
  std::string type() const override { return to_ == DType::kBF16 ? "CastToBF16" : "CastToF32"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    LT_CHECK(in[0].dtype == from_, kInvalidArgument, type(), ": input must be ", dtype_name(from_),
             ", got ", dtype_name(in[0].dtype), " ", in[0].shape.to_string());
    return {TensorSpec{in[0].shape, to_}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         KernelChoice choice) const override {
    const bool fast = choice == KernelChoice::kFast;
    if (to_ == DType::kBF16) {
      auto fn = fast ? kernels::f32_to_bf16_fast : kernels::f32_to_bf16_ref;
      return make_kernel([fn](const RunArgs& a) {
        fn(f32(a.inputs[0]), static_cast<uint16_t*>(a.outputs[0].data),
           a.outputs[0].num_elements());
      });
    }
    auto fn = fast ? kernels::bf16_to_f32_fast : kernels::bf16_to_f32_ref;
    return make_kernel([fn](const RunArgs& a) {
      fn(static_cast<const uint16_t*>(a.inputs[0].data), f32(a.outputs[0]),
         a.outputs[0].num_elements());
    });
  }

 private:
  DType from_;
  DType to_;
};

}  // namespace

std::shared_ptr<const graph::Op> cast_to_bf16() {
  static const auto op = std::make_shared<CastOp>(DType::kF32, DType::kBF16);
  return op;
}

std::shared_ptr<const graph::Op> cast_to_f32() {
  static const auto op = std::make_shared<CastOp>(DType::kBF16, DType::kF32);
  return op;
}

}  // namespace leantrain::ops

// CastToBF16 and CastToF32 (and their per-channel centered forms): shape-preserving
// element-type casts without a gradient.
#include "ops/cast.h"

#include <cstdint>

#include "kernels/cast.h"
#include "ops/op_util.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

class CastOp final : public graph::Op {
 public:
  // `centered`: a second input, a per-channel mean (last axis) subtracted before the cast to
  // bf16 and added back after the cast to f32.
  CastOp(DType from, DType to, bool centered) : from_(from), to_(to), centered_(centered) {}
  std::string type() const override {
    return std::string(to_ == DType::kBF16 ? "CastToBF16" : "CastToF32") +
           (centered_ ? "Centered" : "");
  }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, centered_ ? 2 : 1, centered_ ? 2 : 1);
    LT_CHECK(in[0].dtype == from_, kInvalidArgument, type(), ": input must be ", dtype_name(from_),
             ", got ", dtype_name(in[0].dtype), " ", in[0].shape.to_string());
    if (centered_) {
      LT_CHECK(in[0].shape.rank() >= 1 && in[1].dtype == DType::kF32 &&
                   in[1].shape == Shape{in[0].shape.dim(-1)},
               kInvalidArgument, type(), ": the mean must be f32 of shape (channels,) = (",
               in[0].shape.rank() >= 1 ? in[0].shape.dim(-1) : 0, ",), got ",
               dtype_name(in[1].dtype), " ", in[1].shape.to_string());
    }
    return {TensorSpec{in[0].shape, to_}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const bool fast = options.choice == KernelChoice::kFast;
    if (centered_) {
      const int64_t channels = in[0].shape.dim(-1);
      const int64_t rows = channels > 0 ? in[0].shape.num_elements() / channels : 0;
      if (to_ == DType::kBF16) {
        auto fn = fast ? kernels::f32_centered_to_bf16_fast : kernels::f32_centered_to_bf16_ref;
        return make_kernel([fn, rows, channels](const RunArgs& a) {
          fn(f32(a.inputs[0]), f32(a.inputs[1]), static_cast<uint16_t*>(a.outputs[0].data), rows,
             channels);
        });
      }
      auto fn = fast ? kernels::bf16_centered_to_f32_fast : kernels::bf16_centered_to_f32_ref;
      return make_kernel([fn, rows, channels](const RunArgs& a) {
        fn(static_cast<const uint16_t*>(a.inputs[0].data), f32(a.inputs[1]), f32(a.outputs[0]),
           rows, channels);
      });
    }
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
  bool centered_;
};

}  // namespace

std::shared_ptr<const graph::Op> cast_to_bf16() {
  static const auto op = std::make_shared<CastOp>(DType::kF32, DType::kBF16, false);
  return op;
}

std::shared_ptr<const graph::Op> cast_to_f32() {
  static const auto op = std::make_shared<CastOp>(DType::kBF16, DType::kF32, false);
  return op;
}

std::shared_ptr<const graph::Op> cast_to_bf16_centered() {
  static const auto op = std::make_shared<CastOp>(DType::kF32, DType::kBF16, true);
  return op;
}

std::shared_ptr<const graph::Op> cast_to_f32_centered() {
  static const auto op = std::make_shared<CastOp>(DType::kBF16, DType::kF32, true);
  return op;
}

}  // namespace leantrain::ops

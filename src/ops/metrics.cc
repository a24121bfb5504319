// Accuracy counts for Keras' metrics (sparse top-k, categorical and binary accuracy): each
// outputs a count of shape (1) f32 that the host reads and divides. Metrics have no gradient
// (Op's default gradient rule throws Error(kUnimplemented)); they read the prediction only in
// the forward pass, so they keep nothing for backward.
#include <cmath>

#include "kernels/metrics.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

class TopKCorrectOp final : public graph::Op {
 public:
  explicit TopKCorrectOp(int64_t k) : k_(k) {}
  std::string type() const override { return "TopKCorrect"; }
  // (pred (N, C) f32, labels (N) i32) -> (1).
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    check_f32(type(), "prediction", in[0], 2);
    LT_CHECK(in[1].dtype == DType::kI32 && in[1].shape == Shape{in[0].shape[0]}, kInvalidArgument,
             type(), ": labels must be i32 of shape (", in[0].shape[0], ",), got ",
             dtype_name(in[1].dtype), " ", in[1].shape.to_string());
    LT_CHECK(in[0].shape[1] >= 1, kInvalidArgument, type(), ": prediction needs a class, got ",
             in[0].shape.to_string());
    return {TensorSpec{Shape{1}, DType::kF32}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::top_k_correct_fast
                                                    : kernels::top_k_correct_ref;
    const int64_t n = in[0].shape[0], c = in[0].shape[1], k = k_;
    return make_kernel([fn, n, c, k](const RunArgs& a) {
      fn(f32(a.inputs[0]), a.inputs[1].i32(), n, c, k, f32(a.outputs[0]));
    });
  }

 private:
  int64_t k_;
};

class CategoricalTop1CorrectOp final : public graph::Op {
 public:
  std::string type() const override { return "CategoricalTop1Correct"; }
  // (pred (N, C) f32, target (N, C) f32) -> (1).
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    check_f32(type(), "prediction", in[0], 2);
    LT_CHECK(in[1].dtype == DType::kF32 && in[1].shape == in[0].shape && in[0].shape[1] >= 1,
             kInvalidArgument, type(), ": target must be f32 of the prediction's shape ",
             in[0].shape.to_string(), ", got ", dtype_name(in[1].dtype), " ",
             in[1].shape.to_string(), " (for integer labels use top_k_correct(1))");
    return {TensorSpec{Shape{1}, DType::kF32}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::categorical_top1_correct_fast
                                                    : kernels::categorical_top1_correct_ref;
    const int64_t n = in[0].shape[0], c = in[0].shape[1];
    return make_kernel([fn, n, c](const RunArgs& a) {
      fn(f32(a.inputs[0]), f32(a.inputs[1]), n, c, f32(a.outputs[0]));
    });
  }
};

class BinaryCorrectOp final : public graph::Op {
 public:
  explicit BinaryCorrectOp(float threshold) : threshold_(threshold) {}
  std::string type() const override { return "BinaryCorrect"; }
  // (pred, target) of one shape, f32 -> (1).
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    LT_CHECK(in[0].dtype == DType::kF32 && in[1].dtype == DType::kF32 &&
                 in[0].shape == in[1].shape && in[0].shape.rank() >= 1,
             kInvalidArgument, type(),
             ": prediction and target must be f32 tensors of one shape, got ",
             dtype_name(in[0].dtype), " ", in[0].shape.to_string(), " and ",
             dtype_name(in[1].dtype), " ", in[1].shape.to_string());
    return {TensorSpec{Shape{1}, DType::kF32}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::binary_correct_fast
                                                    : kernels::binary_correct_ref;
    const int64_t count = in[0].shape.num_elements();
    const float threshold = threshold_;
    return make_kernel([fn, count, threshold](const RunArgs& a) {
      fn(f32(a.inputs[0]), f32(a.inputs[1]), count, threshold, f32(a.outputs[0]));
    });
  }

 private:
  float threshold_;
};

}  // namespace

OpPtr top_k_correct(int k) {
  LT_CHECK(k >= 1, kInvalidArgument, "top-k accuracy: k must be >= 1 (Keras' default is 5), got ",
           k);
  return std::make_shared<TopKCorrectOp>(k);
}
OpPtr categorical_top1_correct() { return std::make_shared<CategoricalTop1CorrectOp>(); }
OpPtr binary_correct(float threshold) {
  LT_CHECK(std::isfinite(threshold), kInvalidArgument,
           "binary accuracy: threshold must be finite (Keras' default is 0.5; 0 for logits), got ",
           threshold);
  return std::make_shared<BinaryCorrectOp>(threshold);
}

}  // namespace leantrain::ops

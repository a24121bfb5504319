// Add, Reshape (a view) and Dropout (mask regenerated in backward, nothing kept).
#include <algorithm>
#include <cstring>

#include "kernels/dropout.h"
#include "kernels/eltwise.h"
#include "leantrain/core/rng.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

// Fills its one output with a constant (no inputs): the seed gradient d loss / d loss = 1 when
// a sum is itself the loss.
class FillOp final : public graph::Op {
 public:
  FillOp(TensorSpec spec, float value) : spec_(spec), value_(value) {}
  std::string type() const override { return "Fill"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 0, 0);
    return {spec_};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions&) const override {
    const float value = value_;
    return make_kernel([value](const RunArgs& a) {
      std::fill(f32(a.outputs[0]), f32(a.outputs[0]) + a.outputs[0].num_elements(), value);
    });
  }

 private:
  TensorSpec spec_;
  float value_;
};

class AddOp final : public graph::Op {
 public:
  std::string type() const override { return "Add"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    LT_CHECK(in[0].shape == in[1].shape && in[0].dtype == DType::kF32 && in[1].dtype == DType::kF32,
             kInvalidArgument, "Add: inputs must be f32 of one shape, got ",
             in[0].shape.to_string(), " and ", in[1].shape.to_string());
    return {in[0]};
  }
  int inplace_input() const override { return 0; }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    if (dy[0] != graph::kNoValue) return {dy[0], dy[0]};
    // The sum is the loss: autodiff seeds it with "1" (kNoValue), which cannot pass through to
    // two inputs that are not themselves the loss; give them a real tensor of ones.
    const TensorSpec spec = ctx.graph().value(node.outputs[0]).spec;
    const graph::ValueId ones = ctx.add(std::make_shared<FillOp>(spec, 1.0f), {}, "seed");
    return {ones, ones};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::add_fast : kernels::add_ref;
    return make_kernel([fn](const RunArgs& a) {
      fn(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.outputs[0]), a.outputs[0].num_elements());
    });
  }
};

class CopyOp final : public graph::Op {
 public:
  std::string type() const override { return "Copy"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    return {in[0]};
  }
  std::vector<graph::ValueId> gradient(graph::GradContext&, const graph::Node&,
                                       std::span<const graph::ValueId> dy) const override {
    return {dy[0]};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions&) const override {
    return make_kernel([](const RunArgs& a) {
      std::memcpy(a.outputs[0].data, a.inputs[0].data, static_cast<size_t>(a.outputs[0].bytes()));
    });
  }
};

class ReshapeOp final : public graph::Op {
 public:
  explicit ReshapeOp(Shape shape) : shape_(shape) {}
  std::string type() const override { return "Reshape"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    const Shape& s = in[0].shape;
    LT_CHECK(s.rank() >= 1, kInvalidArgument, "Reshape: input needs a batch dimension");
    std::vector<int64_t> dims{s[0]};
    for (int64_t d : shape_.dims()) dims.push_back(d);
    Shape out(dims);
    LT_CHECK(out.num_elements() == s.num_elements(), kInvalidArgument, "Reshape: cannot view ",
             s.to_string(), " as ", out.to_string());
    return {TensorSpec{out, in[0].dtype}};
  }
  bool aliases_input() const override { return true; }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    const Shape src = ctx.graph().value(node.inputs[0]).spec.shape;
    std::vector<int64_t> rest(src.dims().begin() + 1, src.dims().end());
    return {ctx.add(std::make_shared<ReshapeOp>(Shape(rest)), {dy[0]}, "bwd")};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions&) const override {
    return make_kernel([](const RunArgs&) {});  // a view: the planner gave it the same bytes
  }

 private:
  Shape shape_;
};

uint64_t dropout_seed(const RunArgs& a, uint64_t salt) {
  return mix64(a.state->seed ^ mix64(salt ^ mix64(static_cast<uint64_t>(a.state->iteration))));
}

class DropoutBwdOp final : public graph::Op {
 public:
  DropoutBwdOp(float rate, uint64_t salt) : rate_(rate), salt_(salt) {}
  std::string type() const override { return "DropoutBackward"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    return {in[0]};
  }
  int inplace_input() const override { return 0; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::dropout_bwd_fast
                                                    : kernels::dropout_bwd_ref;
    const float rate = rate_;
    const uint64_t salt = salt_;
    return make_kernel([fn, rate, salt](const RunArgs& a) {
      fn(dropout_seed(a, salt), rate, f32(a.inputs[0]), f32(a.outputs[0]),
         a.outputs[0].num_elements());
    });
  }

 private:
  float rate_;
  uint64_t salt_;
};

class DropoutOp final : public graph::Op {
 public:
  DropoutOp(float rate, uint64_t salt) : rate_(rate), salt_(salt) {}
  std::string type() const override { return "Dropout"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    LT_CHECK(in[0].dtype == DType::kF32, kInvalidArgument, "Dropout: input must be f32");
    return {in[0]};
  }
  int inplace_input() const override { return 0; }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node&,
                                       std::span<const graph::ValueId> dy) const override {
    return {ctx.add(std::make_shared<DropoutBwdOp>(rate_, salt_), {dy[0]}, "bwd")};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::dropout_fwd_fast
                                                    : kernels::dropout_fwd_ref;
    const float rate = rate_;
    const uint64_t salt = salt_;
    return make_kernel([fn, rate, salt](const RunArgs& a) {
      fn(dropout_seed(a, salt), rate, f32(a.inputs[0]), f32(a.outputs[0]),
         a.outputs[0].num_elements());
    });
  }

 private:
  float rate_;
  uint64_t salt_;
};

}  // namespace

OpPtr add() { return std::make_shared<AddOp>(); }
OpPtr copy() { return std::make_shared<CopyOp>(); }
OpPtr reshape(const Shape& shape_without_batch) {
  return std::make_shared<ReshapeOp>(shape_without_batch);
}
OpPtr dropout(float rate, uint64_t salt) {
  LT_CHECK(rate >= 0.0f && rate < 1.0f, kInvalidArgument, "Dropout: rate must be in [0, 1), got ",
           rate);
  return std::make_shared<DropoutOp>(rate, salt);
}

}  // namespace leantrain::ops

// MaxPooling2D, AveragePooling2D and GlobalAveragePooling2D with their backward ops.
#include "kernels/pooling.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;
using kernels::Window2D;

Window2D pool_window(const PoolAttrs& a, const Shape& src) {
  Window2D w;
  w.kernel_h = a.pool_h;
  w.kernel_w = a.pool_w;
  w.stride_h = a.stride_h;
  w.stride_w = a.stride_w;
  if (a.padding == Padding::kSame) {
    kernels::same_padding(src[1], a.pool_h, a.stride_h, 1, &w.pad_top, &w.pad_bottom);
    kernels::same_padding(src[2], a.pool_w, a.stride_w, 1, &w.pad_left, &w.pad_right);
  }
  return w;
}

class PoolBwdOp final : public graph::Op {
 public:
  PoolBwdOp(PoolAttrs attrs, bool max, Shape src_shape)
      : attrs_(attrs), max_(max), src_shape_(src_shape) {}
  std::string type() const override {
    return max_ ? "MaxPooling2DBackward" : "AveragePooling2DBackward";
  }
  // Max: (src, diff_dst); average: (diff_dst) -> diff_src.
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, max_ ? 2 : 1, max_ ? 2 : 1);
    return {TensorSpec{src_shape_, DType::kF32}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const Window2D w = pool_window(attrs_, src_shape_);
    const bool fast = options.choice == KernelChoice::kFast;
    if (max_) {
      auto fn = fast ? kernels::max_pool_bwd_fast : kernels::max_pool_bwd_ref;
      return make_kernel(
          [w, fn](const RunArgs& a) { fn(w, a.inputs[0], a.inputs[1], a.outputs[0]); });
    }
    auto fn = fast ? kernels::avg_pool_bwd_fast : kernels::avg_pool_bwd_ref;
    return make_kernel([w, fn](const RunArgs& a) { fn(w, a.inputs[0], a.outputs[0]); });
  }

 private:
  PoolAttrs attrs_;
  bool max_;
  Shape src_shape_;
};

class PoolOp final : public graph::Op {
 public:
  PoolOp(PoolAttrs attrs, bool max) : attrs_(attrs), max_(max) {}
  std::string type() const override { return max_ ? "MaxPooling2D" : "AveragePooling2D"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    check_f32(type(), "input", in[0], 4);
    const Shape& s = in[0].shape;
    const bool same = attrs_.padding == Padding::kSame;
    return {TensorSpec{
        Shape{s[0], kernels::conv_output_size(s[1], attrs_.pool_h, attrs_.stride_h, 1, same),
              kernels::conv_output_size(s[2], attrs_.pool_w, attrs_.stride_w, 1, same), s[3]},
        DType::kF32}};
  }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    const Shape src = ctx.graph().value(node.inputs[0]).spec.shape;
    auto op = std::make_shared<PoolBwdOp>(attrs_, max_, src);
    if (max_) return {ctx.add(op, {node.inputs[0], dy[0]}, "bwd")};
    return {ctx.add(op, {dy[0]}, "bwd")};
  }
  graph::SavedForBackward saved_for_backward() const override {
    if (max_) return {{0}, {}};
    return {};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const Window2D w = pool_window(attrs_, in[0].shape);
    const bool fast = options.choice == KernelChoice::kFast;
    auto fn = max_ ? (fast ? kernels::max_pool_fwd_fast : kernels::max_pool_fwd_ref)
                   : (fast ? kernels::avg_pool_fwd_fast : kernels::avg_pool_fwd_ref);
    return make_kernel([w, fn](const RunArgs& a) { fn(w, a.inputs[0], a.outputs[0]); });
  }

 private:
  PoolAttrs attrs_;
  bool max_;
};

class GlobalAvgPoolBwdOp final : public graph::Op {
 public:
  explicit GlobalAvgPoolBwdOp(Shape src_shape) : src_shape_(src_shape) {}
  std::string type() const override { return "GlobalAveragePooling2DBackward"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    return {TensorSpec{src_shape_, DType::kF32}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::global_avg_pool_bwd_fast
                                                    : kernels::global_avg_pool_bwd_ref;
    return make_kernel([fn](const RunArgs& a) { fn(a.inputs[0], a.outputs[0]); });
  }

 private:
  Shape src_shape_;
};

class GlobalAvgPoolOp final : public graph::Op {
 public:
  std::string type() const override { return "GlobalAveragePooling2D"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    check_f32(type(), "input", in[0], 4);
    return {TensorSpec{Shape{in[0].shape[0], in[0].shape[3]}, DType::kF32}};
  }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    const Shape src = ctx.graph().value(node.inputs[0]).spec.shape;
    return {ctx.add(std::make_shared<GlobalAvgPoolBwdOp>(src), {dy[0]}, "bwd")};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::global_avg_pool_fwd_fast
                                                    : kernels::global_avg_pool_fwd_ref;
    return make_kernel([fn](const RunArgs& a) { fn(a.inputs[0], a.outputs[0]); });
  }
};

void check_pool(const PoolAttrs& a, const char* op) {
  LT_CHECK(a.pool_h > 0 && a.pool_w > 0 && a.stride_h > 0 && a.stride_w > 0, kInvalidArgument, op,
           ": pool_size and strides must be positive");
}

}  // namespace

OpPtr max_pool(const PoolAttrs& attrs) {
  check_pool(attrs, "MaxPooling2D");
  return std::make_shared<PoolOp>(attrs, true);
}
OpPtr avg_pool(const PoolAttrs& attrs) {
  check_pool(attrs, "AveragePooling2D");
  return std::make_shared<PoolOp>(attrs, false);
}
OpPtr global_avg_pool() { return std::make_shared<GlobalAvgPoolOp>(); }

}  // namespace leantrain::ops

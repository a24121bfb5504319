// Resizing(interpolation="bilinear", crop_to_aspect_ratio=False) and its backward. Bilinear
// weights depend only on the shapes, so backward keeps nothing of the forward pass.
#include "kernels/resize.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

// diff_dst (N, OH, OW, C) -> diff_src (N, H, W, C).
class ResizeBwdOp final : public graph::Op {
 public:
  explicit ResizeBwdOp(Shape src_shape) : src_shape_(src_shape) {}
  std::string type() const override { return "ResizingBackward"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    return {TensorSpec{src_shape_, DType::kF32}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::resize_bilinear_bwd_fast
                                                    : kernels::resize_bilinear_bwd_ref;
    return make_kernel([fn](const RunArgs& a) { fn(a.inputs[0], a.outputs[0]); });
  }

 private:
  Shape src_shape_;
};

class ResizeOp final : public graph::Op {
 public:
  ResizeOp(int64_t out_h, int64_t out_w) : out_h_(out_h), out_w_(out_w) {}
  std::string type() const override { return "Resizing"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    check_f32(type(), "input", in[0], 4);
    const Shape& s = in[0].shape;
    LT_CHECK(s[1] >= 1 && s[2] >= 1 && s[3] >= 1, kInvalidArgument, "Resizing: input ",
             s.to_string(), " has an empty image");
    return {TensorSpec{Shape{s[0], out_h_, out_w_, s[3]}, DType::kF32}};
  }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    const Shape src = ctx.graph().value(node.inputs[0]).spec.shape;
    return {ctx.add(std::make_shared<ResizeBwdOp>(src), {dy[0]}, "bwd")};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::resize_bilinear_fwd_fast
                                                    : kernels::resize_bilinear_fwd_ref;
    return make_kernel([fn](const RunArgs& a) { fn(a.inputs[0], a.outputs[0]); });
  }

 private:
  int64_t out_h_, out_w_;
};

}  // namespace

OpPtr resize_bilinear(int64_t out_h, int64_t out_w) {
  LT_CHECK(out_h >= 1 && out_w >= 1, kInvalidArgument,
           "Resizing: height and width must be >= 1, got (", out_h, ", ", out_w, ")");
  return std::make_shared<ResizeOp>(out_h, out_w);
}

}  // namespace leantrain::ops

// ZeroPadding2D and Concatenate(axis=-1), with their backward ops (crop and split). None of them
// keeps anything for backward: the gradients are pure data movement of the output gradient. Both
// backward ops may write their (first) output over the incoming gradient (in place).
#include <utility>

#include "kernels/shape_ops.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;
using kernels::Pad2D;

// ZeroPadding2D's backward: diff_dst (N, H+t+b, W+l+r, C) -> diff_src (N, H, W, C).
class CropOp final : public graph::Op {
 public:
  CropOp(Pad2D pad, Shape src_shape) : pad_(pad), src_shape_(src_shape) {}
  std::string type() const override { return "ZeroPadding2DBackward"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    return {TensorSpec{src_shape_, DType::kF32}};
  }
  int inplace_input() const override { return 0; }  // crop2d_* run in place (shape_ops.h)
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::crop2d_fast : kernels::crop2d_ref;
    const Pad2D pad = pad_;
    return make_kernel([fn, pad](const RunArgs& a) { fn(pad, a.inputs[0], a.outputs[0]); });
  }

 private:
  Pad2D pad_;
  Shape src_shape_;
};

class ZeroPadOp final : public graph::Op {
 public:
  explicit ZeroPadOp(Pad2D pad) : pad_(pad) {}
  std::string type() const override { return "ZeroPadding2D"; }
  const Pad2D& pad() const { return pad_; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    check_f32(type(), "input", in[0], 4);
    const Shape& s = in[0].shape;
    return {
        TensorSpec{Shape{s[0], s[1] + pad_.top + pad_.bottom, s[2] + pad_.left + pad_.right, s[3]},
                   DType::kF32}};
  }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    const Shape src = ctx.graph().value(node.inputs[0]).spec.shape;
    return {ctx.add(std::make_shared<CropOp>(pad_, src), {dy[0]}, "bwd")};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn =
        options.choice == KernelChoice::kFast ? kernels::zero_pad2d_fast : kernels::zero_pad2d_ref;
    const Pad2D pad = pad_;
    return make_kernel([fn, pad](const RunArgs& a) { fn(pad, a.inputs[0], a.outputs[0]); });
  }

 private:
  Pad2D pad_;
};

// Concatenate's backward: diff_dst (..., C) -> one output per input that needs a gradient,
// (..., C_i) holding channels [offsets[i], offsets[i] + C_i).
class SplitOp final : public graph::Op {
 public:
  SplitOp(std::vector<Shape> shapes, std::vector<int64_t> offsets)
      : shapes_(std::move(shapes)), offsets_(std::move(offsets)) {}
  std::string type() const override { return "ConcatenateBackward"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 1, 1);
    std::vector<TensorSpec> out;
    for (const Shape& s : shapes_) out.push_back(TensorSpec{s, DType::kF32});
    return out;
  }
  int inplace_input() const override { return 0; }  // split_last_* run in place (shape_ops.h)
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn =
        options.choice == KernelChoice::kFast ? kernels::split_last_fast : kernels::split_last_ref;
    return make_kernel(
        [fn, offsets = offsets_](const RunArgs& a) { fn(a.inputs[0], offsets, a.outputs); });
  }

 private:
  std::vector<Shape> shapes_;
  std::vector<int64_t> offsets_;
};

class ConcatOp final : public graph::Op {
 public:
  explicit ConcatOp(int n) : n_(n) {}
  std::string type() const override { return "Concatenate"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, static_cast<size_t>(n_), static_cast<size_t>(n_));
    const Shape& first = in[0].shape;
    LT_CHECK(first.rank() >= 2, kInvalidArgument,
             "Concatenate: inputs need a batch axis and a channel axis, got ", first.to_string());
    Shape out = first;
    out[out.rank() - 1] = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      check_f32(type(), "every input", in[i], first.rank());
      bool leading_equal = true;
      for (int d = 0; d + 1 < first.rank(); ++d) leading_equal &= in[i].shape[d] == first[d];
      LT_CHECK(leading_equal, kInvalidArgument,
               "Concatenate(axis=-1): inputs must agree in every dimension but the last; input ", i,
               " is ", in[i].shape.to_string(), ", input 0 is ", first.to_string());
      out[out.rank() - 1] += in[i].shape.dim(-1);
    }
    return {TensorSpec{out, DType::kF32}};
  }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    // Only the inputs that need a gradient get a slice: no buffer for a gradient nobody reads.
    std::vector<Shape> shapes;
    std::vector<int64_t> offsets;
    std::vector<int> parts;
    int64_t offset = 0;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const Shape s = ctx.graph().value(node.inputs[i]).spec.shape;
      if (ctx.needs_grad(static_cast<int>(i))) {
        shapes.push_back(s);
        offsets.push_back(offset);
        parts.push_back(static_cast<int>(i));
      }
      offset += s.dim(-1);
    }
    std::vector<graph::ValueId> grads(node.inputs.size(), graph::kNoValue);
    if (parts.empty()) return grads;
    const std::vector<graph::ValueId> slices =
        ctx.add_node(std::make_shared<SplitOp>(shapes, offsets), {dy[0]}, "bwd");
    for (size_t k = 0; k < parts.size(); ++k) grads[static_cast<size_t>(parts[k])] = slices[k];
    return grads;
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::concat_last_fast
                                                    : kernels::concat_last_ref;
    return make_kernel([fn](const RunArgs& a) { fn(a.inputs, a.outputs[0]); });
  }

 private:
  int n_;
};

}  // namespace

bool zero_pad2d_amounts(const graph::Op& op, Padding2D* pad) {
  const auto* zero_pad = dynamic_cast<const ZeroPadOp*>(&op);
  if (zero_pad == nullptr) return false;
  const Pad2D& p = zero_pad->pad();
  *pad = {.top = p.top, .bottom = p.bottom, .left = p.left, .right = p.right};
  return true;
}

OpPtr zero_pad2d(int64_t top, int64_t bottom, int64_t left, int64_t right) {
  LT_CHECK(top >= 0 && bottom >= 0 && left >= 0 && right >= 0, kInvalidArgument,
           "ZeroPadding2D: padding ((", top, ", ", bottom, "), (", left, ", ", right,
           ")) must not be negative");
  return std::make_shared<ZeroPadOp>(Pad2D{top, bottom, left, right});
}

OpPtr concat(int n) {
  LT_CHECK(n >= 2, kInvalidArgument, "Concatenate needs at least 2 inputs, got ", n);
  return std::make_shared<ConcatOp>(n);
}

}  // namespace leantrain::ops

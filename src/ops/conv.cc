// Conv2D (optionally grouped) and DepthwiseConv2D: forward, backward-data and backward-weights
// ops.
#include <algorithm>
#include <cctype>

#include "kernels/conv2d.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;
using kernels::Window2D;

Window2D make_window(const ConvAttrs& a, const Shape& src) {
  Window2D w;
  w.kernel_h = a.kernel_h;
  w.kernel_w = a.kernel_w;
  w.stride_h = a.stride_h;
  w.stride_w = a.stride_w;
  w.dilation_h = a.dilation_h;
  w.dilation_w = a.dilation_w;
  if (a.padding == Padding::kSame) {
    kernels::same_padding(src[1], a.kernel_h, a.stride_h, a.dilation_h, &w.pad_top, &w.pad_bottom);
    kernels::same_padding(src[2], a.kernel_w, a.stride_w, a.dilation_w, &w.pad_left, &w.pad_right);
  } else {
    w.pad_top = a.pad_top;
    w.pad_bottom = a.pad_bottom;
    w.pad_left = a.pad_left;
    w.pad_right = a.pad_right;
  }
  return w;
}

Shape conv_dst_shape(const ConvAttrs& a, const Shape& src, int64_t out_channels) {
  const bool same = a.padding == Padding::kSame;
  return Shape{src[0],
               kernels::conv_output_size(src[1] + a.pad_top + a.pad_bottom, a.kernel_h, a.stride_h,
                                         a.dilation_h, same),
               kernels::conv_output_size(src[2] + a.pad_left + a.pad_right, a.kernel_w, a.stride_w,
                                         a.dilation_w, same),
               out_channels};
}

const char* conv_name(bool depthwise) { return depthwise ? "DepthwiseConv2D" : "Conv2D"; }

class ConvBwdDataOp final : public graph::Op {
 public:
  ConvBwdDataOp(ConvAttrs attrs, bool depthwise, Shape src_shape)
      : attrs_(attrs), depthwise_(depthwise), src_shape_(src_shape) {}
  std::string type() const override { return std::string(conv_name(depthwise_)) + "BackwardData"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    return {TensorSpec{src_shape_, DType::kF32}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec> out,
                                         const KernelOptions& options) const override {
    const Window2D w = make_window(attrs_, src_shape_);
    const int64_t groups = attrs_.groups;
    if (options.choice == KernelChoice::kReference) {
      const bool dw = depthwise_;
      return make_kernel([w, dw, groups](const RunArgs& a) {
        if (dw) {
          kernels::depthwise_bwd_data_ref(w, a.inputs[0], a.inputs[1], a.outputs[0]);
        } else {
          kernels::conv2d_bwd_data_ref(w, a.inputs[0], a.inputs[1], a.outputs[0], groups);
        }
      });
    }
    auto k = std::make_shared<kernels::ConvBwdDataDnnl>(
        w, kernels::ConvShapes{out[0].shape, in[1].shape, in[0].shape, false, depthwise_, groups},
        options.conv_weights);
    const int64_t scratch = k->scratch_bytes();
    return make_kernel(
        [k](const RunArgs& a) {
          k->run(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.outputs[0]), a.scratch);
        },
        scratch);
  }

 private:
  ConvAttrs attrs_;
  bool depthwise_;
  Shape src_shape_;
};

class ConvBwdWeightsOp final : public graph::Op {
 public:
  ConvBwdWeightsOp(ConvAttrs attrs, bool depthwise, Shape weights_shape, bool has_bias)
      : attrs_(attrs), depthwise_(depthwise), weights_shape_(weights_shape), has_bias_(has_bias) {}
  std::string type() const override {
    return std::string(conv_name(depthwise_)) + "BackwardWeights";
  }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    std::vector<TensorSpec> out{TensorSpec{weights_shape_, DType::kF32}};
    if (has_bias_) out.push_back(TensorSpec{Shape{in[1].shape[3]}, DType::kF32});
    return out;
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const Window2D w = make_window(attrs_, in[0].shape);
    const bool has_bias = has_bias_;
    const int64_t groups = attrs_.groups;
    if (options.choice == KernelChoice::kReference) {
      const bool dw = depthwise_;
      return make_kernel([w, dw, has_bias, groups](const RunArgs& a) {
        const TensorView bias = has_bias ? a.outputs[1] : TensorView();
        if (dw) {
          kernels::depthwise_bwd_weights_ref(w, a.inputs[0], a.inputs[1], a.outputs[0], bias);
        } else {
          kernels::conv2d_bwd_weights_ref(w, a.inputs[0], a.inputs[1], a.outputs[0], bias, groups);
        }
      });
    }
    auto k = std::make_shared<kernels::ConvBwdWeightsDnnl>(
        w,
        kernels::ConvShapes{in[0].shape, weights_shape_, in[1].shape, has_bias, depthwise_, groups},
        options.conv_weights);
    const int64_t scratch = k->scratch_bytes();
    return make_kernel(
        [k, has_bias](const RunArgs& a) {
          k->run(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.outputs[0]),
                 has_bias ? f32(a.outputs[1]) : nullptr, a.scratch);
        },
        scratch);
  }

 private:
  ConvAttrs attrs_;
  bool depthwise_;
  Shape weights_shape_;
  bool has_bias_;
};

class ConvOp final : public graph::Op {
 public:
  ConvOp(ConvAttrs attrs, bool depthwise) : attrs_(attrs), depthwise_(depthwise) {}
  std::string type() const override { return conv_name(depthwise_); }
  const ConvAttrs& attrs() const { return attrs_; }
  bool depthwise() const { return depthwise_; }

  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 3);
    check_f32(type(), "input", in[0], 4);
    check_f32(type(), "kernel", in[1], 4);
    const Shape& src = in[0].shape;
    const Shape& k = in[1].shape;
    const int64_t groups = attrs_.groups;
    LT_CHECK(src[3] % groups == 0 && k[3] % groups == 0, kInvalidArgument, type(),
             ": groups=", groups, " must divide the input channels (", src[3],
             ") and the filters (", k[3], ")");
    LT_CHECK(k[0] == attrs_.kernel_h && k[1] == attrs_.kernel_w && k[2] * groups == src[3],
             kInvalidArgument, type(), ": kernel ", k.to_string(), " does not fit input ",
             src.to_string(), " with kernel_size (", attrs_.kernel_h, ", ", attrs_.kernel_w,
             ") and groups=", groups, "; expected (", attrs_.kernel_h, ", ", attrs_.kernel_w, ", ",
             src[3] / groups, ", filters)");
    const int64_t out_channels = depthwise_ ? k[2] * k[3] : k[3];
    if (in.size() == 3) {
      check_f32(type(), "bias", in[2], 1);
      LT_CHECK(in[2].shape[0] == out_channels, kInvalidArgument, type(), ": bias has ",
               in[2].shape[0], " elements, expected ", out_channels);
    }
    return {TensorSpec{conv_dst_shape(attrs_, src, out_channels), DType::kF32}};
  }

  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    const graph::Graph& g = ctx.graph();
    const Shape src = g.value(node.inputs[0]).spec.shape;
    const Shape weights = g.value(node.inputs[1]).spec.shape;
    const bool has_bias = node.inputs.size() == 3;
    std::vector<graph::ValueId> grads(node.inputs.size(), graph::kNoValue);
    if (ctx.needs_grad(1) || (has_bias && ctx.needs_grad(2))) {
      auto dw =
          ctx.add_node(std::make_shared<ConvBwdWeightsOp>(attrs_, depthwise_, weights, has_bias),
                       {node.inputs[0], dy[0]}, "bwd_weights");
      grads[1] = dw[0];
      if (has_bias) grads[2] = dw[1];
    }
    if (ctx.needs_grad(0)) {
      grads[0] = ctx.add(std::make_shared<ConvBwdDataOp>(attrs_, depthwise_, src),
                         {dy[0], node.inputs[1]}, "bwd_data");
    }
    return grads;
  }
  graph::SavedForBackward saved_for_backward() const override { return {{0}, {}}; }

  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec> out,
                                         const KernelOptions& options) const override {
    const Window2D w = make_window(attrs_, in[0].shape);
    const bool has_bias = in.size() == 3;
    const int64_t groups = attrs_.groups;
    if (options.choice == KernelChoice::kReference) {
      const bool dw = depthwise_;
      return make_kernel([w, dw, has_bias, groups](const RunArgs& a) {
        const TensorView bias = has_bias ? a.inputs[2] : TensorView();
        if (dw) {
          kernels::depthwise_fwd_ref(w, a.inputs[0], a.inputs[1], bias, a.outputs[0]);
        } else {
          kernels::conv2d_fwd_ref(w, a.inputs[0], a.inputs[1], bias, a.outputs[0], groups);
        }
      });
    }
    auto k = std::make_shared<kernels::ConvFwdDnnl>(
        w,
        kernels::ConvShapes{in[0].shape, in[1].shape, out[0].shape, has_bias, depthwise_, groups},
        options.conv_weights);
    const int64_t scratch = k->scratch_bytes();
    return make_kernel(
        [k, has_bias](const RunArgs& a) {
          k->run(f32(a.inputs[0]), f32(a.inputs[1]), has_bias ? f32(a.inputs[2]) : nullptr,
                 f32(a.outputs[0]), a.scratch);
        },
        scratch);
  }

 private:
  ConvAttrs attrs_;
  bool depthwise_;
};

void check_attrs(const ConvAttrs& a, const char* op) {
  LT_CHECK(a.kernel_h > 0 && a.kernel_w > 0 && a.stride_h > 0 && a.stride_w > 0 &&
               a.dilation_h > 0 && a.dilation_w > 0,
           kInvalidArgument, op, ": kernel_size, strides and dilation_rate must be positive");
  LT_CHECK(a.groups >= 1, kInvalidArgument, op, ": groups must be at least 1, got ", a.groups);
  LT_CHECK((a.stride_h == 1 && a.stride_w == 1) || (a.dilation_h == 1 && a.dilation_w == 1),
           kInvalidArgument, op,
           ": strides > 1 together with dilation_rate > 1 is not supported (as in Keras)");
  LT_CHECK(a.pad_top >= 0 && a.pad_bottom >= 0 && a.pad_left >= 0 && a.pad_right >= 0,
           kInvalidArgument, op, ": explicit padding must not be negative");
  LT_CHECK(a.padding == Padding::kValid ||
               (a.pad_top == 0 && a.pad_bottom == 0 && a.pad_left == 0 && a.pad_right == 0),
           kInvalidArgument, op, ": explicit padding goes with padding='valid' only");
}

}  // namespace

OpPtr conv_with_input_padding(const graph::Op& op, const Padding2D& pad) {
  const auto* conv = dynamic_cast<const ConvOp*>(&op);
  if (conv == nullptr || conv->attrs().padding != Padding::kValid) return nullptr;
  ConvAttrs a = conv->attrs();
  a.pad_top += pad.top;
  a.pad_bottom += pad.bottom;
  a.pad_left += pad.left;
  a.pad_right += pad.right;
  // A pad as wide as the window would give outputs that read zeros only; oneDNN's kernels do not
  // all take that, and no Keras model does it.
  const int64_t extent_h = a.dilation_h * (a.kernel_h - 1) + 1;
  const int64_t extent_w = a.dilation_w * (a.kernel_w - 1) + 1;
  if (std::max(a.pad_top, a.pad_bottom) >= extent_h ||
      std::max(a.pad_left, a.pad_right) >= extent_w) {
    return nullptr;
  }
  return std::make_shared<ConvOp>(a, conv->depthwise());
}

Padding parse_padding(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "valid") return Padding::kValid;
  if (lower == "same") return Padding::kSame;
  throw Error(ErrorCode::kInvalidArgument, "padding must be 'valid' or 'same', got '" + name + "'");
}

OpPtr conv2d(const ConvAttrs& attrs) {
  check_attrs(attrs, "Conv2D");
  return std::make_shared<ConvOp>(attrs, false);
}

OpPtr depthwise_conv2d(const ConvAttrs& attrs) {
  check_attrs(attrs, "DepthwiseConv2D");
  LT_CHECK(attrs.groups == 1, kInvalidArgument, "DepthwiseConv2D: groups must be 1, got ",
           attrs.groups, "; use depth_multiplier, or Conv2D(groups=...)");
  return std::make_shared<ConvOp>(attrs, true);
}

}  // namespace leantrain::ops

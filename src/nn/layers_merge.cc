// Merging layers (Add, Multiply, Concatenate) and shape/preprocessing layers (ZeroPadding2D,
// Rescaling, Resizing).
#include <functional>

#include "leantrain/core/error.h"
#include "leantrain/nn/layers.h"
#include "nn/keras_config.h"
#include "nn/layer_util.h"
#include "ops/ops.h"

namespace leantrain::nn {
namespace {

using graph::ValueId;

std::string shapes_text(std::span<const Shape> shapes) {
  std::string out;
  for (const Shape& s : shapes) out += (out.empty() ? "" : ", ") + s.to_string();
  return out;
}

// Add and Multiply: elementwise over inputs of one shape; Multiply also takes a (1, 1, C) gate
// against an (H, W, C) tensor (squeeze-and-excitation), in either order.
class ElementwiseMergeLayer final : public Layer {
 public:
  explicit ElementwiseMergeLayer(bool multiply) : multiply_(multiply) {}
  std::string class_name() const override { return multiply_ ? "Multiply" : "Add"; }
  nlohmann::ordered_json get_config() const override { return keras::merge_config(*this); }
  int arity() const override { return -1; }
  Shape output_shape(std::span<const Shape> inputs) const override {
    Shape out = inputs[0];
    for (const Shape& s : inputs.subspan(1)) {
      if (s == out) continue;
      if (multiply_ && is_gate(s, out)) continue;
      if (multiply_ && is_gate(out, s)) {
        out = s;
        continue;
      }
      throw Error(ErrorCode::kInvalidArgument,
                  "layer '" + display_name(*this) + "' (" + class_name() +
                      ") needs inputs of one shape" +
                      (multiply_ ? " (or a (1, 1, C) gate for an (H, W, C) input)" : "") +
                      ", got " + shapes_text(inputs));
    }
    return out;
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId>) const override {
    ValueId acc = inputs[0];
    for (size_t i = 1; i < inputs.size(); ++i) {
      ValueId a = acc, b = inputs[i];
      // The multiply op broadcasts its second input: put the gate second.
      if (multiply_ && ctx.graph.value(a).spec.shape.num_elements() <
                           ctx.graph.value(b).spec.shape.num_elements()) {
        std::swap(a, b);
      }
      const std::string suffix = i + 1 == inputs.size() ? "" : "/" + std::to_string(i);
      acc = add_node(ctx, *this, multiply_ ? ops::multiply() : ops::add(), {a, b}, suffix);
    }
    return acc;
  }

 private:
  static bool is_gate(const Shape& gate, const Shape& x) {
    return gate.rank() == 3 && x.rank() == 3 && gate[0] == 1 && gate[1] == 1 && gate[2] == x[2];
  }
  bool multiply_;
};

class ConcatenateLayer final : public Layer {
 public:
  explicit ConcatenateLayer(int axis) : axis_(axis) {}  // axis: as given, for the config
  std::string class_name() const override { return "Concatenate"; }
  nlohmann::ordered_json get_config() const override {
    return keras::concatenate_config(*this, axis_);
  }
  int arity() const override { return -1; }
  Shape output_shape(std::span<const Shape> inputs) const override {
    Shape out = inputs[0];
    LT_CHECK(out.rank() >= 1, kInvalidArgument, "layer '", display_name(*this),
             "' (Concatenate) needs inputs with a channel axis");
    for (const Shape& s : inputs.subspan(1)) {
      bool same_leading = s.rank() == out.rank();
      for (int d = 0; same_leading && d + 1 < s.rank(); ++d) same_leading = s[d] == out[d];
      LT_CHECK(same_leading, kInvalidArgument, "layer '", display_name(*this),
               "' (Concatenate) joins along the last axis and needs the other dimensions equal, "
               "got ",
               shapes_text(inputs));
      out[out.rank() - 1] += s.dim(-1);
    }
    return out;
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId>) const override {
    return add_node(ctx, *this, ops::concat(static_cast<int>(inputs.size())),
                    {inputs.begin(), inputs.end()});
  }

 private:
  int axis_;
};

class ZeroPaddingLayer final : public Layer {
 public:
  ZeroPaddingLayer(int64_t top, int64_t bottom, int64_t left, int64_t right)
      : op_(ops::zero_pad2d(top, bottom, left, right)),
        top_(top),
        bottom_(bottom),
        left_(left),
        right_(right) {
    LT_CHECK(top >= 0 && bottom >= 0 && left >= 0 && right >= 0, kInvalidArgument,
             "ZeroPadding2D: padding must be >= 0, got ((", top, ", ", bottom, "), (", left, ", ",
             right, "))");
  }
  std::string class_name() const override { return "ZeroPadding2D"; }
  nlohmann::ordered_json get_config() const override {
    return keras::zero_padding_config(*this, top_, bottom_, left_, right_);
  }
  Shape output_shape(std::span<const Shape> inputs) const override {
    check_image(*this, inputs[0]);
    return infer_one(op_, {{with_batch1(inputs[0]), DType::kF32}}, *this);
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId>) const override {
    return add_node(ctx, *this, op_, {inputs[0]});
  }

 private:
  ops::OpPtr op_;
  int64_t top_, bottom_, left_, right_;
};

// Rescaling and Resizing: one op on one input, shape from the op.
class UnaryOpLayer final : public Layer {
 public:
  // `config` makes the layer's Keras config (none: get_config() throws).
  using ConfigFn = std::function<nlohmann::ordered_json(const Layer&)>;
  UnaryOpLayer(std::string class_name, ops::OpPtr op, bool image_only, ConfigFn config = nullptr)
      : class_name_(std::move(class_name)),
        op_(std::move(op)),
        image_only_(image_only),
        config_(std::move(config)) {}
  std::string class_name() const override { return class_name_; }
  nlohmann::ordered_json get_config() const override {
    return config_ ? config_(*this) : Layer::get_config();
  }
  Shape output_shape(std::span<const Shape> inputs) const override {
    if (image_only_) check_image(*this, inputs[0]);
    return infer_one(op_, {{with_batch1(inputs[0]), DType::kF32}}, *this);
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId>) const override {
    return add_node(ctx, *this, op_, {inputs[0]});
  }

 private:
  std::string class_name_;
  ops::OpPtr op_;
  bool image_only_;
  ConfigFn config_;
};

}  // namespace

LayerPtr Add(const NameOptions& o) { return make_layer<ElementwiseMergeLayer>(o.name, false); }
LayerPtr Multiply(const NameOptions& o) { return make_layer<ElementwiseMergeLayer>(o.name, true); }
LayerPtr Concatenate(const ConcatenateOptions& o) {
  LT_CHECK(o.axis == -1 || o.axis == 3, kUnimplemented,
           "Concatenate: only the last axis (-1) is supported, got axis=", o.axis);
  return make_layer<ConcatenateLayer>(o.name, o.axis);
}

LayerPtr ZeroPadding2D(const ZeroPadding2DOptions& o) {
  const bool explicit_pads = o.top_bottom.h >= 0 || o.left_right.h >= 0;
  const Size2 tb = explicit_pads ? o.top_bottom : Size2(o.padding.h, o.padding.h);
  const Size2 lr = explicit_pads ? o.left_right : Size2(o.padding.w, o.padding.w);
  return make_layer<ZeroPaddingLayer>(o.name, std::max<int64_t>(tb.h, 0),
                                      std::max<int64_t>(tb.w, 0), std::max<int64_t>(lr.h, 0),
                                      std::max<int64_t>(lr.w, 0));
}

LayerPtr Rescaling(const RescalingOptions& o) {
  return make_layer<UnaryOpLayer>(o.name, "Rescaling", ops::rescale(o.scale, o.offset), false,
                                  [scale = o.scale, offset = o.offset](const Layer& layer) {
                                    return keras::rescaling_config(layer, scale, offset);
                                  });
}

LayerPtr Resizing(const ResizingOptions& o) {
  LT_CHECK(o.height > 0 && o.width > 0, kInvalidArgument,
           "Resizing: height and width must be positive, got ", o.height, "x", o.width);
  LT_CHECK(o.interpolation == "bilinear", kUnimplemented, "Resizing: interpolation '",
           o.interpolation, "' is not supported; use 'bilinear'");
  return make_layer<UnaryOpLayer>(
      o.name, "Resizing", ops::resize_bilinear(o.height, o.width), true, [o](const Layer& layer) {
        return keras::resizing_config(layer, o.height, o.width, o.interpolation);
      });
}

}  // namespace leantrain::nn

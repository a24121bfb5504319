// Layers the model zoo needs beyond the core set: Normalization (EfficientNet's input
// standardization), Dropout with a noise shape (EfficientNet's stochastic depth) and
// GlobalMaxPooling2D (the zoo's pooling="max"); and the names of Keras' VarianceScaling
// initializers (EfficientNet's kernels).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <span>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "leantrain/nn/layers.h"
#include "nn/keras_config.h"
#include "nn/layer_util.h"
#include "ops/ops.h"

namespace leantrain::nn {
namespace {

using graph::ValueId;

class NormalizationLayer final : public Layer {
 public:
  explicit NormalizationLayer(int axis) : axis_(axis), op_(ops::normalization()) {}
  std::string class_name() const override { return "Normalization"; }
  nlohmann::ordered_json get_config() const override {
    // preprocessing/normalization.py get_config: axis as a tuple; no constant mean/variance.
    keras::Json c = keras::base_config(*this);
    c["axis"] = keras::Json::array({axis_});
    c["invert"] = false;
    c["mean"] = nullptr;
    c["variance"] = nullptr;
    return c;
  }
  Shape output_shape(std::span<const Shape> inputs) const override {
    const Shape& s = inputs[0];
    LT_CHECK(s.rank() >= 1, kInvalidArgument, "layer '", display_name(*this),
             "' (Normalization) needs an input with a channel axis, got ", s.to_string());
    LT_CHECK(axis_ == -1 || axis_ == s.rank(), kUnimplemented, "layer '", display_name(*this),
             "' (Normalization): only the channel axis (-1, or ", s.rank(),
             " for this input) is supported, got axis=", axis_);
    return s;
  }
  std::vector<Variable> variables(std::span<const Shape> inputs) const override {
    const Shape c{inputs[0].dim(-1)};
    return {{"mean", c, "zeros", false, 0, 0},
            {"variance", c, "ones", false, 0, 0},
            {"count", Shape{}, "zeros", false, 0, 0}};
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId> vars) const override {
    return add_node(ctx, *this, op_, {inputs[0], vars[0], vars[1]});
  }

 private:
  int axis_;
  ops::OpPtr op_;
};

// Dropout whose noise shape is either per example (every non-batch entry 1) or the input's own
// shape (ordinary dropout); which one is decided when the layer is called.
class NoiseShapeDropoutLayer final : public Layer {
 public:
  NoiseShapeDropoutLayer(DropoutOptions o, std::vector<int64_t> noise_shape)
      : o_(std::move(o)), noise_shape_(std::move(noise_shape)) {
    ops::per_example_dropout(o_.rate, 0);  // validates the rate
    for (int64_t d : noise_shape_) {
      LT_CHECK(d == kNoneDim || d >= 1, kInvalidArgument, "Dropout: noise_shape ",
               noise_shape_text(), " may hold None (kNoneDim) or positive sizes only");
    }
  }
  std::string class_name() const override { return "Dropout"; }
  nlohmann::ordered_json get_config() const override {
    keras::Json c = keras::dropout_config(*this, o_);
    keras::Json shape = keras::Json::array();
    for (int64_t d : noise_shape_)
      shape.push_back(d == kNoneDim ? keras::Json(nullptr) : keras::Json(d));
    c["noise_shape"] = shape;
    return c;
  }
  Shape output_shape(std::span<const Shape> inputs) const override {
    const Shape& s = inputs[0];
    LT_CHECK(static_cast<int>(noise_shape_.size()) == s.rank() + 1, kInvalidArgument, "layer '",
             display_name(*this), "' (Dropout): noise_shape ", noise_shape_text(),
             " must have the input's rank with the batch (", s.rank() + 1, ") for input ",
             s.to_string());
    per_example(s);  // throws for an unsupported noise shape
    return s;
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId>) const override {
    if (!ctx.training || o_.rate == 0.0f) return inputs[0];
    const Shape s = ctx.graph.value(inputs[0]).spec.shape;  // a copy: add_node may reallocate
    const std::vector<int64_t> dims(s.dims().begin() + 1, s.dims().end());
    const uint64_t salt = mix64(o_.seed ^ std::hash<std::string>{}(name()));
    const ops::OpPtr op = per_example(Shape(std::span<const int64_t>(dims)))
                              ? ops::per_example_dropout(o_.rate, salt)
                              : ops::dropout(o_.rate, salt);
    return add_node(ctx, *this, op, {inputs[0]});
  }

 private:
  std::string noise_shape_text() const {
    std::string out = "(";
    for (size_t i = 0; i < noise_shape_.size(); ++i) {
      out += (i > 0 ? ", " : "") +
             (noise_shape_[i] == kNoneDim ? std::string("None") : std::to_string(noise_shape_[i]));
    }
    return out + (noise_shape_.size() == 1 ? ",)" : ")");
  }
  // True for (batch, 1, ..., 1), false for the input's own shape; throws Error(kUnimplemented)
  // otherwise. `s` excludes the batch; noise_shape_ has its rank + 1 entries.
  bool per_example(const Shape& s) const {
    bool ones = true, own = true;
    for (int i = 0; i < s.rank(); ++i) {
      const int64_t d = noise_shape_[static_cast<size_t>(i) + 1];
      ones = ones && d == 1;
      own = own && (d == kNoneDim || d == s[i]);
    }
    if (own) return false;
    LT_CHECK(ones, kUnimplemented, "layer '", display_name(*this), "' (Dropout): noise_shape ",
             noise_shape_text(), " is not supported for input ", s.to_string(),
             "; use one draw per example (None, 1, ..., 1) or the input's shape");
    return true;
  }
  DropoutOptions o_;
  std::vector<int64_t> noise_shape_;
};

class GlobalMaxPoolLayer final : public Layer {
 public:
  explicit GlobalMaxPoolLayer(bool keepdims) : keepdims_(keepdims) {}
  std::string class_name() const override { return "GlobalMaxPooling2D"; }
  nlohmann::ordered_json get_config() const override {
    return keras::global_pool_config(*this, keepdims_);
  }
  Shape output_shape(std::span<const Shape> inputs) const override {
    check_image(*this, inputs[0]);
    return keepdims_ ? Shape{1, 1, inputs[0][2]} : Shape{inputs[0][2]};
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId>) const override {
    // One window over the whole image: max pooling with pool = stride = (H, W), then a view.
    const Shape s = ctx.graph.value(inputs[0]).spec.shape;  // a copy: add_node may reallocate
    ops::PoolAttrs attrs;
    attrs.pool_h = attrs.stride_h = s[1];
    attrs.pool_w = attrs.stride_w = s[2];
    attrs.padding = ops::Padding::kValid;
    const ValueId y = add_node(ctx, *this, ops::max_pool(attrs), {inputs[0]});
    if (keepdims_) return y;
    return add_node(ctx, *this, ops::reshape(Shape{s[3]}), {y}, "/flatten");
  }

 private:
  bool keepdims_;
};

}  // namespace

namespace {

constexpr const char* kVarianceScalingPrefix = "variance_scaling_";
constexpr const char* kModes[] = {"fan_in", "fan_out", "fan_avg"};
constexpr const char* kDistributions[] = {"truncated_normal", "untruncated_normal", "uniform"};

bool one_of(const std::string& s, std::span<const char* const> options) {
  return std::find(options.begin(), options.end(), s) != options.end();
}

}  // namespace

std::string variance_scaling_name(const VarianceScaling& v) {
  LT_CHECK(std::isfinite(v.scale) && v.scale > 0, kInvalidArgument,
           "VarianceScaling: scale must be positive, got ", v.scale);
  LT_CHECK(one_of(v.mode, kModes), kInvalidArgument,
           "VarianceScaling: mode must be fan_in, "
           "fan_out or fan_avg, got '",
           v.mode, "'");
  LT_CHECK(one_of(v.distribution, kDistributions), kInvalidArgument,
           "VarianceScaling: distribution must be truncated_normal, untruncated_normal or "
           "uniform, got '",
           v.distribution, "'");
  // Python's repr(): the shortest digits that read back, with ".0" on an integral value.
  char digits[64];
  const auto end = std::to_chars(digits, digits + sizeof digits, v.scale).ptr;
  std::string scale(digits, end);
  if (scale.find_first_of(".e") == std::string::npos) scale += ".0";
  return kVarianceScalingPrefix + v.mode + "_" + v.distribution + "_" + scale;
}

bool parse_variance_scaling(const std::string& name, VarianceScaling* out) {
  const std::string prefix = kVarianceScalingPrefix;
  if (name.rfind(prefix, 0) != 0) return false;
  for (const char* mode : kModes) {
    for (const char* distribution : kDistributions) {
      const std::string head = prefix + mode + "_" + distribution + "_";
      if (name.rfind(head, 0) != 0) continue;
      const char* first = name.data() + head.size();
      const char* last = name.data() + name.size();
      double scale = 0;
      const auto [ptr, ec] = std::from_chars(first, last, scale);
      if (ec != std::errc() || ptr != last || first == last || !std::isfinite(scale) ||
          scale <= 0) {
        return false;
      }
      *out = VarianceScaling{scale, mode, distribution};
      return true;
    }
  }
  return false;
}

LayerPtr Normalization(const NormalizationOptions& o) {
  return make_layer<NormalizationLayer>(o.name, o.axis);
}

LayerPtr Dropout(const DropoutOptions& o, const std::vector<int64_t>& noise_shape) {
  return make_layer<NoiseShapeDropoutLayer>(o.name, o, noise_shape);
}

LayerPtr GlobalMaxPooling2D(const GlobalPooling2DOptions& o) {
  return make_layer<GlobalMaxPoolLayer>(o.name, o.keepdims);
}

}  // namespace leantrain::nn

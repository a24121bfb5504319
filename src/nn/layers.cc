#include "leantrain/nn/layers.h"

#include <cctype>
#include <functional>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "ops/ops.h"

namespace leantrain::nn {
namespace {

using graph::ValueId;

std::string pretty(const Shape& s) { return s.to_string(); }

// Adds an activation node after `x` unless the name is linear.
ValueId maybe_activation(graph::Graph& g, ValueId x, const std::string& activation,
                         const std::string& layer) {
  ops::ActivationKind kind;
  if (!ops::parse_activation(activation, &kind)) return x;
  return g.add(ops::activation(kind), {x}, g.unique_name(layer + "/" + activation),
               graph::Phase::kForward, layer);
}

ops::ConvAttrs conv_attrs(Size2 kernel, Size2 strides, Size2 dilation, const std::string& pad) {
  ops::ConvAttrs a;
  a.kernel_h = kernel.h;
  a.kernel_w = kernel.w;
  a.stride_h = strides.h;
  a.stride_w = strides.w;
  a.dilation_h = dilation.h;
  a.dilation_w = dilation.w;
  a.padding = ops::parse_padding(pad);
  return a;
}

// Runs the op's shape rule on a batch of 1 to get the output shape without batch.
Shape infer_one(const ops::OpPtr& op, std::vector<graph::TensorSpec> in, const std::string& layer) {
  try {
    std::vector<graph::TensorSpec> out = op->infer(in);
    std::vector<int64_t> dims(out.at(0).shape.dims().begin() + 1, out.at(0).shape.dims().end());
    return Shape(dims);
  } catch (const Error& e) {
    throw Error(e.code(), "layer '" + layer + "': " + e.what());
  }
}

Shape with_batch1(const Shape& s) {
  std::vector<int64_t> dims{1};
  for (int64_t d : s.dims()) dims.push_back(d);
  return Shape(dims);
}

class ConvLayer final : public Layer {
 public:
  ConvLayer(bool depthwise, int64_t filters_or_multiplier, ops::ConvAttrs attrs,
            std::string activation, bool use_bias, std::string kernel_init, std::string bias_init)
      : depthwise_(depthwise),
        filters_(filters_or_multiplier),
        attrs_(attrs),
        activation_(std::move(activation)),
        use_bias_(use_bias),
        kernel_init_(std::move(kernel_init)),
        bias_init_(std::move(bias_init)) {
    LT_CHECK(filters_ > 0, kInvalidArgument, class_name(), ": ",
             depthwise ? "depth_multiplier" : "filters", " must be positive, got ", filters_);
    ops::ActivationKind kind;
    ops::parse_activation(activation_, &kind);  // validates the name now
    op_ = depthwise ? ops::depthwise_conv2d(attrs_) : ops::conv2d(attrs_);
  }
  std::string class_name() const override { return depthwise_ ? "DepthwiseConv2D" : "Conv2D"; }
  Shape output_shape(const Shape& input) const override {
    LT_CHECK(input.rank() == 3, kInvalidArgument, "layer '", name(), "' (", class_name(),
             ") expects (height, width, channels) input, got ", pretty(input));
    std::vector<graph::TensorSpec> in{{with_batch1(input), DType::kF32},
                                      {kernel_shape(input), DType::kF32}};
    return infer_one(op_, in, name());
  }
  std::vector<Variable> variables(const Shape& input) const override {
    const Shape k = kernel_shape(input);
    const int64_t receptive = k[0] * k[1];
    std::vector<Variable> vars{
        {"kernel", k, kernel_init_, true, receptive * k[2], receptive * k[3]}};
    if (use_bias_) {
      const int64_t out = depthwise_ ? k[2] * k[3] : k[3];
      vars.push_back({"bias", Shape{out}, bias_init_, true, 0, 0});
    }
    return vars;
  }
  ValueId build(graph::Graph& g, ValueId input, std::span<const ValueId> vars,
                bool) const override {
    std::vector<ValueId> in{input, vars[0]};
    if (use_bias_) in.push_back(vars[1]);
    const ValueId y = g.add(op_, in, g.unique_name(name()), graph::Phase::kForward, name());
    return maybe_activation(g, y, activation_, name());
  }

 private:
  Shape kernel_shape(const Shape& input) const {
    return Shape{attrs_.kernel_h, attrs_.kernel_w, input.dim(-1), filters_};
  }
  bool depthwise_;
  int64_t filters_;
  ops::ConvAttrs attrs_;
  std::string activation_;
  bool use_bias_;
  std::string kernel_init_, bias_init_;
  ops::OpPtr op_;
};

class DenseLayer final : public Layer {
 public:
  explicit DenseLayer(DenseOptions o) : o_(std::move(o)) {
    LT_CHECK(o_.units > 0, kInvalidArgument, "Dense: units must be positive, got ", o_.units);
    ops::ActivationKind kind;
    ops::parse_activation(o_.activation, &kind);
  }
  std::string class_name() const override { return "Dense"; }
  Shape output_shape(const Shape& input) const override {
    LT_CHECK(input.rank() == 1, kInvalidArgument, "layer '", name(),
             "' (Dense) expects a flat input (features,), got ", pretty(input),
             "; add a Flatten or GlobalAveragePooling2D before it");
    return Shape{o_.units};
  }
  std::vector<Variable> variables(const Shape& input) const override {
    std::vector<Variable> vars{
        {"kernel", Shape{input[0], o_.units}, o_.kernel_initializer, true, input[0], o_.units}};
    if (o_.use_bias) vars.push_back({"bias", Shape{o_.units}, o_.bias_initializer, true, 0, 0});
    return vars;
  }
  ValueId build(graph::Graph& g, ValueId input, std::span<const ValueId> vars,
                bool) const override {
    std::vector<ValueId> in{input, vars[0]};
    if (o_.use_bias) in.push_back(vars[1]);
    const ValueId y =
        g.add(ops::dense(), in, g.unique_name(name()), graph::Phase::kForward, name());
    return maybe_activation(g, y, o_.activation, name());
  }

 private:
  DenseOptions o_;
};

class BatchNormLayer final : public Layer {
 public:
  explicit BatchNormLayer(BatchNormalizationOptions o) : o_(o) {
    ops::batch_norm(true, o_.momentum, o_.epsilon);  // validates
  }
  std::string class_name() const override { return "BatchNormalization"; }
  Shape output_shape(const Shape& input) const override { return input; }
  std::vector<Variable> variables(const Shape& input) const override {
    const Shape c{input.dim(-1)};
    return {{"gamma", c, "ones", true, 0, 0},
            {"beta", c, "zeros", true, 0, 0},
            {"moving_mean", c, "zeros", false, 0, 0},
            {"moving_variance", c, "ones", false, 0, 0}};
  }
  ValueId build(graph::Graph& g, ValueId input, std::span<const ValueId> vars,
                bool training) const override {
    auto out = g.add_node(ops::batch_norm(training, o_.momentum, o_.epsilon),
                          {input, vars[0], vars[1], vars[2], vars[3]}, g.unique_name(name()),
                          graph::Phase::kForward, name());
    return out[0];
  }

 private:
  BatchNormalizationOptions o_;
};

class ActivationLayer final : public Layer {
 public:
  ActivationLayer(std::string activation, std::string class_name)
      : activation_(std::move(activation)), class_name_(std::move(class_name)) {
    ops::ActivationKind kind;
    ops::parse_activation(activation_, &kind);
  }
  std::string class_name() const override { return class_name_; }
  Shape output_shape(const Shape& input) const override { return input; }
  ValueId build(graph::Graph& g, ValueId input, std::span<const ValueId>, bool) const override {
    ops::ActivationKind kind;
    if (!ops::parse_activation(activation_, &kind)) return input;
    return g.add(ops::activation(kind), {input}, g.unique_name(name()), graph::Phase::kForward,
                 name());
  }

 private:
  std::string activation_;
  std::string class_name_;
};

class PoolLayer final : public Layer {
 public:
  PoolLayer(bool max, const Pooling2DOptions& o) : max_(max) {
    attrs_.pool_h = o.pool_size.h;
    attrs_.pool_w = o.pool_size.w;
    attrs_.stride_h = o.strides.h == 0 ? o.pool_size.h : o.strides.h;
    attrs_.stride_w = o.strides.w == 0 ? o.pool_size.w : o.strides.w;
    attrs_.padding = ops::parse_padding(o.padding);
    op_ = max ? ops::max_pool(attrs_) : ops::avg_pool(attrs_);
  }
  std::string class_name() const override { return max_ ? "MaxPooling2D" : "AveragePooling2D"; }
  Shape output_shape(const Shape& input) const override {
    LT_CHECK(input.rank() == 3, kInvalidArgument, "layer '", name(), "' (", class_name(),
             ") expects (height, width, channels) input, got ", pretty(input));
    return infer_one(op_, {{with_batch1(input), DType::kF32}}, name());
  }
  ValueId build(graph::Graph& g, ValueId input, std::span<const ValueId>, bool) const override {
    return g.add(op_, {input}, g.unique_name(name()), graph::Phase::kForward, name());
  }

 private:
  bool max_;
  ops::PoolAttrs attrs_;
  ops::OpPtr op_;
};

class GlobalAvgPoolLayer final : public Layer {
 public:
  std::string class_name() const override { return "GlobalAveragePooling2D"; }
  Shape output_shape(const Shape& input) const override {
    LT_CHECK(input.rank() == 3, kInvalidArgument, "layer '", name(),
             "' (GlobalAveragePooling2D) expects (height, width, channels) input, got ",
             pretty(input));
    return Shape{input[2]};
  }
  ValueId build(graph::Graph& g, ValueId input, std::span<const ValueId>, bool) const override {
    return g.add(ops::global_avg_pool(), {input}, g.unique_name(name()), graph::Phase::kForward,
                 name());
  }
};

class FlattenLayer final : public Layer {
 public:
  std::string class_name() const override { return "Flatten"; }
  Shape output_shape(const Shape& input) const override { return Shape{input.num_elements()}; }
  ValueId build(graph::Graph& g, ValueId input, std::span<const ValueId>, bool) const override {
    const Shape& s = g.value(input).spec.shape;
    return g.add(ops::reshape(Shape{s.num_elements() / s[0]}), {input}, g.unique_name(name()),
                 graph::Phase::kForward, name());
  }
};

class DropoutLayer final : public Layer {
 public:
  explicit DropoutLayer(DropoutOptions o) : o_(o) { ops::dropout(o_.rate, 0); }
  std::string class_name() const override { return "Dropout"; }
  Shape output_shape(const Shape& input) const override { return input; }
  ValueId build(graph::Graph& g, ValueId input, std::span<const ValueId>,
                bool training) const override {
    if (!training || o_.rate == 0.0f) return input;
    const uint64_t salt = mix64(o_.seed ^ std::hash<std::string>{}(name()));
    return g.add(ops::dropout(o_.rate, salt), {input}, g.unique_name(name()),
                 graph::Phase::kForward, name());
  }

 private:
  DropoutOptions o_;
};

}  // namespace

std::string Layer::default_name() const {
  // Keras' to_snake_case: a '_' before each capital that follows a lower-case letter or digit
  // ("MaxPooling2D" -> "max_pooling2d", "Conv2D" -> "conv2d", "ReLU" -> "re_lu").
  const std::string c = class_name();
  std::string out;
  for (size_t i = 0; i < c.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(c[i]);
    if (std::isupper(ch) && i > 0) {
      const unsigned char prev = static_cast<unsigned char>(c[i - 1]);
      const bool next_lower =
          i + 1 < c.size() && std::islower(static_cast<unsigned char>(c[i + 1]));
      if (std::islower(prev) || (std::isupper(prev) && next_lower)) out += '_';
    }
    out += static_cast<char>(std::tolower(ch));
  }
  return out;
}

LayerPtr Conv2D(const Conv2DOptions& o) {
  return std::make_shared<ConvLayer>(
      false, o.filters, conv_attrs(o.kernel_size, o.strides, o.dilation_rate, o.padding),
      o.activation, o.use_bias, o.kernel_initializer, o.bias_initializer);
}

LayerPtr DepthwiseConv2D(const DepthwiseConv2DOptions& o) {
  return std::make_shared<ConvLayer>(
      true, o.depth_multiplier, conv_attrs(o.kernel_size, o.strides, o.dilation_rate, o.padding),
      o.activation, o.use_bias, o.depthwise_initializer, o.bias_initializer);
}

LayerPtr Dense(const DenseOptions& o) { return std::make_shared<DenseLayer>(o); }
LayerPtr BatchNormalization(const BatchNormalizationOptions& o) {
  return std::make_shared<BatchNormLayer>(o);
}
LayerPtr Activation(const std::string& name) {
  return std::make_shared<ActivationLayer>(name, "Activation");
}
LayerPtr ReLU(const ReLUOptions& o) {
  LT_CHECK(o.max_value == 0.0f || o.max_value == 6.0f, kUnimplemented,
           "ReLU: max_value must be None or 6, got ", o.max_value);
  return std::make_shared<ActivationLayer>(o.max_value == 6.0f ? "relu6" : "relu", "ReLU");
}
LayerPtr MaxPooling2D(const Pooling2DOptions& o) { return std::make_shared<PoolLayer>(true, o); }
LayerPtr AveragePooling2D(const Pooling2DOptions& o) {
  return std::make_shared<PoolLayer>(false, o);
}
LayerPtr GlobalAveragePooling2D() { return std::make_shared<GlobalAvgPoolLayer>(); }
LayerPtr Flatten() { return std::make_shared<FlattenLayer>(); }
LayerPtr Dropout(const DropoutOptions& o) { return std::make_shared<DropoutLayer>(o); }

}  // namespace leantrain::nn

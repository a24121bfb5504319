// The core layers (convolutions, Dense, BatchNormalization, activations, pooling, Flatten,
// Reshape, Dropout) and the layer-call machinery; merging and preprocessing layers are in
// layers_merge.cc.
#include "leantrain/nn/layers.h"

#include <atomic>
#include <cctype>
#include <functional>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "nn/keras_config.h"
#include "nn/layer_util.h"
#include "ops/ops.h"

namespace leantrain::nn {
namespace {

using graph::ValueId;

ops::ConvAttrs conv_attrs(Size2 kernel, Size2 strides, Size2 dilation, const std::string& pad,
                          int64_t groups = 1) {
  ops::ConvAttrs a;
  a.kernel_h = kernel.h;
  a.kernel_w = kernel.w;
  a.stride_h = strides.h;
  a.stride_w = strides.w;
  a.dilation_h = dilation.h;
  a.dilation_w = dilation.w;
  a.padding = ops::parse_padding(pad);
  a.groups = groups;
  return a;
}

// Conv2D (groups >= 1) and DepthwiseConv2D.
class ConvLayer final : public Layer {
 public:
  ConvLayer(bool depthwise, int64_t filters_or_multiplier, ops::ConvAttrs attrs,
            std::string activation, bool use_bias, std::string kernel_init, std::string bias_init,
            Regularizer regularizer)
      : depthwise_(depthwise),
        filters_(filters_or_multiplier),
        attrs_(attrs),
        activation_(std::move(activation)),
        use_bias_(use_bias),
        kernel_init_(std::move(kernel_init)),
        bias_init_(std::move(bias_init)),
        regularizer_(regularizer) {
    LT_CHECK(filters_ > 0, kInvalidArgument, class_name(), ": ",
             depthwise ? "depth_multiplier" : "filters", " must be positive, got ", filters_);
    LT_CHECK(attrs_.groups >= 1 && filters_ % attrs_.groups == 0, kInvalidArgument,
             "Conv2D: filters (", filters_, ") must be a positive multiple of groups (",
             attrs_.groups, ")");
    check_activation(activation_);
    op_ = depthwise ? ops::depthwise_conv2d(attrs_) : ops::conv2d(attrs_);
  }
  std::string class_name() const override { return depthwise_ ? "DepthwiseConv2D" : "Conv2D"; }
  nlohmann::ordered_json get_config() const override {
    return keras::conv_config(*this, depthwise_, filters_, attrs_, activation_, use_bias_,
                              kernel_init_, bias_init_, regularizer_);
  }
  Shape output_shape(std::span<const Shape> inputs) const override {
    const Shape& input = inputs[0];
    check_image(*this, input);
    LT_CHECK(input[2] % attrs_.groups == 0, kInvalidArgument, "layer '", display_name(*this),
             "' (Conv2D): input channels (", input[2], ") must be a multiple of groups (",
             attrs_.groups, ")");
    return infer_one(op_, {{with_batch1(input), DType::kF32}, {kernel_shape(input), DType::kF32}},
                     *this);
  }
  std::vector<Variable> variables(std::span<const Shape> inputs) const override {
    const Shape k = kernel_shape(inputs[0]);
    const int64_t receptive = k[0] * k[1];
    std::vector<Variable> vars{
        {"kernel", k, kernel_init_, true, receptive * k[2], receptive * k[3], regularizer_.l2}};
    if (use_bias_) {
      const int64_t out = depthwise_ ? k[2] * k[3] : k[3];
      vars.push_back({"bias", Shape{out}, bias_init_, true, 0, 0});
    }
    return vars;
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId> vars) const override {
    std::vector<ValueId> in{inputs[0], vars[0]};
    if (use_bias_) in.push_back(vars[1]);
    const ValueId y = add_node(ctx, *this, op_, in);
    return add_activation(ctx, *this, y, activation_);
  }

 private:
  Shape kernel_shape(const Shape& input) const {
    return Shape{attrs_.kernel_h, attrs_.kernel_w, input.dim(-1) / attrs_.groups, filters_};
  }
  bool depthwise_;
  int64_t filters_;
  ops::ConvAttrs attrs_;
  std::string activation_;
  bool use_bias_;
  std::string kernel_init_, bias_init_;
  Regularizer regularizer_;
  ops::OpPtr op_;
};

class SeparableConvLayer final : public Layer {
 public:
  explicit SeparableConvLayer(SeparableConv2DOptions o) : o_(std::move(o)) {
    LT_CHECK(o_.filters > 0, kInvalidArgument, "SeparableConv2D: filters must be positive, got ",
             o_.filters);
    LT_CHECK(o_.depth_multiplier > 0, kInvalidArgument,
             "SeparableConv2D: depth_multiplier must be positive, got ", o_.depth_multiplier);
    check_activation(o_.activation);
    depthwise_ =
        ops::depthwise_conv2d(conv_attrs(o_.kernel_size, o_.strides, o_.dilation_rate, o_.padding));
    pointwise_ = ops::conv2d(conv_attrs(1, 1, 1, "valid"));
  }
  std::string class_name() const override { return "SeparableConv2D"; }
  nlohmann::ordered_json get_config() const override {
    return keras::separable_conv_config(*this, o_);
  }
  Shape output_shape(std::span<const Shape> inputs) const override {
    const Shape& input = inputs[0];
    check_image(*this, input);
    const Shape mid = infer_one(
        depthwise_, {{with_batch1(input), DType::kF32}, {depthwise_shape(input), DType::kF32}},
        *this);
    return Shape{mid[0], mid[1], o_.filters};
  }
  std::vector<Variable> variables(std::span<const Shape> inputs) const override {
    const Shape d = depthwise_shape(inputs[0]);
    const int64_t mid = d[2] * d[3];
    std::vector<Variable> vars{
        {"depthwise_kernel", d, o_.depthwise_initializer, true, d[0] * d[1] * d[2],
         d[0] * d[1] * d[3], o_.depthwise_regularizer.l2},
        {"pointwise_kernel", Shape{1, 1, mid, o_.filters}, o_.pointwise_initializer, true, mid,
         o_.filters, o_.pointwise_regularizer.l2}};
    if (o_.use_bias) vars.push_back({"bias", Shape{o_.filters}, o_.bias_initializer, true, 0, 0});
    return vars;
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId> vars) const override {
    const ValueId mid = add_node(ctx, *this, depthwise_, {inputs[0], vars[0]}, "/depthwise");
    std::vector<ValueId> in{mid, vars[1]};
    if (o_.use_bias) in.push_back(vars[2]);
    const ValueId y = add_node(ctx, *this, pointwise_, in);
    return add_activation(ctx, *this, y, o_.activation);
  }

 private:
  Shape depthwise_shape(const Shape& input) const {
    return Shape{o_.kernel_size.h, o_.kernel_size.w, input.dim(-1), o_.depth_multiplier};
  }
  SeparableConv2DOptions o_;
  ops::OpPtr depthwise_, pointwise_;
};

class DenseLayer final : public Layer {
 public:
  explicit DenseLayer(DenseOptions o) : o_(std::move(o)) {
    LT_CHECK(o_.units > 0, kInvalidArgument, "Dense: units must be positive, got ", o_.units);
    check_activation(o_.activation);
  }
  std::string class_name() const override { return "Dense"; }
  nlohmann::ordered_json get_config() const override { return keras::dense_config(*this, o_); }
  Shape output_shape(std::span<const Shape> inputs) const override {
    LT_CHECK(inputs[0].rank() == 1, kInvalidArgument, "layer '", display_name(*this),
             "' (Dense) expects a flat input (features,), got ", inputs[0].to_string(),
             "; add a Flatten or GlobalAveragePooling2D before it");
    return Shape{o_.units};
  }
  std::vector<Variable> variables(std::span<const Shape> inputs) const override {
    const int64_t in = inputs[0][0];
    std::vector<Variable> vars{{"kernel", Shape{in, o_.units}, o_.kernel_initializer, true, in,
                                o_.units, o_.kernel_regularizer.l2}};
    if (o_.use_bias) vars.push_back({"bias", Shape{o_.units}, o_.bias_initializer, true, 0, 0});
    return vars;
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId> vars) const override {
    std::vector<ValueId> in{inputs[0], vars[0]};
    if (o_.use_bias) in.push_back(vars[1]);
    const ValueId y = add_node(ctx, *this, ops::dense(), in);
    return add_activation(ctx, *this, y, o_.activation);
  }

 private:
  DenseOptions o_;
};

class BatchNormLayer final : public Layer {
 public:
  explicit BatchNormLayer(BatchNormalizationOptions o) : o_(std::move(o)) {
    ops::batch_norm(true, o_.momentum, o_.epsilon);  // validates
  }
  std::string class_name() const override { return "BatchNormalization"; }
  nlohmann::ordered_json get_config() const override { return keras::batch_norm_config(*this, o_); }
  Shape output_shape(std::span<const Shape> inputs) const override {
    const Shape& s = inputs[0];
    LT_CHECK(o_.axis == -1 || o_.axis == s.rank(), kUnimplemented, "layer '", display_name(*this),
             "' (BatchNormalization): only the channel axis (-1) is supported, got axis=", o_.axis);
    return s;
  }
  std::vector<Variable> variables(std::span<const Shape> inputs) const override {
    const Shape c{inputs[0].dim(-1)};
    return {{"gamma", c, "ones", true, 0, 0},
            {"beta", c, "zeros", true, 0, 0},
            {"moving_mean", c, "zeros", false, 0, 0},
            {"moving_variance", c, "ones", false, 0, 0}};
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId> vars) const override {
    return ctx.graph
        .add_node(ops::batch_norm(ctx.training, o_.momentum, o_.epsilon),
                  {inputs[0], vars[0], vars[1], vars[2], vars[3]}, ctx.graph.unique_name(name()),
                  graph::Phase::kForward, name())
        .at(0);
  }

 private:
  BatchNormalizationOptions o_;
};

class ActivationLayer final : public Layer {
 public:
  ActivationLayer(std::string activation, std::string class_name)
      : activation_(std::move(activation)), class_name_(std::move(class_name)) {
    check_activation(activation_);
  }
  std::string class_name() const override { return class_name_; }
  nlohmann::ordered_json get_config() const override {
    return keras::activation_config(*this, class_name_, activation_);
  }
  Shape output_shape(std::span<const Shape> inputs) const override { return inputs[0]; }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId>) const override {
    return add_activation(ctx, *this, inputs[0], activation_, /*own_node=*/true);
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
  nlohmann::ordered_json get_config() const override { return keras::pool_config(*this, attrs_); }
  Shape output_shape(std::span<const Shape> inputs) const override {
    check_image(*this, inputs[0]);
    return infer_one(op_, {{with_batch1(inputs[0]), DType::kF32}}, *this);
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId>) const override {
    return add_node(ctx, *this, op_, {inputs[0]});
  }

 private:
  bool max_;
  ops::PoolAttrs attrs_;
  ops::OpPtr op_;
};

class GlobalAvgPoolLayer final : public Layer {
 public:
  explicit GlobalAvgPoolLayer(bool keepdims) : keepdims_(keepdims) {}
  std::string class_name() const override { return "GlobalAveragePooling2D"; }
  nlohmann::ordered_json get_config() const override {
    return keras::global_pool_config(*this, keepdims_);
  }
  Shape output_shape(std::span<const Shape> inputs) const override {
    check_image(*this, inputs[0]);
    return keepdims_ ? Shape{1, 1, inputs[0][2]} : Shape{inputs[0][2]};
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId>) const override {
    const ValueId y = add_node(ctx, *this, ops::global_avg_pool(), {inputs[0]});
    if (!keepdims_) return y;
    const int64_t c = ctx.graph.value(y).spec.shape[1];
    return add_node(ctx, *this, ops::reshape(Shape{1, 1, c}), {y}, "/keepdims");
  }

 private:
  bool keepdims_;
};

class ReshapeLayer final : public Layer {
 public:
  // An empty target means Flatten.
  explicit ReshapeLayer(Shape target) : target_(target) {}
  std::string class_name() const override { return target_.rank() == 0 ? "Flatten" : "Reshape"; }
  nlohmann::ordered_json get_config() const override {
    return keras::reshape_config(*this, target_);
  }
  Shape output_shape(std::span<const Shape> inputs) const override {
    const int64_t n = inputs[0].num_elements();
    if (target_.rank() == 0) return Shape{n};
    LT_CHECK(target_.num_elements() == n, kInvalidArgument, "layer '", display_name(*this),
             "' (Reshape): cannot reshape ", inputs[0].to_string(), " (", n,
             " elements) to target_shape ", target_.to_string(), " (", target_.num_elements(), ")");
    return target_;
  }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId>) const override {
    const Shape& s = ctx.graph.value(inputs[0]).spec.shape;
    const Shape target = target_.rank() == 0 ? Shape{s.num_elements() / s[0]} : target_;
    return add_node(ctx, *this, ops::reshape(target), {inputs[0]});
  }

 private:
  Shape target_;
};

class DropoutLayer final : public Layer {
 public:
  explicit DropoutLayer(DropoutOptions o) : o_(std::move(o)) { ops::dropout(o_.rate, 0); }
  std::string class_name() const override { return "Dropout"; }
  nlohmann::ordered_json get_config() const override { return keras::dropout_config(*this, o_); }
  Shape output_shape(std::span<const Shape> inputs) const override { return inputs[0]; }
  ValueId build(BuildContext& ctx, std::span<const ValueId> inputs,
                std::span<const ValueId>) const override {
    if (!ctx.training || o_.rate == 0.0f) return inputs[0];
    const uint64_t salt = mix64(o_.seed ^ std::hash<std::string>{}(name()));
    return add_node(ctx, *this, ops::dropout(o_.rate, salt), {inputs[0]});
  }

 private:
  DropoutOptions o_;
};

class InputLayer final : public Layer {
 public:
  explicit InputLayer(Shape shape) : shape_(shape) {}
  std::string class_name() const override { return "InputLayer"; }
  nlohmann::ordered_json get_config() const override { return keras::input_config(*this, shape_); }
  int arity() const override { return 0; }
  Shape output_shape(std::span<const Shape>) const override { return shape_; }
  ValueId build(BuildContext& ctx, std::span<const ValueId>,
                std::span<const ValueId>) const override {
    std::vector<int64_t> dims{ctx.batch};
    for (int64_t d : shape_.dims()) dims.push_back(d);
    return ctx.graph.add_value(name(), {Shape(dims), DType::kF32}, graph::ValueKind::kInput,
                               name());
  }

 private:
  Shape shape_;
};

std::atomic<int64_t> g_call_serial{0};

}  // namespace

// ---- helpers shared with layers_merge.cc (nn/layer_util.h)

std::string display_name(const Layer& layer) {
  return layer.name().empty() ? layer.default_name() : layer.name();
}

void check_activation(const std::string& activation) {
  if (activation == "softmax") return;
  ops::ActivationKind kind;
  ops::parse_activation(activation, &kind);
}

void check_image(const Layer& layer, const Shape& input) {
  LT_CHECK(input.rank() == 3, kInvalidArgument, "layer '", display_name(layer), "' (",
           layer.class_name(), ") expects (height, width, channels) input, got ",
           input.to_string());
}

Shape with_batch1(const Shape& s) {
  std::vector<int64_t> dims{1};
  for (int64_t d : s.dims()) dims.push_back(d);
  return Shape(dims);
}

Shape infer_one(const ops::OpPtr& op, std::vector<graph::TensorSpec> in, const Layer& layer) {
  try {
    std::vector<graph::TensorSpec> out = op->infer(in);
    std::vector<int64_t> dims(out.at(0).shape.dims().begin() + 1, out.at(0).shape.dims().end());
    return Shape(dims);
  } catch (const Error& e) {
    throw Error(e.code(),
                "layer '" + display_name(layer) + "' (" + layer.class_name() + "): " + e.what());
  }
}

ValueId add_node(BuildContext& ctx, const Layer& layer, const ops::OpPtr& op,
                 std::vector<ValueId> inputs, const std::string& suffix) {
  return ctx.graph.add(op, std::move(inputs), ctx.graph.unique_name(layer.name() + suffix),
                       graph::Phase::kForward, layer.name());
}

ValueId add_activation(BuildContext& ctx, const Layer& layer, ValueId x,
                       const std::string& activation, bool own_node) {
  const std::string suffix = own_node ? "" : "/" + activation;
  if (activation == "softmax") return add_node(ctx, layer, ops::softmax(), {x}, suffix);
  ops::ActivationKind kind;
  if (!ops::parse_activation(activation, &kind)) return x;
  return add_node(ctx, layer, ops::activation(kind), {x}, suffix);
}

// ---- Layer and LayerPtr

nlohmann::ordered_json Layer::get_config() const {
  throw Error(ErrorCode::kUnimplemented, "layer '" + display_name(*this) + "' (" + class_name() +
                                             ") has no Keras config: it cannot be written as "
                                             "Keras JSON");
}

void Layer::set_name(std::string name, bool by_user) {
  name_ = std::move(name);
  named_by_user_ = by_user;
}

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

Tensor LayerPtr::operator()(const Tensor& input) const {
  return (*this)(std::vector<Tensor>{input});
}

Tensor LayerPtr::operator()(const std::vector<Tensor>& inputs) const {
  LT_CHECK(layer_ != nullptr, kInvalidArgument, "calling a null layer");
  Layer& layer = *layer_;
  const int arity = layer.arity();
  const size_t n = inputs.size();
  LT_CHECK(arity < 0 ? n >= 2 : n == static_cast<size_t>(arity), kInvalidArgument, "layer '",
           display_name(layer), "' (", layer.class_name(), ") takes ",
           arity < 0 ? std::string("two or more inputs") : std::to_string(arity) + " input(s)",
           ", got ", n);
  std::vector<Shape> shapes;
  for (const Tensor& t : inputs) {
    LT_CHECK(t.defined(), kInvalidArgument, "layer '", display_name(layer),
             "' called on an undefined tensor");
    shapes.push_back(t.shape());
  }
  auto call = std::make_shared<Tensor::Call>();
  call->layer = *this;
  call->inputs = inputs;
  call->shape = layer.output_shape(shapes);
  call->serial = g_call_serial.fetch_add(1);
  call->node_index = layer.calls_++;
  return Tensor(std::move(call));
}

Tensor Input(const InputOptions& o) {
  for (int64_t d : o.shape.dims()) {
    LT_CHECK(d > 0, kInvalidArgument, "Input: every dimension of shape must be positive, got ",
             o.shape.to_string());
  }
  return make_layer<InputLayer>(o.name, o.shape)(std::vector<Tensor>{});
}

// ---- factories

LayerPtr Conv2D(const Conv2DOptions& o) {
  return make_layer<ConvLayer>(
      o.name, false, o.filters,
      conv_attrs(o.kernel_size, o.strides, o.dilation_rate, o.padding, o.groups), o.activation,
      o.use_bias, o.kernel_initializer, o.bias_initializer, o.kernel_regularizer);
}

LayerPtr DepthwiseConv2D(const DepthwiseConv2DOptions& o) {
  return make_layer<ConvLayer>(o.name, true, o.depth_multiplier,
                               conv_attrs(o.kernel_size, o.strides, o.dilation_rate, o.padding),
                               o.activation, o.use_bias, o.depthwise_initializer,
                               o.bias_initializer, o.depthwise_regularizer);
}

LayerPtr SeparableConv2D(const SeparableConv2DOptions& o) {
  return make_layer<SeparableConvLayer>(o.name, o);
}
LayerPtr Dense(const DenseOptions& o) { return make_layer<DenseLayer>(o.name, o); }
LayerPtr BatchNormalization(const BatchNormalizationOptions& o) {
  return make_layer<BatchNormLayer>(o.name, o);
}
LayerPtr Activation(const std::string& activation, std::string name) {
  return make_layer<ActivationLayer>(name, activation, "Activation");
}
LayerPtr ReLU(const ReLUOptions& o) {
  LT_CHECK(o.max_value == 0.0f || o.max_value == 6.0f, kUnimplemented,
           "ReLU: max_value must be None or 6, got ", o.max_value);
  return make_layer<ActivationLayer>(o.name, o.max_value == 6.0f ? "relu6" : "relu", "ReLU");
}
LayerPtr Softmax(const SoftmaxOptions& o) {
  LT_CHECK(o.axis == -1, kUnimplemented, "Softmax: only axis=-1 is supported, got ", o.axis);
  return make_layer<ActivationLayer>(o.name, "softmax", "Softmax");
}
LayerPtr MaxPooling2D(const Pooling2DOptions& o) { return make_layer<PoolLayer>(o.name, true, o); }
LayerPtr AveragePooling2D(const Pooling2DOptions& o) {
  return make_layer<PoolLayer>(o.name, false, o);
}
LayerPtr GlobalAveragePooling2D(const GlobalPooling2DOptions& o) {
  return make_layer<GlobalAvgPoolLayer>(o.name, o.keepdims);
}
LayerPtr Flatten(const NameOptions& o) { return make_layer<ReshapeLayer>(o.name, Shape{}); }
LayerPtr Reshape(const ReshapeOptions& o) {
  LT_CHECK(o.target_shape.rank() >= 1, kInvalidArgument,
           "Reshape: target_shape must have at least one dimension");
  return make_layer<ReshapeLayer>(o.name, o.target_shape);
}
LayerPtr Dropout(const DropoutOptions& o) { return make_layer<DropoutLayer>(o.name, o); }

}  // namespace leantrain::nn

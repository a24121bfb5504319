// Keras-like layers with Keras' names, arguments and defaults. Options are C++20 aggregates so
// Keras' keyword arguments read the same: Conv2D({.filters = 32, .kernel_size = 3}). Every
// options struct ends in `name` (empty: Keras' default name, given by the model).
//
// A layer is called on symbolic tensors to build a functional model, as in Keras:
//   nn::Tensor inputs = nn::Input({.shape = {28, 28, 1}});
//   nn::Tensor x = nn::Conv2D({.filters = 32, .kernel_size = 3})(inputs);
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "leantrain/core/shape.h"
#include "leantrain/graph/graph.h"

namespace leantrain::nn {

// A pair of sizes that an int also converts to, as Keras accepts 3 or (3, 3).
struct Size2 {
  int64_t h = 1, w = 1;
  Size2() = default;
  Size2(int64_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose, like Keras
  Size2(int64_t h_in, int64_t w_in) : h(h_in), w(w_in) {}
  friend bool operator==(const Size2&, const Size2&) = default;
};

// keras.regularizers.L2: adds l2 * sum(kernel^2) to the loss. l2 = 0 means none.
struct Regularizer {
  float l2 = 0.0f;
  bool active() const { return l2 != 0.0f; }
};
inline Regularizer L2(float l2 = 0.01f) { return Regularizer{l2}; }

// A variable a layer owns, in Keras' save order (kernel, bias; gamma, beta, moving_mean,
// moving_variance).
struct Variable {
  std::string name;  // "kernel", "bias", ...
  Shape shape;
  std::string initializer;  // Keras name: "glorot_uniform", "zeros", "ones", "he_normal", ...
  bool trainable = true;
  int64_t fan_in = 0, fan_out = 0;  // for variance-scaling initializers
  float l2 = 0.0f;                  // L2 regularization factor (kernel_regularizer)
};

// What a layer's build() adds its nodes to.
struct BuildContext {
  graph::Graph& graph;
  int64_t batch = 1;
  bool training = false;  // batch statistics and dropout
};

class Tensor;
class LayerPtr;

// A layer: a named piece of a model that maps its inputs to one output. Immutable after
// construction except for its name, which the model assigns when the user gave none (conv2d,
// conv2d_1, ...), and its call count. Not thread-safe.
class Layer {
 public:
  virtual ~Layer() = default;
  // Keras' class name, e.g. "Conv2D".
  virtual std::string class_name() const = 0;
  // How many inputs a call takes: 1 for most layers, 0 for InputLayer, -1 for "two or more"
  // (Add, Multiply, Concatenate).
  virtual int arity() const { return 1; }
  // Output shape without the batch dimension; throws Error(kInvalidArgument) naming the layer if
  // the inputs do not fit.
  virtual Shape output_shape(std::span<const Shape> inputs) const = 0;
  // Variables for these input shapes (without batch).
  virtual std::vector<Variable> variables(std::span<const Shape> inputs) const {
    (void)inputs;
    return {};
  }
  // Adds the forward nodes; `vars` are the graph values of variables() in order. Returns the
  // output value.
  virtual graph::ValueId build(BuildContext& ctx, std::span<const graph::ValueId> inputs,
                               std::span<const graph::ValueId> vars) const = 0;
  // Keras 3's layer.get_config(): the arguments that recreate the layer, with Keras' keys, order
  // and defaults (name, trainable, dtype policy, then the layer's own), as model.to_json()
  // writes them (nn/serialization.h). Throws Error(kUnimplemented) naming the layer when it has
  // no Keras form.
  virtual nlohmann::ordered_json get_config() const;

  const std::string& name() const { return name_; }
  // True when the user named the layer (options.name); the model names the others.
  bool named_by_user() const { return named_by_user_; }
  void set_name(std::string name, bool by_user = false);
  // Keras' default name stem: to_snake_case(class_name()), e.g. "max_pooling2d".
  std::string default_name() const;
  // How many times the layer has been called on symbolic tensors.
  int calls() const { return calls_; }

 private:
  friend class LayerPtr;
  std::string name_;
  bool named_by_user_ = false;
  int calls_ = 0;
};

// A shared handle to a layer that can be called like a Keras layer: layer(x) or layer({a, b}).
class LayerPtr {
 public:
  LayerPtr() = default;
  LayerPtr(std::shared_ptr<Layer> layer) : layer_(std::move(layer)) {}  // NOLINT: a handle
  Layer* operator->() const { return layer_.get(); }
  Layer& operator*() const { return *layer_; }
  Layer* get() const { return layer_.get(); }
  explicit operator bool() const { return layer_ != nullptr; }
  friend bool operator==(const LayerPtr& a, const LayerPtr& b) { return a.layer_ == b.layer_; }

  // Calls the layer on symbolic tensors: checks arity and shapes (Error(kInvalidArgument)
  // naming the layer) and returns the output tensor.
  Tensor operator()(const Tensor& input) const;
  Tensor operator()(const std::vector<Tensor>& inputs) const;

 private:
  std::shared_ptr<Layer> layer_;
};

// A symbolic tensor: the output of an Input or of a layer call. Cheap to copy (shared).
class Tensor {
 public:
  // One call of a layer: the producer of a tensor.
  struct Call {
    LayerPtr layer;
    std::vector<Tensor> inputs;
    Shape shape;         // output shape without batch
    int64_t serial = 0;  // creation order: a topological order of all calls
    int node_index = 0;  // which call of the layer this is (Keras' node index)
  };
  Tensor() = default;
  explicit Tensor(std::shared_ptr<const Call> call) : call_(std::move(call)) {}
  bool defined() const { return call_ != nullptr; }
  // Shape without the batch dimension.
  const Shape& shape() const { return call_->shape; }
  const Call& call() const { return *call_; }
  const std::shared_ptr<const Call>& call_ptr() const { return call_; }

 private:
  std::shared_ptr<const Call> call_;
};

struct InputOptions {
  Shape shape = {};  // without batch, e.g. {224, 224, 3}
  std::string name = {};
};
// keras.Input: a symbolic input of a functional model (its layer is an InputLayer).
Tensor Input(const InputOptions& options);

struct Conv2DOptions {
  int64_t filters = 0;
  Size2 kernel_size = 1;
  Size2 strides = 1;
  std::string padding = "valid";
  Size2 dilation_rate = 1;
  int64_t groups = 1;
  std::string activation = "linear";
  bool use_bias = true;
  std::string kernel_initializer = "glorot_uniform";
  std::string bias_initializer = "zeros";
  Regularizer kernel_regularizer = {};
  std::string name = {};
};
LayerPtr Conv2D(const Conv2DOptions& options);

struct DepthwiseConv2DOptions {
  Size2 kernel_size = 1;
  Size2 strides = 1;
  std::string padding = "valid";
  int64_t depth_multiplier = 1;
  Size2 dilation_rate = 1;
  std::string activation = "linear";
  bool use_bias = true;
  std::string depthwise_initializer = "glorot_uniform";
  std::string bias_initializer = "zeros";
  Regularizer depthwise_regularizer = {};
  std::string name = {};
};
LayerPtr DepthwiseConv2D(const DepthwiseConv2DOptions& options);

// Depthwise then pointwise (1x1) convolution, one layer with variables depthwise_kernel
// (kh, kw, in, depth_multiplier), pointwise_kernel (1, 1, in*depth_multiplier, filters), bias.
struct SeparableConv2DOptions {
  int64_t filters = 0;
  Size2 kernel_size = 1;
  Size2 strides = 1;
  std::string padding = "valid";
  Size2 dilation_rate = 1;
  int64_t depth_multiplier = 1;
  std::string activation = "linear";
  bool use_bias = true;
  std::string depthwise_initializer = "glorot_uniform";
  std::string pointwise_initializer = "glorot_uniform";
  std::string bias_initializer = "zeros";
  Regularizer depthwise_regularizer = {};
  Regularizer pointwise_regularizer = {};
  std::string name = {};
};
LayerPtr SeparableConv2D(const SeparableConv2DOptions& options);

struct DenseOptions {
  int64_t units = 0;
  std::string activation = "linear";
  bool use_bias = true;
  std::string kernel_initializer = "glorot_uniform";
  std::string bias_initializer = "zeros";
  Regularizer kernel_regularizer = {};
  std::string name = {};
};
LayerPtr Dense(const DenseOptions& options);

struct BatchNormalizationOptions {
  int axis = -1;  // only the channel axis (-1 or 3 for images) is supported
  float momentum = 0.99f;
  float epsilon = 1e-3f;
  std::string name = {};
};
LayerPtr BatchNormalization(const BatchNormalizationOptions& options = {});

// Activation by Keras name: relu, relu6, sigmoid, tanh, swish/silu, softmax, linear.
LayerPtr Activation(const std::string& activation, std::string name = "");
struct ReLUOptions {
  float max_value = 0.0f;  // 0 means None; only None or 6 are supported
  std::string name = {};
};
LayerPtr ReLU(const ReLUOptions& options = {});
struct SoftmaxOptions {
  int axis = -1;  // only the last axis is supported
  std::string name = {};
};
LayerPtr Softmax(const SoftmaxOptions& options = {});

struct Pooling2DOptions {
  Size2 pool_size = 2;
  Size2 strides = 0;  // 0 means None: the pool size, as Keras
  std::string padding = "valid";
  std::string name = {};
};
LayerPtr MaxPooling2D(const Pooling2DOptions& options = {});
LayerPtr AveragePooling2D(const Pooling2DOptions& options = {});
struct GlobalPooling2DOptions {
  bool keepdims = false;  // true: (1, 1, C) instead of (C,)
  std::string name = {};
};
LayerPtr GlobalAveragePooling2D(const GlobalPooling2DOptions& options = {});

struct NameOptions {
  std::string name = {};
};
LayerPtr Flatten(const NameOptions& options = {});
struct ReshapeOptions {
  Shape target_shape = {};  // without batch
  std::string name = {};
};
LayerPtr Reshape(const ReshapeOptions& options);

struct DropoutOptions {
  float rate = 0.5f;
  uint64_t seed = 0;  // mixed with the run seed and the layer name
  std::string name = {};
};
LayerPtr Dropout(const DropoutOptions& options);

// ZeroPadding2D: padding ((top, bottom), (left, right)); an int or Size2 pads symmetrically.
struct ZeroPadding2DOptions {
  Size2 padding = 1;            // symmetric (h, w) when top_bottom/left_right are unset
  Size2 top_bottom = {-1, -1};  // explicit ((top, bottom), ...)
  Size2 left_right = {-1, -1};  // explicit (..., (left, right))
  std::string name = {};
};
LayerPtr ZeroPadding2D(const ZeroPadding2DOptions& options = {});

// Rescaling: x * scale + offset.
struct RescalingOptions {
  float scale = 1.0f;
  float offset = 0.0f;
  std::string name = {};
};
LayerPtr Rescaling(const RescalingOptions& options);

// Resizing to (height, width) with bilinear interpolation (Keras' default; half-pixel centres,
// no antialiasing, as tf.image.resize).
struct ResizingOptions {
  int64_t height = 0, width = 0;
  std::string interpolation = "bilinear";
  std::string name = {};
};
LayerPtr Resizing(const ResizingOptions& options);

// Merging layers: two or more inputs.
LayerPtr Add(const NameOptions& options = {});
LayerPtr Multiply(const NameOptions& options = {});
struct ConcatenateOptions {
  int axis = -1;  // only the last (channel) axis is supported
  std::string name = {};
};
LayerPtr Concatenate(const ConcatenateOptions& options = {});

// ---- Layers of the model zoo (src/nn/layers_extra.cc).

// keras.layers.Normalization(axis=-1): y = (x - mean) / max(sqrt(variance), 1e-7) per channel.
// Variables as Keras' (all non-trainable): mean (C,) zeros, variance (C,) ones, and count () zeros
// (the number of examples adapt() saw; unused by the computation, kept for Keras' weight layout
// and parameter count: 2 C + 1). Until mean and variance are set (load_weights, set_weights) the
// layer is the identity, as a Keras Normalization built with weights=None. Supported: the
// channel axis only; Keras' constant mean=/variance= arguments and invert=True are not.
struct NormalizationOptions {
  int axis = -1;  // Keras counts the batch: -1, or 3 for (H, W, C) images
  std::string name = {};
};
LayerPtr Normalization(const NormalizationOptions& options = {});

// A None entry of a noise shape: the input's own size there (the batch).
constexpr int64_t kNoneDim = -1;
// keras.layers.Dropout(rate, noise_shape, seed): `noise_shape` has the input's rank with the batch
// (each entry kNoneDim, the input's size or 1). All non-batch entries 1, as EfficientNet's
// (None, 1, 1, 1): one keep/drop draw per example (stochastic depth), the kept examples scaled by
// 1 / (1 - rate). The input's own shape: ordinary Dropout. Other noise shapes throw
// Error(kUnimplemented) naming them when the layer is called; a noise shape of the wrong rank,
// Error(kInvalidArgument). In inference the layer is the identity.
LayerPtr Dropout(const DropoutOptions& options, const std::vector<int64_t>& noise_shape);

// keras.layers.GlobalMaxPooling2D: (H, W, C) -> (C,), or (1, 1, C) with keepdims.
LayerPtr GlobalMaxPooling2D(const GlobalPooling2DOptions& options = {});

// keras.initializers.VarianceScaling(scale, mode, distribution), which a Variable names
// "variance_scaling_<mode>_<distribution>_<scale>", the scale as Python's repr() writes it:
// "variance_scaling_fan_out_truncated_normal_2.0". With n = fan_in, fan_out or their mean (by
// mode) and s = scale / max(1, n): truncated_normal draws from a normal of stddev
// sqrt(s) / 0.87962566103423978 truncated at two stddevs, untruncated_normal from a normal of
// stddev sqrt(s), uniform from [-sqrt(3 s), sqrt(3 s)].
struct VarianceScaling {
  double scale = 1.0;                             // > 0
  std::string mode = "fan_in";                    // "fan_in", "fan_out" or "fan_avg"
  std::string distribution = "truncated_normal";  // or "untruncated_normal", "uniform"
};
// The initializer name for `v`; throws Error(kInvalidArgument) for a bad scale, mode or
// distribution.
std::string variance_scaling_name(const VarianceScaling& v);
// Parses a name variance_scaling_name() makes; returns false (leaving `out` alone) for any other
// string.
bool parse_variance_scaling(const std::string& name, VarianceScaling* out);

}  // namespace leantrain::nn

// Keras-like layers with Keras' names, arguments and defaults. Options are C++20 aggregates so
// Keras' keyword arguments read the same: Conv2D({.filters = 32, .kernel_size = 3}).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "leantrain/core/shape.h"
#include "leantrain/graph/graph.h"

namespace leantrain::nn {

// A pair of sizes that an int also converts to, as Keras accepts 3 or (3, 3).
struct Size2 {
  int64_t h = 1, w = 1;
  Size2() = default;
  Size2(int64_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose, like Keras
  Size2(int64_t h_in, int64_t w_in) : h(h_in), w(w_in) {}
};

// A variable a layer owns, in Keras' save order (kernel, bias; gamma, beta, moving_mean,
// moving_variance).
struct Variable {
  std::string name;  // "kernel", "bias", ...
  Shape shape;
  std::string initializer;  // Keras name: "glorot_uniform", "zeros", "ones", "he_normal", ...
  bool trainable = true;
  int64_t fan_in = 0, fan_out = 0;  // for variance-scaling initializers
};

// A layer: a named piece of a model that maps one input to one output. Layers are immutable
// after construction except for their name, which the model assigns (conv2d, conv2d_1, ...).
class Layer {
 public:
  virtual ~Layer() = default;
  // Keras' class name, e.g. "Conv2D".
  virtual std::string class_name() const = 0;
  // Output shape without the batch dimension; throws Error(kInvalidArgument) naming the layer if
  // the input does not fit.
  virtual Shape output_shape(const Shape& input) const = 0;
  // Variables for this input shape (without batch).
  virtual std::vector<Variable> variables(const Shape& input) const {
    (void)input;
    return {};
  }
  // Adds the forward nodes; `vars` are the graph values of variables() in order. `training`
  // selects batch statistics and dropout. Returns the output value.
  virtual graph::ValueId build(graph::Graph& g, graph::ValueId input,
                               std::span<const graph::ValueId> vars, bool training) const = 0;

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  // Keras' default name stem: to_snake_case(class_name()), e.g. "max_pooling2d".
  std::string default_name() const;

 private:
  std::string name_;
};

using LayerPtr = std::shared_ptr<Layer>;

struct Conv2DOptions {
  int64_t filters = 0;
  Size2 kernel_size = 1;
  Size2 strides = 1;
  std::string padding = "valid";
  Size2 dilation_rate = 1;
  std::string activation = "linear";
  bool use_bias = true;
  std::string kernel_initializer = "glorot_uniform";
  std::string bias_initializer = "zeros";
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
};
LayerPtr DepthwiseConv2D(const DepthwiseConv2DOptions& options);

struct DenseOptions {
  int64_t units = 0;
  std::string activation = "linear";
  bool use_bias = true;
  std::string kernel_initializer = "glorot_uniform";
  std::string bias_initializer = "zeros";
};
LayerPtr Dense(const DenseOptions& options);

struct BatchNormalizationOptions {
  float momentum = 0.99f;
  float epsilon = 1e-3f;
};
LayerPtr BatchNormalization(const BatchNormalizationOptions& options = {});

// Activation by Keras name; ReLU with Keras' max_value (only None or 6 are supported).
LayerPtr Activation(const std::string& name);
struct ReLUOptions {
  float max_value = 0.0f;  // 0 means None
};
LayerPtr ReLU(const ReLUOptions& options = {});

struct Pooling2DOptions {
  Size2 pool_size = 2;
  Size2 strides = 0;  // 0 means None: the pool size, as Keras
  std::string padding = "valid";
};
LayerPtr MaxPooling2D(const Pooling2DOptions& options = {});
LayerPtr AveragePooling2D(const Pooling2DOptions& options = {});
LayerPtr GlobalAveragePooling2D();
LayerPtr Flatten();

struct DropoutOptions {
  float rate = 0.5f;
  uint64_t seed = 0;  // mixed with the run seed and the layer name
};
LayerPtr Dropout(const DropoutOptions& options);

}  // namespace leantrain::nn

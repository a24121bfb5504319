// A linear stack of layers with a fixed input shape, as keras.Sequential.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "leantrain/nn/layers.h"

namespace leantrain::nn {

// One variable of a model, named "<layer>/<variable>" as in the saved weights.
struct ModelVariable {
  std::string layer;
  Variable variable;
  std::string full_name() const { return layer + "/" + variable.name; }
};

// The graph values a model added for one batch size and mode.
struct BuiltModel {
  graph::ValueId input = graph::kNoValue;   // (N, H, W, C) f32, named "input"
  graph::ValueId output = graph::kNoValue;  // the last layer's output
};

// Layers are named at construction (Keras' snake_case stems, numbered per model: conv2d,
// conv2d_1, ...). Immutable afterwards. Not thread-safe.
class Sequential {
 public:
  // `input_shape` excludes the batch dimension, e.g. {28, 28, 1}. Throws Error(kInvalidArgument)
  // naming the first layer whose input does not fit.
  Sequential(Shape input_shape, std::vector<LayerPtr> layers, std::string name = "sequential");

  const std::string& name() const { return name_; }
  const Shape& input_shape() const { return input_shape_; }
  const std::vector<LayerPtr>& layers() const { return layers_; }
  // Output shape of layer i (without batch).
  const Shape& output_shape(size_t i) const { return shapes_.at(i + 1); }
  const Shape& output_shape() const { return shapes_.back(); }
  // Every variable, layer by layer in Keras' order.
  std::vector<ModelVariable> variables() const;
  int64_t count_params(bool trainable) const;

  // Adds input, variables (kParameter / kState values named "<layer>/<variable>") and forward
  // nodes for a batch of `batch` to `g`.
  BuiltModel build(graph::Graph& g, int64_t batch, bool training) const;

  // Keras' model.summary() table (the rich box format, 88 columns): Layer (type), Output Shape,
  // Param #, then Total / Trainable / Non-trainable params with their sizes.
  std::string summary() const;

 private:
  std::string name_;
  Shape input_shape_;
  std::vector<LayerPtr> layers_;
  std::vector<Shape> shapes_;  // shapes_[0] = input, shapes_[i + 1] = output of layer i
};

}  // namespace leantrain::nn

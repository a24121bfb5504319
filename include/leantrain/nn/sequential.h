// A linear stack of layers with a fixed input shape, as keras.Sequential.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "leantrain/nn/model.h"

namespace leantrain::nn {

// A Model whose layers are called one after another on one input. Layers are named as in any
// Model (Keras' snake_case stems, numbered per model: conv2d, conv2d_1, ...).
class Sequential : public Model {
 public:
  // `input_shape` excludes the batch dimension, e.g. {28, 28, 1}. Throws Error(kInvalidArgument)
  // naming the first layer whose input does not fit.
  Sequential(Shape input_shape, std::vector<LayerPtr> layers, std::string name = "sequential");

 private:
  Sequential(std::pair<Tensor, Tensor> input_output, std::string name);
};

}  // namespace leantrain::nn

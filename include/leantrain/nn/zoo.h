// Named models the command line can build.
#pragma once

#include <string>
#include <vector>

#include "leantrain/nn/sequential.h"

namespace leantrain::nn {

// "cnn": the classic Keras MNIST convnet: Conv2D 32 3x3 relu, MaxPooling2D 2, Conv2D 64 3x3
// relu, MaxPooling2D 2, Flatten, Dense 128 relu, Dropout 0.5, Dense `classes` (logits).
Sequential make_cnn(const Shape& input_shape, int64_t classes, uint64_t seed = 0);

// Names accepted by make_model().
std::vector<std::string> model_names();
// Builds a named model; throws Error(kNotFound) listing the names for an unknown one.
Sequential make_model(const std::string& name, const Shape& input_shape, int64_t classes,
                      uint64_t seed = 0);

}  // namespace leantrain::nn

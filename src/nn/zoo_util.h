// Helpers the zoo's model builders share: Keras Applications' input checks, padding and filter
// rounding rules, and the classifier or pooling top.
#pragma once

#include <cstdint>
#include <string>

#include "leantrain/nn/layers.h"

namespace leantrain::nn::zoo {

// Throws Error(kInvalidArgument) naming `model` unless `shape` is (rows, cols, channels) with
// rows, cols >= 32 (Keras' min_size) and channels >= 1.
void check_input_shape(const std::string& model, const Shape& shape);
// Throws Error(kInvalidArgument) naming `model` unless classes >= 1 and pooling is "", "avg" or
// "max"; Error(kUnimplemented) unless the classifier activation is supported.
void check_top(const std::string& model, int64_t classes, const std::string& pooling,
               const std::string& classifier_activation);
// Keras' None is "linear" here.
std::string activation_or_linear(const std::string& activation);

// imagenet_utils.correct_pad: the ((top, bottom), (left, right)) zero padding before a strided
// "valid" convolution of kernel k over an (h, w) image, which places the window as TF's "same"
// would: ((k/2 - 1 + h%2, k/2), (k/2 - 1 + w%2, k/2)).
ZeroPadding2DOptions correct_pad(const Shape& image, int64_t kernel, std::string name);

// mobilenet_v2._make_divisible / efficientnet's round_filters: v rounded to the nearest multiple
// of `divisor` (at least `divisor`), rounded up once more when that loses more than 10%.
int64_t make_divisible(double v, int64_t divisor = 8);

// "%.2f" of alpha, as Keras' f"{alpha:0.2f}" in the model names.
std::string alpha_text(double alpha);

}  // namespace leantrain::nn::zoo

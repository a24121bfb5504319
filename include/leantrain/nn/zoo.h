// Named models: Keras Applications' MobileNet, MobileNetV2 and EfficientNetB0 (weights=None:
// random initialization, we never download), and the classic MNIST convnet the command line
// starts with.
//
// The application models are Keras 3's (keras/src/applications/mobilenet.py, mobilenet_v2.py,
// efficientnet.py) layer for layer: the same layer names, order and count (model.layers, input
// layer included), output shapes, initializers and batch-norm settings, so their parameter
// totals equal Keras' (MobileNet 4,253,864; MobileNetV2 3,538,984; EfficientNetB0 5,330,571 at
// 224x224x3 with 1000 classes). Keras' differences in API: the input shape is always static
// (default 224x224x3, also without the top), and an empty or "linear" classifier_activation
// means Keras' None (logits).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "leantrain/nn/model.h"
#include "leantrain/nn/sequential.h"

namespace leantrain::nn {

// EfficientNet's kernel initializers, Keras' VarianceScaling variants under the names
// variance_scaling_name() gives them (layers.h):
// CONV_KERNEL_INITIALIZER: VarianceScaling(scale=2.0, mode="fan_out",
// distribution="truncated_normal"): truncated normal, stddev sqrt(2 / fan_out) before Keras'
// truncation correction (/ 0.87962566103423978).
inline constexpr const char* kEfficientNetConvInitializer =
    "variance_scaling_fan_out_truncated_normal_2.0";
// DENSE_KERNEL_INITIALIZER: VarianceScaling(scale=1/3, mode="fan_out", distribution="uniform"):
// uniform in +-sqrt(3 * scale / fan_out) = +-sqrt(1 / fan_out).
inline constexpr const char* kEfficientNetDenseInitializer =
    "variance_scaling_fan_out_uniform_0.3333333333333333";

// keras.applications.MobileNet's arguments (weights=None, input_tensor=None).
struct MobileNetOptions {
  Shape input_shape = {224, 224, 3};  // (rows, cols, channels), rows and cols >= 32
  double alpha = 1.0;                 // width multiplier: filters = int(filters * alpha)
  int64_t depth_multiplier = 1;       // of the depthwise convolutions
  float dropout = 1e-3f;              // before the classifier
  bool include_top = true;
  std::string pooling = "";  // without the top: "" (the 4-D features), "avg" or "max"
  int64_t classes = 1000;
  std::string classifier_activation = "softmax";  // "" or "linear": logits
  std::string name = {};                          // default "mobilenet_{alpha:.2f}_{rows}"
};
// Throws Error(kInvalidArgument) naming the argument for an input smaller than 32x32 or not
// (rows, cols, channels), alpha <= 0, depth_multiplier < 1, classes < 1, a pooling other than
// "", "avg" or "max", or a dropout outside [0, 1); Error(kUnimplemented) for a classifier
// activation Activation() does not support.
Model MobileNet(const MobileNetOptions& options = {});

// keras.applications.MobileNetV2's arguments (weights=None, input_tensor=None).
struct MobileNetV2Options {
  Shape input_shape = {224, 224, 3};  // rows and cols >= 32, any channel count
  double alpha = 1.0;                 // width multiplier (filters rounded to multiples of 8)
  bool include_top = true;
  std::string pooling = "";
  int64_t classes = 1000;
  std::string classifier_activation = "softmax";
  std::string name = {};  // default "mobilenetv2_{alpha:.2f}_{rows}"
};
// Throws as MobileNet() does.
Model MobileNetV2(const MobileNetV2Options& options = {});

// keras.applications.EfficientNetB0's arguments (weights=None, input_tensor=None). Its stem
// rescales by 1/255 and standardizes with a Normalization layer whose mean and variance stay
// at 0 and 1 (as Keras' with weights=None) until set.
struct EfficientNetOptions {
  Shape input_shape = {224, 224, 3};  // rows and cols >= 32
  bool include_top = true;
  std::string pooling = "";
  int64_t classes = 1000;
  std::string classifier_activation = "softmax";
  std::string name = "efficientnetb0";
};
// Throws as MobileNet() does. Its kernels use kEfficientNetConvInitializer and
// kEfficientNetDenseInitializer.
Model EfficientNetB0(const EfficientNetOptions& options = {});

// "cnn": the classic Keras MNIST convnet: Conv2D 32 3x3 relu, MaxPooling2D 2, Conv2D 64 3x3
// relu, MaxPooling2D 2, Flatten, Dense 128 relu, Dropout 0.5, Dense `classes` (logits).
Sequential make_cnn(const Shape& input_shape, int64_t classes, uint64_t seed = 0);

// Options of make_model() beyond the input and the classes.
struct ZooOptions {
  double alpha = 1.0;            // width multiplier: "mobilenet" and "mobilenet_v2" only
  int64_t depth_multiplier = 1;  // "mobilenet" only
};

// Names accepted by make_model(): "cnn", "mobilenet", "mobilenet_v2", "efficientnet_b0".
std::vector<std::string> model_names();
// The input shape and number of classes a named model is built with when the caller has none
// (no data to read them from).
struct ZooDefaults {
  Shape input_shape;
  int64_t classes = 0;
};
// Returns Keras Applications' defaults, 224x224x3 and ImageNet's 1000 classes, for
// "mobilenet", "mobilenet_v2" and "efficientnet_b0", and Fashion-MNIST's 28x28x1 and 10 classes
// for "cnn". Throws Error(kNotFound) listing the names for an unknown one.
ZooDefaults zoo_defaults(const std::string& name);

// Builds a named model with `classes` outputs as logits (the application models with
// include_top=true and classifier_activation=None). `seed` seeds the cnn's Dropout layer; the
// application models' dropout draws vary with the training run's seed only, as Keras' set no
// seed. Throws Error(kNotFound) listing the names for an unknown one, Error(kInvalidArgument)
// for an option the model does not take (alpha != 1 for "cnn" or "efficientnet_b0",
// depth_multiplier != 1 other than for "mobilenet") and as the model's builder throws.
Model make_model(const std::string& name, const Shape& input_shape, int64_t classes,
                 uint64_t seed = 0, const ZooOptions& options = {});

}  // namespace leantrain::nn

// make_model(): the command line's named models, and the classic MNIST convnet. The Keras
// Applications models are in zoo_mobilenet.cc and zoo_efficientnet.cc.
#include "leantrain/nn/zoo.h"

#include <algorithm>

#include "leantrain/core/error.h"

namespace leantrain::nn {

Sequential make_cnn(const Shape& input_shape, int64_t classes, uint64_t seed) {
  return Sequential(input_shape,
                    {
                        Conv2D({.filters = 32, .kernel_size = 3, .activation = "relu"}),
                        MaxPooling2D({.pool_size = 2}),
                        Conv2D({.filters = 64, .kernel_size = 3, .activation = "relu"}),
                        MaxPooling2D({.pool_size = 2}),
                        Flatten(),
                        Dense({.units = 128, .activation = "relu"}),
                        Dropout({.rate = 0.5f, .seed = seed}),
                        Dense({.units = classes}),
                    },
                    "cnn");
}

std::vector<std::string> model_names() {
  return {"cnn", "mobilenet", "mobilenet_v2", "efficientnet_b0"};
}

namespace {

// Throws Error(kNotFound) listing the names when `name` is not one of model_names().
void check_known(const std::string& name) {
  const std::vector<std::string> names = model_names();
  if (std::find(names.begin(), names.end(), name) != names.end()) return;
  std::string list;
  for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::kNotFound, "unknown model '" + name + "'; known models: " + list);
}

}  // namespace

ZooDefaults zoo_defaults(const std::string& name) {
  check_known(name);
  if (name == "cnn") return {.input_shape = Shape{28, 28, 1}, .classes = 10};
  return {.input_shape = Shape{224, 224, 3}, .classes = 1000};
}

Model make_model(const std::string& name, const Shape& input_shape, int64_t classes, uint64_t seed,
                 const ZooOptions& options) {
  check_known(name);
  LT_CHECK(options.alpha == 1.0 || name == "mobilenet" || name == "mobilenet_v2", kInvalidArgument,
           "model '", name,
           "' has no width multiplier; alpha applies to mobilenet and mobilenet_v2, got alpha=",
           options.alpha);
  LT_CHECK(options.depth_multiplier == 1 || name == "mobilenet", kInvalidArgument, "model '", name,
           "' has no depth multiplier; it applies to mobilenet, got depth_multiplier=",
           options.depth_multiplier);
  if (name == "cnn") return make_cnn(input_shape, classes, seed);
  // The application models with their top, as logits (Keras' classifier_activation=None).
  if (name == "mobilenet") {
    return MobileNet({.input_shape = input_shape,
                      .alpha = options.alpha,
                      .depth_multiplier = options.depth_multiplier,
                      .classes = classes,
                      .classifier_activation = ""});
  }
  if (name == "mobilenet_v2") {
    return MobileNetV2({.input_shape = input_shape,
                        .alpha = options.alpha,
                        .classes = classes,
                        .classifier_activation = ""});
  }
  return EfficientNetB0(
      {.input_shape = input_shape, .classes = classes, .classifier_activation = ""});
}

}  // namespace leantrain::nn

// Keras Applications' shared rules (keras/src/applications/imagenet_utils.py and the model
// files), for the zoo's builders.
#include "nn/zoo_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "leantrain/core/error.h"
#include "nn/layer_util.h"

namespace leantrain::nn::zoo {

void check_input_shape(const std::string& model, const Shape& shape) {
  LT_CHECK(shape.rank() == 3, kInvalidArgument, model,
           ": input_shape must be (rows, cols, channels), got ", shape.to_string());
  LT_CHECK(shape[0] >= 32 && shape[1] >= 32 && shape[2] >= 1, kInvalidArgument, model,
           ": input size must be at least 32x32 with one or more channels, got ", shape.to_string(),
           "; resize the images (e.g. a Resizing layer or a data-side resize)");
}

void check_top(const std::string& model, int64_t classes, const std::string& pooling,
               const std::string& classifier_activation) {
  LT_CHECK(classes >= 1, kInvalidArgument, model, ": classes must be positive, got ", classes);
  LT_CHECK(pooling.empty() || pooling == "avg" || pooling == "max", kInvalidArgument, model,
           ": pooling must be \"\" (none), \"avg\" or \"max\", got \"", pooling, "\"");
  check_activation(activation_or_linear(classifier_activation));
}

std::string activation_or_linear(const std::string& activation) {
  return activation.empty() ? "linear" : activation;
}

ZeroPadding2DOptions correct_pad(const Shape& image, int64_t kernel, std::string name) {
  const int64_t half = kernel / 2;
  const int64_t adjust_h = 1 - image[0] % 2, adjust_w = 1 - image[1] % 2;
  return {.top_bottom = {half - adjust_h, half},
          .left_right = {half - adjust_w, half},
          .name = std::move(name)};
}

int64_t make_divisible(double v, int64_t divisor) {
  const double d = static_cast<double>(divisor);
  // Python: max(divisor, int(v + divisor / 2) // divisor * divisor); int() truncates and v > 0.
  int64_t rounded = static_cast<int64_t>(v + d / 2) / divisor * divisor;
  rounded = std::max(divisor, rounded);
  if (static_cast<double>(rounded) < 0.9 * v) rounded += divisor;
  return rounded;
}

std::string alpha_text(double alpha) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", alpha);
  return buf;
}

}  // namespace leantrain::nn::zoo

#include "leantrain/nn/zoo.h"

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

std::vector<std::string> model_names() { return {"cnn"}; }

Sequential make_model(const std::string& name, const Shape& input_shape, int64_t classes,
                      uint64_t seed) {
  if (name == "cnn") return make_cnn(input_shape, classes, seed);
  std::string known;
  for (const std::string& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::kNotFound, "unknown model '" + name + "'; known models: " + known);
}

}  // namespace leantrain::nn

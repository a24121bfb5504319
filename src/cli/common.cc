#include <sstream>

#include "cli/commands.h"
#include "leantrain/core/error.h"
#include "leantrain/train/trainer.h"

namespace leantrain::cli {

Shape parse_shape(const std::string& text) {
  std::vector<int64_t> dims;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, 'x')) {
    try {
      size_t used = 0;
      const long long d = std::stoll(part, &used);
      if (used != part.size() || d <= 0) throw std::invalid_argument(part);
      dims.push_back(d);
    } catch (const std::exception&) {
      throw Error(ErrorCode::kInvalidArgument,
                  "bad shape '" + text + "': expected positive sizes like 28x28x1");
    }
  }
  LT_CHECK(!dims.empty(), kInvalidArgument, "bad shape '", text, "': expected e.g. 28x28x1");
  return Shape(dims);
}

std::string shape_arg(const Shape& shape) {
  std::string text;
  for (const int64_t d : shape.dims()) text += (text.empty() ? "" : "x") + std::to_string(d);
  return text;
}

train::ModelRequest model_request(const std::string& input, int64_t classes) {
  train::ModelRequest request;
  if (!input.empty()) request.input_shape = parse_shape(input);
  if (classes > 0) request.classes = classes;
  return request;
}

train::Optimizer make_optimizer(const std::string& name, float learning_rate, float momentum,
                                bool nesterov) {
  if (name == "adam") {
    train::AdamOptions o;
    if (learning_rate > 0) o.learning_rate = learning_rate;
    return train::Adam(o);
  }
  if (name == "adamw") {
    train::AdamWOptions o;
    if (learning_rate > 0) o.learning_rate = learning_rate;
    return train::AdamW(o);
  }
  if (name == "sgd") {
    train::SGDOptions o;
    if (learning_rate > 0) o.learning_rate = learning_rate;
    o.momentum = momentum;
    o.nesterov = nesterov;
    return train::SGD(o);
  }
  throw Error(ErrorCode::kInvalidArgument,
              "unknown optimizer '" + name + "'; use adam, adamw or sgd");
}

}  // namespace leantrain::cli

#include "leantrain/train/loss.h"

#include "leantrain/core/error.h"

namespace leantrain::train {

std::string Loss::name() const {
  switch (kind) {
    case Kind::kSparseCategoricalCrossentropy:
      return "sparse_categorical_crossentropy";
    case Kind::kCategoricalCrossentropy:
      return "categorical_crossentropy";
    case Kind::kBinaryCrossentropy:
      return "binary_crossentropy";
    case Kind::kMeanSquaredError:
      return "mean_squared_error";
  }
  return "?";
}

Loss Loss::parse(const std::string& name, bool from_logits) {
  if (name == "sparse_categorical_crossentropy") {
    return SparseCategoricalCrossentropy({.from_logits = from_logits});
  }
  if (name == "categorical_crossentropy") {
    return CategoricalCrossentropy({.from_logits = from_logits});
  }
  if (name == "binary_crossentropy") return BinaryCrossentropy({.from_logits = from_logits});
  if (name == "mean_squared_error" || name == "mse") return MeanSquaredError();
  throw Error(ErrorCode::kInvalidArgument,
              "unknown loss '" + name +
                  "'; supported: sparse_categorical_crossentropy, categorical_crossentropy, "
                  "binary_crossentropy, mean_squared_error");
}

Loss SparseCategoricalCrossentropy(const LossOptions& o) {
  return {Loss::Kind::kSparseCategoricalCrossentropy, o.from_logits};
}
Loss CategoricalCrossentropy(const LossOptions& o) {
  return {Loss::Kind::kCategoricalCrossentropy, o.from_logits};
}
Loss BinaryCrossentropy(const LossOptions& o) {
  return {Loss::Kind::kBinaryCrossentropy, o.from_logits};
}
Loss MeanSquaredError() { return {Loss::Kind::kMeanSquaredError, false}; }

}  // namespace leantrain::train

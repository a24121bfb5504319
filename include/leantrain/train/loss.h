// Keras' losses and metrics: what the training step minimizes and reports.
#pragma once

#include <string>
#include <utility>

namespace leantrain::train {

// Keras' losses. The labels a loss reads: sparse -> integer class ids; categorical -> one-hot
// rows of the output's width; binary -> 0/1 per output unit; mean squared error -> the one-hot
// rows of the class ids (a classifier trained on MSE).
struct Loss {
  enum class Kind {
    kSparseCategoricalCrossentropy,
    kCategoricalCrossentropy,
    kBinaryCrossentropy,
    kMeanSquaredError
  } kind = Kind::kSparseCategoricalCrossentropy;
  bool from_logits = false;
  // Keras' name, e.g. "sparse_categorical_crossentropy".
  std::string name() const;
  // Parses Keras' loss names ("sparse_categorical_crossentropy", "categorical_crossentropy",
  // "binary_crossentropy", "mean_squared_error"/"mse"); throws Error(kInvalidArgument) listing
  // them otherwise.
  static Loss parse(const std::string& name, bool from_logits = false);
};
struct LossOptions {
  bool from_logits = false;
};
Loss SparseCategoricalCrossentropy(const LossOptions& o = {});
Loss CategoricalCrossentropy(const LossOptions& o = {});
Loss BinaryCrossentropy(const LossOptions& o = {});
Loss MeanSquaredError();

// A metric by Keras name: "accuracy" (resolved against the loss as Keras does),
// "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy",
// "sparse_top_k_categorical_accuracy" (k, default 5; reported under `name` or
// "sparse_top_k_categorical_accuracy").
struct Metric {
  std::string kind;
  int k = 5;
  std::string name;  // the logs key; default: kind ("accuracy" stays "accuracy")
  Metric(const char* kind_in) : kind(kind_in) {}  // NOLINT: "accuracy" reads like Keras
  Metric(std::string kind_in, int k_in = 5, std::string name_in = "")
      : kind(std::move(kind_in)), k(k_in), name(std::move(name_in)) {}
};

}  // namespace leantrain::train

// What fit() is given (FitOptions) and what fit() and evaluate() return (History, EvalResult).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "leantrain/data/dataset.h"
#include "leantrain/data/idx.h"
#include "leantrain/train/callbacks.h"

namespace leantrain::train {

struct FitOptions {
  int epochs = 1;
  int64_t batch_size = 32;  // images only: a Dataset brings its own batches
  bool shuffle = true;      // images only: a Dataset shuffles itself (Dataset::shuffle)
  // Data to validate on after each epoch (at most one): images, batched by batch_size; or a
  // Dataset of the same features as the training one.
  std::optional<data::ImagesView> validation_data = {};
  const data::Dataset* validation_dataset = nullptr;
  std::vector<CallbackPtr> callbacks = {};
  int initial_epoch = 0;  // epochs run from initial_epoch to epochs - 1, as Keras
  // 0: the whole training set each epoch. With a Dataset, each epoch is a fresh iteration
  // (Dataset::iterate(epoch)) of which at most this many batches are trained on.
  int64_t steps_per_epoch = 0;
  // After each epoch, sets every BatchNormalization's moving statistics to the population
  // statistics of this many training batches run forward in training mode with the weights
  // frozen ("precise BN"); 0: off, Keras' exponential moving averages only. Helps when a slow
  // momentum (MobileNetV2's 0.999) has not forgotten the initial values (mean 0, variance 1)
  // after a short run.
  int64_t recalibrate_batch_norm_steps = 0;
  int verbose = 1;              // 0 silent, 1 progress bar, 2 one line per epoch
  std::ostream* out = nullptr;  // default std::cout
};

struct EpochLogs {
  int epoch = 0;                 // 1-based
  Logs logs;                     // "loss", metrics, "val_loss", "val_<metric>", "learning_rate"
  double seconds = 0;            // wall time of the training steps (validation excluded)
  double images_per_second = 0;  // training images / seconds
  int64_t steps = 0;             // training steps run in the epoch
  int64_t skipped = 0;           // input elements a Dataset's OnError::kSkip dropped
  // The value of `key`, or NaN when the epoch has none.
  double get(const std::string& key) const;
};

struct History {
  std::vector<EpochLogs> epochs;
};

// "loss" and each metric, as Keras' evaluate(return_dict=True).
struct EvalResult {
  Logs logs;
  int64_t examples = 0;  // the images evaluated
  double loss() const { return logs.at("loss"); }
};

}  // namespace leantrain::train

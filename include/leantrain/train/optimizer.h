// Keras' optimizers (SGD, Adam, AdamW) with their defaults: what the training step's update
// nodes compute.
#pragma once

#include <string>

#include "leantrain/train/callbacks.h"

namespace leantrain::train {

// Keras' optimizers and defaults.
struct Optimizer {
  enum class Kind { kSgd, kAdam, kAdamW } kind = Kind::kAdam;
  float learning_rate = 0.001f;
  float momentum = 0.0f;                                  // SGD
  bool nesterov = false;                                  // SGD
  float beta_1 = 0.9f, beta_2 = 0.999f, epsilon = 1e-7f;  // Adam, AdamW
  float weight_decay = 0.0f;                              // AdamW (Keras default 0.004)
  LearningRateSchedule schedule =
      nullptr;  // when set, the learning rate of each step (over iterations)
  std::string name() const;
};
struct SGDOptions {
  float learning_rate = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
};
struct AdamOptions {
  float learning_rate = 0.001f;
  float beta_1 = 0.9f, beta_2 = 0.999f, epsilon = 1e-7f;
};
struct AdamWOptions {
  float learning_rate = 0.001f;
  float weight_decay = 0.004f;
  float beta_1 = 0.9f, beta_2 = 0.999f, epsilon = 1e-7f;
};
Optimizer SGD(const SGDOptions& o = {});
Optimizer Adam(const AdamOptions& o = {});
Optimizer AdamW(const AdamWOptions& o = {});

}  // namespace leantrain::train

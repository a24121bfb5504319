#include "leantrain/train/optimizer.h"

namespace leantrain::train {

std::string Optimizer::name() const {
  switch (kind) {
    case Kind::kSgd:
      return "SGD";
    case Kind::kAdam:
      return "Adam";
    case Kind::kAdamW:
      return "AdamW";
  }
  return "?";
}

Optimizer SGD(const SGDOptions& o) {
  return {.kind = Optimizer::Kind::kSgd,
          .learning_rate = o.learning_rate,
          .momentum = o.momentum,
          .nesterov = o.nesterov};
}

Optimizer Adam(const AdamOptions& o) {
  return {.kind = Optimizer::Kind::kAdam,
          .learning_rate = o.learning_rate,
          .beta_1 = o.beta_1,
          .beta_2 = o.beta_2,
          .epsilon = o.epsilon};
}

Optimizer AdamW(const AdamWOptions& o) {
  return {.kind = Optimizer::Kind::kAdamW,
          .learning_rate = o.learning_rate,
          .beta_1 = o.beta_1,
          .beta_2 = o.beta_2,
          .epsilon = o.epsilon,
          .weight_decay = o.weight_decay};
}

}  // namespace leantrain::train

// Keras' learning-rate schedules (keras/src/optimizers/schedules/learning_rate_schedule.py),
// in double.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>

#include "leantrain/core/error.h"
#include "leantrain/train/callbacks.h"

namespace leantrain::train {

LearningRateSchedule CosineDecay(const CosineDecayOptions& options) {
  LT_CHECK(options.decay_steps > 0, kInvalidArgument,
           "CosineDecay: Argument `decay_steps` must be > 0. Received: decay_steps=",
           options.decay_steps);
  LT_CHECK(options.warmup_steps >= 0, kInvalidArgument,
           "CosineDecay: warmup_steps must be >= 0, got ", options.warmup_steps);
  return [o = options](int64_t step) {
    const auto decay_steps = static_cast<double>(o.decay_steps);
    // The cosine from `from_lr` after `s` of the decay steps.
    auto decayed = [&](double s, double from_lr) {
      const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * (s / decay_steps)));
      return from_lr * ((1.0 - o.alpha) * cosine + o.alpha);
    };
    const auto s = static_cast<double>(step);
    if (!o.warmup_target) return decayed(std::min(s, decay_steps), o.initial_learning_rate);
    const auto warmup_steps = static_cast<double>(o.warmup_steps);
    const double capped = std::min(s, decay_steps + warmup_steps);
    if (capped < warmup_steps) {
      return (*o.warmup_target - o.initial_learning_rate) * (capped / warmup_steps) +
             o.initial_learning_rate;
    }
    return decayed(capped - warmup_steps, *o.warmup_target);
  };
}

LearningRateSchedule ExponentialDecay(const ExponentialDecayOptions& options) {
  LT_CHECK(options.decay_steps > 0, kInvalidArgument,
           "ExponentialDecay: Argument `decay_steps` must be > 0. Received: decay_steps=",
           options.decay_steps);
  return [o = options](int64_t step) {
    double p = static_cast<double>(step) / static_cast<double>(o.decay_steps);
    if (o.staircase) p = std::floor(p);
    return o.initial_learning_rate * std::pow(o.decay_rate, p);
  };
}

LearningRateSchedule PiecewiseConstantDecay(std::vector<int64_t> boundaries,
                                            std::vector<double> values) {
  LT_CHECK(!boundaries.empty() && values.size() == boundaries.size() + 1, kInvalidArgument,
           "PiecewiseConstantDecay: the length of boundaries should be 1 less than the length "
           "of values, and at least 1. Received: ",
           boundaries.size(), " boundaries and ", values.size(), " values");
  for (size_t i = 1; i < boundaries.size(); ++i) {
    LT_CHECK(boundaries[i - 1] < boundaries[i], kInvalidArgument,
             "PiecewiseConstantDecay: boundaries must increase, but boundaries[", i - 1,
             "] = ", boundaries[i - 1], " and boundaries[", i, "] = ", boundaries[i]);
  }
  return [b = std::move(boundaries), v = std::move(values)](int64_t step) {
    size_t i = 0;
    while (i < b.size() && step > b[i]) ++i;  // the first boundary >= step, or past the last
    return v[i];
  };
}

}  // namespace leantrain::train

// Reference optimizer updates: scalar loops that follow the formulas in optimizers.h line by line.
#include <cmath>
#include <cstdint>

#include "kernels/optimizers.h"

namespace leantrain::kernels {

void sgd_update_ref(const SgdHyper& h, float* param, const float* grad, float* velocity,
                    int64_t n) {
  const float lr = h.learning_rate;
  const float m = h.momentum;
  for (int64_t i = 0; i < n; ++i) {
    if (m == 0.0f) {
      param[i] -= lr * grad[i];
    } else {
      velocity[i] = m * velocity[i] - lr * grad[i];
      if (h.nesterov) {
        param[i] += m * velocity[i] - lr * grad[i];
      } else {
        param[i] += velocity[i];
      }
    }
  }
}

void adam_update_ref(const AdamHyper& h, float* param, const float* grad, float* m, float* v,
                     int64_t n) {
  const double t = static_cast<double>(h.step);
  const float alpha =
      static_cast<float>(h.learning_rate * std::sqrt(1.0 - std::pow(double{h.beta_2}, t)) /
                         (1.0 - std::pow(double{h.beta_1}, t)));
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    m[i] += (g - m[i]) * (1.0f - h.beta_1);
    v[i] += (g * g - v[i]) * (1.0f - h.beta_2);
    param[i] -= param[i] * h.weight_decay * h.learning_rate;
    param[i] -= alpha * m[i] / (std::sqrt(v[i]) + h.epsilon);
  }
}

}  // namespace leantrain::kernels

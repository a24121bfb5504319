// Optimizer update kernels with Keras 3 semantics. Each updates `param` (and its state) in
// place from `grad`, element-wise over n elements.
#pragma once

#include <cstdint>

namespace leantrain::kernels {

// Keras SGD: with momentum m > 0: v = m*v - lr*g; nesterov: p += m*v - lr*g, else p += v.
// Without momentum (m == 0): p -= lr*g and `velocity` is unused (may be null).
struct SgdHyper {
  float learning_rate = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
};
void sgd_update_ref(const SgdHyper& h, float* param, const float* grad, float* velocity, int64_t n);
void sgd_update_fast(const SgdHyper& h, float* param, const float* grad, float* velocity,
                     int64_t n);

// Keras Adam/AdamW, step t >= 1 (1 for the first update):
//   alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)
//   m += (g - m) * (1 - b1);  v += (g*g - v) * (1 - b2)
//   AdamW first decays: p -= p * weight_decay * lr   (weight_decay 0 for Adam)
//   p -= alpha * m / (sqrt(v) + epsilon)
struct AdamHyper {
  float learning_rate = 0.001f;
  float beta_1 = 0.9f;
  float beta_2 = 0.999f;
  float epsilon = 1e-7f;
  float weight_decay = 0.0f;  // AdamW's default is 0.004
  int64_t step = 1;
};
void adam_update_ref(const AdamHyper& h, float* param, const float* grad, float* m, float* v,
                     int64_t n);
void adam_update_fast(const AdamHyper& h, float* param, const float* grad, float* m, float* v,
                      int64_t n);

}  // namespace leantrain::kernels

// Reference elementwise kernels: plain scalar loops with the standard library's math, the oracle
// the fast kernels are tested against.
#include <cmath>
#include <cstdint>

#include "kernels/eltwise.h"

namespace leantrain::kernels {
namespace {

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

bool activation_grad_uses_dst(Activation act) { return act != Activation::kSwish; }

void activation_fwd_ref(Activation act, const float* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = src[i];
    float y = 0.0f;
    switch (act) {
      case Activation::kRelu:
        y = x > 0.0f ? x : 0.0f;
        break;
      case Activation::kRelu6:
        y = x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f;
        break;
      case Activation::kSigmoid:
        y = sigmoid(x);
        break;
      case Activation::kTanh:
        y = std::tanh(x);
        break;
      case Activation::kSwish:
        y = x * sigmoid(x);
        break;
    }
    dst[i] = y;
  }
}

void activation_bwd_ref(Activation act, const float* saved, const float* diff_dst, float* diff_src,
                        int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float s = saved[i];  // dst, or src for swish
    float grad = 0.0f;
    switch (act) {
      case Activation::kRelu:
        grad = s > 0.0f ? 1.0f : 0.0f;
        break;
      case Activation::kRelu6:
        grad = (s > 0.0f && s < 6.0f) ? 1.0f : 0.0f;
        break;
      case Activation::kSigmoid:
        grad = s * (1.0f - s);
        break;
      case Activation::kTanh:
        grad = 1.0f - s * s;
        break;
      case Activation::kSwish: {
        const float sg = sigmoid(s);
        grad = sg * (1.0f + s * (1.0f - sg));
        break;
      }
    }
    diff_src[i] = diff_dst[i] * grad;
  }
}

void add_ref(const float* a, const float* b, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = a[i] + b[i];
}

}  // namespace leantrain::kernels

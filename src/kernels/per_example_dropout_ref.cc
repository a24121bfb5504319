// Reference per-example dropout: one draw per example, then element by element.
#include <cstdint>

#include "kernels/dropout.h"
#include "kernels/per_example_dropout.h"

namespace leantrain::kernels {

void per_example_dropout_ref(uint64_t seed, float rate, const float* src, float* dst,
                             int64_t examples, int64_t per_example) {
  for (int64_t b = 0; b < examples; ++b) {
    const bool kept = dropout_keeps(seed, b, rate);
    for (int64_t i = b * per_example; i < (b + 1) * per_example; ++i) {
      dst[i] = kept ? src[i] / (1.0f - rate) : 0.0f;
    }
  }
}

}  // namespace leantrain::kernels

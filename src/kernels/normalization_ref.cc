// Reference Normalization: Keras' formula element by element, (x - mean) / max(sqrt(var), eps).
// Each element is read before it is written, so the kernels run in place.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/normalization.h"

namespace leantrain::kernels {
namespace {

float stddev(float variance) { return std::max(std::sqrt(variance), kNormalizationEpsilon); }

}  // namespace

void normalization_fwd_ref(const float* src, const float* mean, const float* variance, float* dst,
                           int64_t rows, int64_t c) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < c; ++k) {
      const int64_t i = r * c + k;
      dst[i] = (src[i] - mean[k]) / stddev(variance[k]);
    }
  }
}

void normalization_bwd_ref(const float* diff_dst, const float* variance, float* diff_src,
                           int64_t rows, int64_t c) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < c; ++k) {
      const int64_t i = r * c + k;
      diff_src[i] = diff_dst[i] / stddev(variance[k]);
    }
  }
}

}  // namespace leantrain::kernels

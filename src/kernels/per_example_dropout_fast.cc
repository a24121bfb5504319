// Fast per-example dropout: the draws are made once per example, then the flat array is scaled
// (or zeroed) in OpenMP chunks of `omp simd` loops, each chunk split at example boundaries.
#include <algorithm>
#include <cstdint>

#include "kernels/dropout.h"
#include "kernels/fast_math.h"
#include "kernels/per_example_dropout.h"

namespace leantrain::kernels {

void per_example_dropout_fast(uint64_t seed, float rate, const float* src, float* dst,
                              int64_t examples, int64_t per_example) {
  const float keep = 1.0f - rate;
  fast::for_chunks(examples * per_example, [=](int64_t begin, int64_t end) {
    while (begin < end) {
      const int64_t b = begin / per_example;
      const int64_t stop = std::min(end, (b + 1) * per_example);
      if (dropout_keeps(seed, b, rate)) {
#pragma omp simd
        for (int64_t i = begin; i < stop; ++i) dst[i] = src[i] / keep;
      } else {
        std::fill(dst + begin, dst + stop, 0.0f);
      }
      begin = stop;
    }
  });
}

}  // namespace leantrain::kernels

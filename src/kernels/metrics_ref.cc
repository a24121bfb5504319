// Reference accuracy counts: plain loops, one row or element at a time.
#include <cmath>
#include <cstdint>

#include "kernels/metrics.h"

namespace leantrain::kernels {
namespace {

int64_t first_argmax(const float* row, int64_t c) {
  int64_t best = 0;
  for (int64_t j = 1; j < c; ++j) {
    if (row[j] > row[best]) best = j;
  }
  return best;
}

}  // namespace

void top_k_correct_ref(const float* pred, const int32_t* labels, int64_t n, int64_t c, int64_t k,
                       float* correct) {
  int64_t count = 0;
  for (int64_t r = 0; r < n; ++r) {
    const float* row = pred + r * c;
    const int32_t label = labels[r];
    if (label < 0 || label >= c) continue;
    bool finite = true;
    int64_t greater = 0;
    for (int64_t j = 0; j < c; ++j) {
      finite = finite && std::isfinite(row[j]);
      if (row[j] > row[label]) ++greater;
    }
    if (finite && greater < k) ++count;
  }
  *correct = static_cast<float>(count);
}

void categorical_top1_correct_ref(const float* pred, const float* target, int64_t n, int64_t c,
                                  float* correct) {
  int64_t count = 0;
  for (int64_t r = 0; r < n; ++r) {
    if (first_argmax(pred + r * c, c) == first_argmax(target + r * c, c)) ++count;
  }
  *correct = static_cast<float>(count);
}

void binary_correct_ref(const float* pred, const float* target, int64_t count, float threshold,
                        float* correct) {
  int64_t matches = 0;
  for (int64_t i = 0; i < count; ++i) {
    const float predicted = pred[i] > threshold ? 1.0f : 0.0f;
    if (predicted == target[i]) ++matches;
  }
  *correct = static_cast<float>(matches);
}

}  // namespace leantrain::kernels

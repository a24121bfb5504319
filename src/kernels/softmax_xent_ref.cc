// Reference softmax cross-entropy and top-1 accuracy: per-row scalar loops in double.
#include <cmath>
#include <cstdint>

#include "kernels/softmax_xent.h"

namespace leantrain::kernels {

void softmax_xent_fwd_ref(const float* logits, const int32_t* labels, int64_t n, int64_t c,
                          float* loss) {
  double total = 0.0;
  for (int64_t r = 0; r < n; ++r) {
    const float* row = logits + r * c;
    double max = row[0];
    for (int64_t j = 1; j < c; ++j) max = std::fmax(max, static_cast<double>(row[j]));
    double sum = 0.0;
    for (int64_t j = 0; j < c; ++j) sum += std::exp(row[j] - max);
    // -log softmax[label] = log(sum exp(x - max)) - (x[label] - max)
    total += std::log(sum) - (row[labels[r]] - max);
  }
  *loss = static_cast<float>(total / static_cast<double>(n));
}

void softmax_xent_bwd_ref(const float* logits, const int32_t* labels, int64_t n, int64_t c,
                          float diff_loss, float* diff_logits) {
  const double scale = static_cast<double>(diff_loss) / static_cast<double>(n);
  for (int64_t r = 0; r < n; ++r) {
    const float* row = logits + r * c;
    float* diff = diff_logits + r * c;
    double max = row[0];
    for (int64_t j = 1; j < c; ++j) max = std::fmax(max, static_cast<double>(row[j]));
    double sum = 0.0;
    for (int64_t j = 0; j < c; ++j) sum += std::exp(row[j] - max);
    for (int64_t j = 0; j < c; ++j) {
      const double softmax = std::exp(row[j] - max) / sum;
      const double onehot = j == labels[r] ? 1.0 : 0.0;
      diff[j] = static_cast<float>((softmax - onehot) * scale);
    }
  }
}

void sparse_top1_correct(const float* logits, const int32_t* labels, int64_t n, int64_t c,
                         float* correct) {
  int64_t count = 0;
  for (int64_t r = 0; r < n; ++r) {
    const float* row = logits + r * c;
    int64_t best = 0;
    for (int64_t j = 1; j < c; ++j) {
      if (row[j] > row[best]) best = j;
    }
    if (best == labels[r]) ++count;
  }
  *correct = static_cast<float>(count);
}

}  // namespace leantrain::kernels

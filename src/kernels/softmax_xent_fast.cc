// Fast softmax cross-entropy: rows in parallel, each row's max, exp and sum as `omp simd`
// loops. The loss is summed in double over a fixed blocking of the rows that depends only on n,
// so the result does not depend on the number of threads.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "kernels/fast_math.h"
#include "kernels/softmax_xent.h"

namespace leantrain::kernels {
namespace {

using fast::exp_approx;
using fast::kParallelMin;

// The loss is summed per block of rows, then over blocks in order; at most kMaxBlocks blocks so
// the partial sums fit on the stack.
constexpr int64_t kMaxBlocks = 256;

float row_max(const float* row, int64_t c) {
  float max = row[0];
#pragma omp simd reduction(max : max)
  for (int64_t j = 1; j < c; ++j) max = row[j] > max ? row[j] : max;
  return max;
}

// -log softmax(row)[label].
double row_loss(const float* row, int32_t label, int64_t c) {
  const float max = row_max(row, c);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < c; ++j) sum += exp_approx(row[j] - max);
  return std::log(static_cast<double>(sum)) - (static_cast<double>(row[label]) - max);
}

// diff = (softmax(row) - onehot(label)) * scale.
void row_grad(const float* row, int32_t label, int64_t c, float scale, float* diff) {
  const float max = row_max(row, c);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < c; ++j) {
    const float e = exp_approx(row[j] - max);
    diff[j] = e;
    sum += e;
  }
  const float factor = scale / sum;
#pragma omp simd
  for (int64_t j = 0; j < c; ++j) diff[j] *= factor;
  diff[label] -= scale;
}

}  // namespace

void softmax_xent_fwd_fast(const float* logits, const int32_t* labels, int64_t n, int64_t c,
                           float* loss) {
  const int64_t blocks = std::clamp(n, int64_t{1}, kMaxBlocks);
  const int64_t rows_per_block = (n + blocks - 1) / blocks;
  double partial[kMaxBlocks];
#pragma omp parallel for schedule(static) if (n * c >= kParallelMin)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t end = std::min(n, (b + 1) * rows_per_block);
    double sum = 0.0;
    for (int64_t r = b * rows_per_block; r < end; ++r)
      sum += row_loss(logits + r * c, labels[r], c);
    partial[b] = sum;
  }
  double total = 0.0;
  for (int64_t b = 0; b < blocks; ++b) total += partial[b];
  *loss = static_cast<float>(total / static_cast<double>(n));
}

void softmax_xent_bwd_fast(const float* logits, const int32_t* labels, int64_t n, int64_t c,
                           float diff_loss, float* diff_logits) {
  const float scale = static_cast<float>(static_cast<double>(diff_loss) / static_cast<double>(n));
#pragma omp parallel for schedule(static) if (n * c >= kParallelMin)
  for (int64_t r = 0; r < n; ++r) {
    row_grad(logits + r * c, labels[r], c, scale, diff_logits + r * c);
  }
}

}  // namespace leantrain::kernels

// Fast softmax cross-entropy: rows in parallel, each row's max, exp and sum as `omp simd`
// loops. The loss is summed in double over a fixed blocking of the rows that depends only on n,
// so the result does not depend on the number of threads.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "kernels/softmax_xent.h"

namespace leantrain::kernels {
namespace {

// Below kParallelMin logits thread start-up costs more than it saves.
constexpr int64_t kParallelMin = 32768;
// The loss is summed per block of rows, then over blocks in order; at most kMaxBlocks blocks so
// the partial sums fit on the stack.
constexpr int64_t kMaxBlocks = 256;

// exp(x), relative error ~1.2e-7 (Cephes' expf polynomial), branch-free so that it vectorizes;
// the same function as in eltwise_fast.cc. Inputs are clamped to [-87, 88].
[[gnu::always_inline]] inline float exp_approx(float x) {
  constexpr int32_t kBits87 = std::bit_cast<int32_t>(87.0f);
  constexpr int32_t kBits88 = std::bit_cast<int32_t>(88.0f);
  constexpr int32_t kSignBit = std::bit_cast<int32_t>(-0.0f);
  const int32_t bits = std::bit_cast<int32_t>(x);
  const int32_t limit = kBits88 - ((bits >> 31) & (kBits88 - kBits87));  // 87 if x < 0
  int32_t magnitude = bits & ~kSignBit;
  magnitude = magnitude < limit ? magnitude : limit;
  x = std::bit_cast<float>(magnitude | (bits & kSignBit));

  constexpr float kShifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float t = x * 1.44269504088896341f + kShifter;
  const float k = t - kShifter;  // round(x / ln 2)
  const int32_t ki = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kShifter);
  float r = x - k * 0.693359375f;  // ln 2 split in two for an exact reduction
  r = r + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  return y * std::bit_cast<float>((ki + 127) << 23);  // y * 2^k
}

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

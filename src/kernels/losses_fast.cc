// Fast losses: rows or elements in parallel, inner loops as `omp simd` with the approximate exp
// and log of fast_math.h and fast_log.h (~1e-7 relative). A forward sum is split into at most
// kMaxBlocks blocks whose size depends only on the element count; each block sums floats over
// short runs into a double, and the blocks are added in order, so the loss does not depend on
// the number of threads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/fast_log.h"
#include "kernels/fast_math.h"
#include "kernels/losses.h"

namespace leantrain::kernels {
namespace {

using fast::exp_approx;
using fast::for_chunks;
using fast::kParallelMin;
using fast::log1p_small;
using fast::log_approx;
using fast::select_bits;

constexpr int64_t kMaxBlocks = 256;
// Elements summed in float before the run's total joins the double accumulator.
constexpr int64_t kRun = 256;

// Returns the sum over [0, count) of part(begin, end) -> double, over blocks of at least
// min_per_block items (at most kMaxBlocks blocks), added in block order. `work` (elements
// touched) decides whether to use threads.
template <typename Part>
double blocked_sum(int64_t count, int64_t min_per_block, int64_t work, const Part& part) {
  const int64_t wanted = (count + min_per_block - 1) / min_per_block;
  const int64_t blocks = std::clamp(wanted, int64_t{1}, kMaxBlocks);
  const int64_t per_block = (count + blocks - 1) / blocks;
  double partial[kMaxBlocks];
#pragma omp parallel for schedule(static) if (work >= kParallelMin)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = std::min(count, b * per_block);
    const int64_t end = std::min(count, (b + 1) * per_block);
    partial[b] = begin < end ? part(begin, end) : 0.0;
  }
  double total = 0.0;
  for (int64_t b = 0; b < blocks; ++b) total += partial[b];
  return total;
}

// Sum of term(i) over [begin, end): float `omp simd` runs of kRun, each added to a double. `term`
// is taken by value: a local copy lets the compiler keep its pointers in registers and vectorize.
template <typename Term>
double sum_terms(int64_t begin, int64_t end, Term term) {
  double total = 0.0;
  for (int64_t run = begin; run < end; run += kRun) {
    const int64_t run_end = std::min(end, run + kRun);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = run; i < run_end; ++i) sum += term(i);
    total += sum;
  }
  return total;
}

// Sum of all elements' terms over [0, count), thread-count independent.
template <typename Term>
double elementwise_sum(int64_t count, const Term& term) {
  return blocked_sum(count, 1024, count,
                     [&](int64_t begin, int64_t end) { return sum_terms(begin, end, term); });
}

// Branch-free (integer-mask selects and a non-short-circuit &) so that callers' loops vectorize.
[[gnu::always_inline]] inline float clip(float p) {
  const float low = select_bits(p < kProbEpsilon, kProbEpsilon, p);
  return select_bits(low > kProbOneMinusEpsilon, kProbOneMinusEpsilon, low);
}

[[gnu::always_inline]] inline bool passes(float q) {
  return (q >= kProbEpsilon) & (q <= kProbOneMinusEpsilon);
}

float row_max(const float* row, int64_t c) {
  float max = row[0];
#pragma omp simd reduction(max : max)
  for (int64_t j = 1; j < c; ++j) max = row[j] > max ? row[j] : max;
  return max;
}

float row_sum(const float* row, int64_t c) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < c; ++j) sum += row[j];
  return sum;
}

bool label_ok(int32_t label, int64_t c) { return label >= 0 && label < c; }

// -sum_j t_j log_softmax(x)_j = lse * sum_j t_j - sum_j t_j (x_j - max).
double categorical_logits_row(const float* x, const float* t, int64_t c) {
  const float max = row_max(x, c);
  float sum_e = 0.0f, sum_t = 0.0f, dot = 0.0f;
#pragma omp simd reduction(+ : sum_e, sum_t, dot)
  for (int64_t j = 0; j < c; ++j) {
    sum_e += exp_approx(x[j] - max);
    sum_t += t[j];
    dot += t[j] * (x[j] - max);
  }
  return std::log(static_cast<double>(sum_e)) * sum_t - dot;
}

// -sum_j t_j log clip(p_j / s).
double categorical_probs_row(const float* p, const float* t, int64_t c) {
  const float s = row_sum(p, c);
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t j = 0; j < c; ++j) acc += t[j] * log_approx(clip(p[j] / s));
  return -static_cast<double>(acc);
}

// diff = (softmax(x) * sum_t - t) * scale; may overwrite x.
void categorical_logits_row_grad(const float* x, const float* t, int64_t c, float scale,
                                 float* diff) {
  const float max = row_max(x, c);
  const float sum_t = row_sum(t, c);
  float sum_e = 0.0f;
#pragma omp simd reduction(+ : sum_e)
  for (int64_t j = 0; j < c; ++j) {
    const float e = exp_approx(x[j] - max);
    diff[j] = e;
    sum_e += e;
  }
  const float factor = scale * sum_t / sum_e;
#pragma omp simd
  for (int64_t j = 0; j < c; ++j) diff[j] = diff[j] * factor - t[j] * scale;
}

// diff_k = (g_k - sum_j g_j q_j) / s * scale with g_j = -t_j / q_j where the clip passes, else 0
// (losses_ref.cc derives it); may overwrite p.
void categorical_probs_row_grad(const float* p, const float* t, int64_t c, float scale,
                                float* diff) {
  const float s = row_sum(p, c);
  float g_dot_q = 0.0f;
#pragma omp simd reduction(+ : g_dot_q)
  for (int64_t j = 0; j < c; ++j) g_dot_q -= select_bits(passes(p[j] / s), t[j], 0.0f);
  const float factor = scale / s;
#pragma omp simd
  for (int64_t k = 0; k < c; ++k) {
    const float q = p[k] / s;
    const bool pass = passes(q);
    const float g = select_bits(pass, -t[k] / select_bits(pass, q, 1.0f), 0.0f);
    diff[k] = (g - g_dot_q) * factor;
  }
}

}  // namespace

void categorical_xent_fwd_fast(const float* pred, const float* target, int64_t n, int64_t c,
                               bool from_logits, float* loss) {
  const double total = blocked_sum(n, 1, n * c, [&](int64_t begin, int64_t end) {
    double sum = 0.0;
    for (int64_t r = begin; r < end; ++r) {
      sum += from_logits ? categorical_logits_row(pred + r * c, target + r * c, c)
                         : categorical_probs_row(pred + r * c, target + r * c, c);
    }
    return sum;
  });
  *loss = static_cast<float>(total / static_cast<double>(n));
}

void categorical_xent_bwd_fast(const float* pred, const float* target, int64_t n, int64_t c,
                               bool from_logits, float diff_loss, float* diff_pred) {
  const float scale = static_cast<float>(static_cast<double>(diff_loss) / static_cast<double>(n));
#pragma omp parallel for schedule(static) if (n * c >= kParallelMin)
  for (int64_t r = 0; r < n; ++r) {
    if (from_logits) {
      categorical_logits_row_grad(pred + r * c, target + r * c, c, scale, diff_pred + r * c);
    } else {
      categorical_probs_row_grad(pred + r * c, target + r * c, c, scale, diff_pred + r * c);
    }
  }
}

void sparse_categorical_xent_probs_fwd_fast(const float* probs, const int32_t* labels, int64_t n,
                                            int64_t c, float* loss) {
  const double total = blocked_sum(n, 1, n * c, [&](int64_t begin, int64_t end) {
    double sum = 0.0;
    for (int64_t r = begin; r < end; ++r) {
      if (!label_ok(labels[r], c)) return std::numeric_limits<double>::quiet_NaN();
      const float* p = probs + r * c;
      sum -= std::log(static_cast<double>(clip(p[labels[r]] / row_sum(p, c))));
    }
    return sum;
  });
  *loss = static_cast<float>(total / static_cast<double>(n));
}

void sparse_categorical_xent_probs_bwd_fast(const float* probs, const int32_t* labels, int64_t n,
                                            int64_t c, float diff_loss, float* diff_probs) {
  const float scale = static_cast<float>(static_cast<double>(diff_loss) / static_cast<double>(n));
#pragma omp parallel for schedule(static) if (n * c >= kParallelMin)
  for (int64_t r = 0; r < n; ++r) {
    const float* p = probs + r * c;
    float* dp = diff_probs + r * c;
    const int32_t label = labels[r];
    const float s = row_sum(p, c);
    const float q = label_ok(label, c) ? p[label] / s : 0.0f;
    // The clip passes: every entry gets scale / s, the label's also -scale / (q s).
    const float base = label_ok(label, c) && passes(q) ? scale / s : 0.0f;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) dp[k] = base;
    if (base != 0.0f) dp[label] -= base / q;
  }
}

void binary_xent_fwd_fast(const float* pred, const float* target, int64_t count, bool from_logits,
                          float* loss) {
  double total = 0.0;
  if (from_logits) {
    total = elementwise_sum(count, [=](int64_t i) {
      const float x = pred[i], z = target[i];
      return (x > 0.0f ? x : 0.0f) - x * z + log1p_small(exp_approx(-std::fabs(x)));
    });
  } else {
    total = elementwise_sum(count, [=](int64_t i) {
      const float p = clip(pred[i]), z = target[i];
      return -(z * log_approx(p) + (1.0f - z) * log_approx(1.0f - p));
    });
  }
  *loss = static_cast<float>(total / static_cast<double>(count));
}

void binary_xent_bwd_fast(const float* pred, const float* target, int64_t count, bool from_logits,
                          float diff_loss, float* diff_pred) {
  const float scale =
      static_cast<float>(static_cast<double>(diff_loss) / static_cast<double>(count));
  if (from_logits) {
    for_chunks(count, [=](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) {
        const float sigmoid = 1.0f / (1.0f + exp_approx(-pred[i]));
        diff_pred[i] = (sigmoid - target[i]) * scale;
      }
    });
  } else {
    for_chunks(count, [=](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) {
        const float p = pred[i], z = target[i];
        const bool pass = passes(p);
        const float c = select_bits(pass, p, 0.5f);  // keeps the unused lanes finite
        const float g = (1.0f - z) / (1.0f - c) - z / c;
        diff_pred[i] = select_bits(pass, g * scale, 0.0f);
      }
    });
  }
}

void mse_fwd_fast(const float* pred, const float* target, int64_t count, float* loss) {
  const double total = elementwise_sum(count, [=](int64_t i) {
    const float d = pred[i] - target[i];
    return d * d;
  });
  *loss = static_cast<float>(total / static_cast<double>(count));
}

void mse_bwd_fast(const float* pred, const float* target, int64_t count, float diff_loss,
                  float* diff_pred) {
  const float scale = static_cast<float>(2.0 * diff_loss / static_cast<double>(count));
  for_chunks(count, [=](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) diff_pred[i] = (pred[i] - target[i]) * scale;
  });
}

void l2_penalty_fwd_fast(const float* src, int64_t count, float l2, float* penalty) {
  const double total = elementwise_sum(count, [=](int64_t i) { return src[i] * src[i]; });
  *penalty = static_cast<float>(l2 * total);
}

void l2_penalty_bwd_fast(const float* src, int64_t count, float l2, float diff_penalty,
                         float* diff_src) {
  const float scale = 2.0f * l2 * diff_penalty;
  for_chunks(count, [=](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) diff_src[i] = src[i] * scale;
  });
}

}  // namespace leantrain::kernels

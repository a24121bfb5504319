// Reference losses: the formulas of losses.h as scalar loops in double, one term at a time.
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/losses.h"

namespace leantrain::kernels {
namespace {

constexpr double kLow = kProbEpsilon;
constexpr double kHigh = kProbOneMinusEpsilon;

double clip(double q) { return q < kLow ? kLow : (q > kHigh ? kHigh : q); }
// True where clip() passes the gradient through (tf.clip_by_value: everywhere but strictly
// outside the bounds).
bool passes(double q) { return q >= kLow && q <= kHigh; }

double row_sum(const float* row, int64_t c) {
  double s = 0.0;
  for (int64_t j = 0; j < c; ++j) s += row[j];
  return s;
}

double row_max(const float* row, int64_t c) {
  double max = row[0];
  for (int64_t j = 1; j < c; ++j) max = std::fmax(max, static_cast<double>(row[j]));
  return max;
}

bool label_ok(int32_t label, int64_t c) { return label >= 0 && label < c; }

}  // namespace

void categorical_xent_fwd_ref(const float* pred, const float* target, int64_t n, int64_t c,
                              bool from_logits, float* loss) {
  double total = 0.0;
  for (int64_t r = 0; r < n; ++r) {
    const float* x = pred + r * c;
    const float* t = target + r * c;
    if (from_logits) {
      const double max = row_max(x, c);
      double sum = 0.0;
      for (int64_t j = 0; j < c; ++j) sum += std::exp(x[j] - max);
      const double lse = std::log(sum);
      // -log_softmax(x)_j = lse - (x_j - max)
      for (int64_t j = 0; j < c; ++j) total += t[j] * (lse - (x[j] - max));
    } else {
      const double s = row_sum(x, c);
      for (int64_t j = 0; j < c; ++j) total -= t[j] * std::log(clip(x[j] / s));
    }
  }
  *loss = static_cast<float>(total / static_cast<double>(n));
}

void categorical_xent_bwd_ref(const float* pred, const float* target, int64_t n, int64_t c,
                              bool from_logits, float diff_loss, float* diff_pred) {
  const double scale = static_cast<double>(diff_loss) / static_cast<double>(n);
  for (int64_t r = 0; r < n; ++r) {
    const float* x = pred + r * c;
    const float* t = target + r * c;
    float* dx = diff_pred + r * c;
    if (from_logits) {
      const double max = row_max(x, c);
      const double sum_t = row_sum(t, c);
      double sum = 0.0;
      for (int64_t j = 0; j < c; ++j) sum += std::exp(x[j] - max);
      for (int64_t j = 0; j < c; ++j) {
        const double softmax = std::exp(x[j] - max) / sum;
        dx[j] = static_cast<float>((softmax * sum_t - t[j]) * scale);
      }
    } else {
      // L = -sum_j t_j log c_j, c = clip(q), q = p / s. With g_j = dL/dq_j = -t_j / q_j where
      // the clip passes (0 elsewhere): dL/dp_k = (g_k - sum_j g_j q_j) / s.
      const double s = row_sum(x, c);
      double g_dot_q = 0.0;
      for (int64_t j = 0; j < c; ++j) {
        const double q = x[j] / s;
        if (passes(q)) g_dot_q -= t[j];  // g_j * q_j = -t_j
      }
      for (int64_t k = 0; k < c; ++k) {
        const double q = x[k] / s;
        const double g = passes(q) ? -t[k] / q : 0.0;
        dx[k] = static_cast<float>((g - g_dot_q) / s * scale);
      }
    }
  }
}

void sparse_categorical_xent_probs_fwd_ref(const float* probs, const int32_t* labels, int64_t n,
                                           int64_t c, float* loss) {
  double total = 0.0;
  for (int64_t r = 0; r < n; ++r) {
    if (!label_ok(labels[r], c)) {
      total = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    const float* p = probs + r * c;
    total -= std::log(clip(p[labels[r]] / row_sum(p, c)));
  }
  *loss = static_cast<float>(total / static_cast<double>(n));
}

void sparse_categorical_xent_probs_bwd_ref(const float* probs, const int32_t* labels, int64_t n,
                                           int64_t c, float diff_loss, float* diff_probs) {
  const double scale = static_cast<double>(diff_loss) / static_cast<double>(n);
  for (int64_t r = 0; r < n; ++r) {
    const float* p = probs + r * c;
    float* dp = diff_probs + r * c;
    const int32_t label = labels[r];
    const double s = row_sum(p, c);
    const double q = label_ok(label, c) ? p[label] / s : 0.0;
    const bool pass = label_ok(label, c) && passes(q);
    // As the categorical case with t = onehot(label): g_label = -1/q, sum_j g_j q_j = -1.
    for (int64_t k = 0; k < c; ++k) {
      const double g = k == label ? -1.0 / q : 0.0;
      dp[k] = pass ? static_cast<float>((g + 1.0) / s * scale) : 0.0f;
    }
  }
}

void binary_xent_fwd_ref(const float* pred, const float* target, int64_t count, bool from_logits,
                         float* loss) {
  double total = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    const double x = pred[i], z = target[i];
    if (from_logits) {
      total += std::fmax(x, 0.0) - x * z + std::log1p(std::exp(-std::fabs(x)));
    } else {
      const double p = clip(x);
      total -= z * std::log(p) + (1.0 - z) * std::log(1.0 - p);
    }
  }
  *loss = static_cast<float>(total / static_cast<double>(count));
}

void binary_xent_bwd_ref(const float* pred, const float* target, int64_t count, bool from_logits,
                         float diff_loss, float* diff_pred) {
  const double scale = static_cast<double>(diff_loss) / static_cast<double>(count);
  for (int64_t i = 0; i < count; ++i) {
    const double x = pred[i], z = target[i];
    double g = 0.0;
    if (from_logits) {
      g = 1.0 / (1.0 + std::exp(-x)) - z;
    } else if (passes(x)) {
      g = -z / x + (1.0 - z) / (1.0 - x);
    }
    diff_pred[i] = static_cast<float>(g * scale);
  }
}

void mse_fwd_ref(const float* pred, const float* target, int64_t count, float* loss) {
  double total = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    const double d = static_cast<double>(pred[i]) - target[i];
    total += d * d;
  }
  *loss = static_cast<float>(total / static_cast<double>(count));
}

void mse_bwd_ref(const float* pred, const float* target, int64_t count, float diff_loss,
                 float* diff_pred) {
  const double scale = 2.0 * diff_loss / static_cast<double>(count);
  for (int64_t i = 0; i < count; ++i) {
    diff_pred[i] = static_cast<float>((static_cast<double>(pred[i]) - target[i]) * scale);
  }
}

void l2_penalty_fwd_ref(const float* src, int64_t count, float l2, float* penalty) {
  double total = 0.0;
  for (int64_t i = 0; i < count; ++i) total += static_cast<double>(src[i]) * src[i];
  *penalty = static_cast<float>(l2 * total);
}

void l2_penalty_bwd_ref(const float* src, int64_t count, float l2, float diff_penalty,
                        float* diff_src) {
  const double scale = 2.0 * l2 * diff_penalty;
  for (int64_t i = 0; i < count; ++i) diff_src[i] = static_cast<float>(src[i] * scale);
}

}  // namespace leantrain::kernels

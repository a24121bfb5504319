// Keras' losses and the L2 weight penalty: forward (a mean, or a sum for the penalty, written to
// one float) and backward (the gradient with respect to the prediction, scaled by diff_loss,
// the incoming gradient of the scalar; 1 when the loss is the final one).
//
// The formulas follow Keras 3 (keras/src/backend/{numpy,tensorflow}/nn.py and
// keras/src/losses/losses.py) with epsilon = keras.config.epsilon() = 1e-7:
// - categorical cross-entropy, per row:
//     from logits:         -sum_j t_j * log_softmax(x)_j
//     from probabilities:  q = p / sum_j p_j, c = clip(q, eps, 1 - eps), -sum_j t_j * log(c_j)
// - sparse categorical cross-entropy from probabilities: the same with t = onehot(label). (Keras'
//   TensorFlow backend clips first and normalizes after, through log and a softmax; its NumPy,
//   JAX and PyTorch backends normalize then clip, as here. The two differ only where a
//   probability is below eps or a row sums far from 1.)
// - binary cross-entropy, per element:
//     from logits:         max(x, 0) - x * z + log(1 + exp(-|x|))   (tf.nn's stable form)
//     from probabilities:  c = clip(p, eps, 1 - eps), -(z * log(c) + (1 - z) * log(1 - c))
// - mean squared error, per element: (p - t)^2.
// The loss is the mean of those terms over the rows (categorical) or elements (binary, MSE),
// which is Keras' "sum_over_batch_size" of its per-sample means over the last axis.
//
// Gradients are exact derivatives of these formulas. Where clip() is active (q or p strictly
// below eps or above 1 - eps) the clipped term passes no gradient, as tf.clip_by_value's gradient
// does; at exactly eps or 1 - eps it passes. From logits, the categorical gradient is
// softmax(x) * sum_j t_j - t, which is TensorFlow's softmax(x) - t when targets sum to 1.
//
// Sums are accumulated in double. Preconditions, checked by the ops before anything runs: shapes
// as stated, n, c, count >= 1. A label outside [0, C) makes the loss NaN and that row's gradient
// zero (the kernels never read out of bounds). Probabilities must be >= 0 with a positive row sum;
// otherwise the result is NaN or inf, as in Keras. Every function may write its diff output over
// `pred` (diff_pred == pred): it reads each element before writing it.
#pragma once

#include <cstdint>

namespace leantrain::kernels {

// keras.config.epsilon(): the clipping bound for probabilities, and 1 - eps rounded to float.
constexpr float kProbEpsilon = 1e-7f;
constexpr float kProbOneMinusEpsilon = 1.0f - kProbEpsilon;

// pred (N, C) logits or probabilities, target (N, C) f32 (one-hot or soft). *loss = mean over
// rows.
void categorical_xent_fwd_ref(const float* pred, const float* target, int64_t n, int64_t c,
                              bool from_logits, float* loss);
// diff_pred (N, C) = d(loss)/d(pred) * diff_loss.
void categorical_xent_bwd_ref(const float* pred, const float* target, int64_t n, int64_t c,
                              bool from_logits, float diff_loss, float* diff_pred);
void categorical_xent_fwd_fast(const float* pred, const float* target, int64_t n, int64_t c,
                               bool from_logits, float* loss);
void categorical_xent_bwd_fast(const float* pred, const float* target, int64_t n, int64_t c,
                               bool from_logits, float diff_loss, float* diff_pred);

// probs (N, C) probabilities, labels (N) i32. From logits, use softmax_xent.h's fused kernels.
void sparse_categorical_xent_probs_fwd_ref(const float* probs, const int32_t* labels, int64_t n,
                                           int64_t c, float* loss);
void sparse_categorical_xent_probs_bwd_ref(const float* probs, const int32_t* labels, int64_t n,
                                           int64_t c, float diff_loss, float* diff_probs);
void sparse_categorical_xent_probs_fwd_fast(const float* probs, const int32_t* labels, int64_t n,
                                            int64_t c, float* loss);
void sparse_categorical_xent_probs_bwd_fast(const float* probs, const int32_t* labels, int64_t n,
                                            int64_t c, float diff_loss, float* diff_probs);

// pred, target: `count` f32 elements. *loss = mean over elements.
void binary_xent_fwd_ref(const float* pred, const float* target, int64_t count, bool from_logits,
                         float* loss);
void binary_xent_bwd_ref(const float* pred, const float* target, int64_t count, bool from_logits,
                         float diff_loss, float* diff_pred);
void binary_xent_fwd_fast(const float* pred, const float* target, int64_t count, bool from_logits,
                          float* loss);
void binary_xent_bwd_fast(const float* pred, const float* target, int64_t count, bool from_logits,
                          float diff_loss, float* diff_pred);

// *loss = mean over elements of (pred - target)^2; diff_pred = 2 (pred - target) / count *
// diff_loss.
void mse_fwd_ref(const float* pred, const float* target, int64_t count, float* loss);
void mse_bwd_ref(const float* pred, const float* target, int64_t count, float diff_loss,
                 float* diff_pred);
void mse_fwd_fast(const float* pred, const float* target, int64_t count, float* loss);
void mse_bwd_fast(const float* pred, const float* target, int64_t count, float diff_loss,
                  float* diff_pred);

// Keras' L2 regularizer: *penalty = l2 * sum(src^2); diff_src = 2 * l2 * src * diff_penalty.
void l2_penalty_fwd_ref(const float* src, int64_t count, float l2, float* penalty);
void l2_penalty_bwd_ref(const float* src, int64_t count, float l2, float diff_penalty,
                        float* diff_src);
void l2_penalty_fwd_fast(const float* src, int64_t count, float l2, float* penalty);
void l2_penalty_bwd_fast(const float* src, int64_t count, float l2, float diff_penalty,
                         float* diff_src);

}  // namespace leantrain::kernels

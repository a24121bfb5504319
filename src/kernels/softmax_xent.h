// Fused softmax + sparse categorical cross-entropy (from logits), and top-1 accuracy.
#pragma once

#include <cstdint>

namespace leantrain::kernels {

// logits (N, C) f32, labels (N) i32 in [0, C). Returns nothing; writes
// *loss = mean over rows of -log softmax(logits)[label] (computed stably with max-subtraction,
// accumulated in double). Labels outside [0, C) are a precondition violation (checked upstream).
void softmax_xent_fwd_ref(const float* logits, const int32_t* labels, int64_t n, int64_t c,
                          float* loss);
// diff_logits (N, C) = (softmax(logits) - onehot(label)) * diff_loss / N.
void softmax_xent_bwd_ref(const float* logits, const int32_t* labels, int64_t n, int64_t c,
                          float diff_loss, float* diff_logits);
void softmax_xent_fwd_fast(const float* logits, const int32_t* labels, int64_t n, int64_t c,
                           float* loss);
void softmax_xent_bwd_fast(const float* logits, const int32_t* labels, int64_t n, int64_t c,
                           float diff_loss, float* diff_logits);

// *correct = number of rows whose first maximal logit is at the label (ties: lowest index).
void sparse_top1_correct(const float* logits, const int32_t* labels, int64_t n, int64_t c,
                         float* correct);

}  // namespace leantrain::kernels

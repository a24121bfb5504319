// Keras' accuracy metrics as counts per batch: the host divides by the rows (or elements) it
// saw, so a metric over an epoch is exact however the batches fall. Counts are written as one
// float (exact up to 2^24).
#pragma once

#include <cstdint>

namespace leantrain::kernels {

// pred (N, C) f32, labels (N) i32. *correct = number of rows whose label is among the k largest
// predictions, by tf.math.in_top_k's rule (Keras' sparse_top_k_categorical_accuracy on its
// default backend): the row counts when fewer than k of its entries are strictly greater than
// pred[label]; entries tied with pred[label] do not push it out, so ties that straddle the k-th
// place all count. A row with a non-finite prediction anywhere, or a label outside [0, C),
// never counts; with k >= C every other row counts. Requires k >= 1.
void top_k_correct_ref(const float* pred, const int32_t* labels, int64_t n, int64_t c, int64_t k,
                       float* correct);
void top_k_correct_fast(const float* pred, const int32_t* labels, int64_t n, int64_t c, int64_t k,
                        float* correct);

// pred, target (N, C) f32. *correct = number of rows where the first maximal entry of pred and
// of target are at the same index (Keras' categorical_accuracy; ties go to the lowest index, as
// numpy's argmax). A NaN never replaces an earlier maximum.
void categorical_top1_correct_ref(const float* pred, const float* target, int64_t n, int64_t c,
                                  float* correct);
void categorical_top1_correct_fast(const float* pred, const float* target, int64_t n, int64_t c,
                                   float* correct);

// pred, target: `count` f32 elements. *correct = number of elements where
// (pred > threshold ? 1 : 0) == target (Keras' binary_accuracy, which compares exactly: a soft
// target such as 0.7 never matches). For logits pass threshold 0, which is sigmoid(x) > 0.5.
void binary_correct_ref(const float* pred, const float* target, int64_t count, float threshold,
                        float* correct);
void binary_correct_fast(const float* pred, const float* target, int64_t count, float threshold,
                         float* correct);

}  // namespace leantrain::kernels

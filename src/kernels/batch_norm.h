// BatchNormalization over the last (channel) axis of NHWC or (N, C) tensors, Keras semantics:
// y = gamma * (x - mean) / sqrt(var + epsilon) + beta, biased batch variance in training.
#pragma once

#include <cstdint>
#include <memory>

#include "leantrain/core/tensor.h"

namespace leantrain::kernels {

// Training forward. src/dst: (..., C); gamma, beta: (C); writes the batch statistics
// batch_mean, batch_var (C) (biased variance) that backward and the moving-average update use.
void batch_norm_fwd_training_ref(const TensorView& src, const TensorView& gamma,
                                 const TensorView& beta, float epsilon, const TensorView& dst,
                                 const TensorView& batch_mean, const TensorView& batch_var);
// Inference forward with the moving statistics.
void batch_norm_fwd_inference_ref(const TensorView& src, const TensorView& gamma,
                                  const TensorView& beta, const TensorView& moving_mean,
                                  const TensorView& moving_var, float epsilon,
                                  const TensorView& dst);
// Backward of the training forward: diff_src (..., C), diff_gamma, diff_beta (C).
void batch_norm_bwd_ref(const TensorView& src, const TensorView& diff_dst, const TensorView& gamma,
                        const TensorView& batch_mean, const TensorView& batch_var, float epsilon,
                        const TensorView& diff_src, const TensorView& diff_gamma,
                        const TensorView& diff_beta);
// moving = moving * momentum + batch * (1 - momentum), for mean and variance (Keras' rule).
void batch_norm_update_moving(const TensorView& batch_mean, const TensorView& batch_var,
                              float momentum, const TensorView& moving_mean,
                              const TensorView& moving_var);

// oneDNN implementation for a fixed shape (rows = product of all but the last dim, C = last).
class BatchNormDnnl {
 public:
  BatchNormDnnl(int64_t rows, int64_t channels, float epsilon);
  ~BatchNormDnnl();
  int64_t fwd_training_scratch_bytes() const;
  int64_t fwd_inference_scratch_bytes() const;
  int64_t bwd_scratch_bytes() const;
  void fwd_training(const float* src, const float* gamma, const float* beta, float* dst,
                    float* batch_mean, float* batch_var, void* scratch) const;
  void fwd_inference(const float* src, const float* gamma, const float* beta,
                     const float* moving_mean, const float* moving_var, float* dst,
                     void* scratch) const;
  void bwd(const float* src, const float* diff_dst, const float* gamma, const float* batch_mean,
           const float* batch_var, float* diff_src, float* diff_gamma, float* diff_beta,
           void* scratch) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace leantrain::kernels

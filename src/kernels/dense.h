// Dense (fully connected) kernels: src (N, IN), weights (IN, OUT) (Keras layout), bias (OUT).
#pragma once

#include <cstdint>
#include <memory>

#include "leantrain/core/kernel_variants.h"
#include "leantrain/core/tensor.h"

namespace leantrain::kernels {

// dst (N, OUT) = src x weights + bias; `bias` may be an empty view.
void dense_fwd_ref(const TensorView& src, const TensorView& weights, const TensorView& bias,
                   const TensorView& dst);
// diff_src (N, IN) = diff_dst x weights^T.
void dense_bwd_data_ref(const TensorView& diff_dst, const TensorView& weights,
                        const TensorView& diff_src);
// diff_weights (IN, OUT) = src^T x diff_dst; diff_bias (OUT) = column sums of diff_dst (or empty).
void dense_bwd_weights_ref(const TensorView& src, const TensorView& diff_dst,
                           const TensorView& diff_weights, const TensorView& diff_bias);

// oneDNN implementation for fixed N, IN, OUT, with matmul or inner-product primitives (`impl`;
// see dense_dnnl.cc for the measurements). Built once, run many times; one caller at a time.
// The constructor throws Error(kInvalidArgument) when a size is below 1.
class DenseDnnl {
 public:
  DenseDnnl(int64_t batch, int64_t in, int64_t out, bool has_bias, DenseImpl impl);
  ~DenseDnnl();
  // Scratch bytes for each pass (the largest is what a caller must provide for that pass).
  int64_t fwd_scratch_bytes() const;
  int64_t bwd_data_scratch_bytes() const;
  int64_t bwd_weights_scratch_bytes() const;
  void fwd(const float* src, const float* weights, const float* bias, float* dst,
           void* scratch) const;
  void bwd_data(const float* diff_dst, const float* weights, float* diff_src, void* scratch) const;
  // `diff_bias` may be null when has_bias is false.
  void bwd_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias,
                   void* scratch) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace leantrain::kernels

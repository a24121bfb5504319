// Reference Dense kernels: plain loops with double accumulation, the oracle for DenseDnnl.
// src (N, IN), weights (IN, OUT) (Keras layout), bias (OUT).
#include "kernels/dense.h"

#include <cstdint>

#include "leantrain/core/error.h"

namespace leantrain::kernels {

namespace {

// Throws Error(kInvalidArgument) unless x is (N, IN), weights (IN, OUT), y (N, OUT) and bias
// (OUT) or empty.
void check_dense_shapes(const Shape& x, const Shape& weights, const Shape& y,
                        const TensorView& bias, const char* who) {
  LT_CHECK(x.rank() == 2 && weights.rank() == 2 && y.rank() == 2 && x[1] == weights[0] &&
               y[0] == x[0] && y[1] == weights[1],
           kInvalidArgument, who, ": src ", x.to_string(), ", weights ", weights.to_string(),
           " and dst ", y.to_string(), " must be (N, IN), (IN, OUT) and (N, OUT)");
  LT_CHECK(bias.empty() || (bias.shape.rank() == 1 && bias.shape[0] == weights[1]),
           kInvalidArgument, who, ": bias ", bias.shape.to_string(), " must be (", weights[1],
           ") or an empty view");
}

}  // namespace

void dense_fwd_ref(const TensorView& src, const TensorView& weights, const TensorView& bias,
                   const TensorView& dst) {
  check_dense_shapes(src.shape, weights.shape, dst.shape, bias, "dense_fwd_ref");
  const int64_t n_count = src.shape[0], in_count = src.shape[1], out_count = dst.shape[1];
  const float* x = src.f32();
  const float* k = weights.f32();
  const float* b = bias.empty() ? nullptr : bias.f32();
  float* y = dst.f32();
  for (int64_t n = 0; n < n_count; ++n) {
    for (int64_t o = 0; o < out_count; ++o) {
      double acc = b ? b[o] : 0.0;
      for (int64_t i = 0; i < in_count; ++i) {
        acc += static_cast<double>(x[n * in_count + i]) * k[i * out_count + o];
      }
      y[n * out_count + o] = static_cast<float>(acc);
    }
  }
}

void dense_bwd_data_ref(const TensorView& diff_dst, const TensorView& weights,
                        const TensorView& diff_src) {
  check_dense_shapes(diff_src.shape, weights.shape, diff_dst.shape, TensorView(),
                     "dense_bwd_data_ref");
  const int64_t n_count = diff_src.shape[0], in_count = diff_src.shape[1],
                out_count = diff_dst.shape[1];
  const float* dy = diff_dst.f32();
  const float* k = weights.f32();
  float* dx = diff_src.f32();
  for (int64_t n = 0; n < n_count; ++n) {
    for (int64_t i = 0; i < in_count; ++i) {
      double acc = 0.0;
      for (int64_t o = 0; o < out_count; ++o) {
        acc += static_cast<double>(dy[n * out_count + o]) * k[i * out_count + o];
      }
      dx[n * in_count + i] = static_cast<float>(acc);
    }
  }
}

void dense_bwd_weights_ref(const TensorView& src, const TensorView& diff_dst,
                           const TensorView& diff_weights, const TensorView& diff_bias) {
  check_dense_shapes(src.shape, diff_weights.shape, diff_dst.shape, diff_bias,
                     "dense_bwd_weights_ref");
  const int64_t n_count = src.shape[0], in_count = src.shape[1], out_count = diff_dst.shape[1];
  const float* x = src.f32();
  const float* dy = diff_dst.f32();
  float* dk = diff_weights.f32();
  for (int64_t i = 0; i < in_count; ++i) {
    for (int64_t o = 0; o < out_count; ++o) {
      double acc = 0.0;
      for (int64_t n = 0; n < n_count; ++n) {
        acc += static_cast<double>(x[n * in_count + i]) * dy[n * out_count + o];
      }
      dk[i * out_count + o] = static_cast<float>(acc);
    }
  }
  if (diff_bias.empty()) return;
  float* db = diff_bias.f32();
  for (int64_t o = 0; o < out_count; ++o) {
    double acc = 0.0;
    for (int64_t n = 0; n < n_count; ++n) acc += dy[n * out_count + o];
    db[o] = static_cast<float>(acc);
  }
}

}  // namespace leantrain::kernels

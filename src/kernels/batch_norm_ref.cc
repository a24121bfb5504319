// Reference BatchNormalization over the last axis: per-channel scalar loops with statistics and
// reductions in double.
#include <cmath>
#include <cstdint>

#include "kernels/batch_norm.h"

namespace leantrain::kernels {
namespace {

// Rows (product of all but the last dimension) and channels (the last dimension) of `t`.
struct RowsChannels {
  int64_t rows, channels;
};

RowsChannels rows_channels(const TensorView& t) {
  const int64_t channels = t.shape.dim(-1);
  return {channels > 0 ? t.num_elements() / channels : 0, channels};
}

}  // namespace

void batch_norm_fwd_training_ref(const TensorView& src, const TensorView& gamma,
                                 const TensorView& beta, float epsilon, const TensorView& dst,
                                 const TensorView& batch_mean, const TensorView& batch_var) {
  const auto [rows, channels] = rows_channels(src);
  const float* x = src.f32();
  float* y = dst.f32();
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int64_t r = 0; r < rows; ++r) sum += x[r * channels + c];
    const double mean = sum / static_cast<double>(rows);
    double sq = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const double centered = x[r * channels + c] - mean;
      sq += centered * centered;
    }
    const double var = sq / static_cast<double>(rows);  // biased, as Keras
    const double inv_std = 1.0 / std::sqrt(var + epsilon);
    const double g = gamma.f32()[c], b = beta.f32()[c];
    for (int64_t r = 0; r < rows; ++r) {
      y[r * channels + c] = static_cast<float>(g * (x[r * channels + c] - mean) * inv_std + b);
    }
    batch_mean.f32()[c] = static_cast<float>(mean);
    batch_var.f32()[c] = static_cast<float>(var);
  }
}

void batch_norm_fwd_inference_ref(const TensorView& src, const TensorView& gamma,
                                  const TensorView& beta, const TensorView& moving_mean,
                                  const TensorView& moving_var, float epsilon,
                                  const TensorView& dst) {
  const auto [rows, channels] = rows_channels(src);
  const float* x = src.f32();
  float* y = dst.f32();
  for (int64_t c = 0; c < channels; ++c) {
    const double mean = moving_mean.f32()[c];
    const double inv_std = 1.0 / std::sqrt(static_cast<double>(moving_var.f32()[c]) + epsilon);
    const double g = gamma.f32()[c], b = beta.f32()[c];
    for (int64_t r = 0; r < rows; ++r) {
      y[r * channels + c] = static_cast<float>(g * (x[r * channels + c] - mean) * inv_std + b);
    }
  }
}

// With xhat = (x - mean) / sqrt(var + eps) and y = gamma * xhat + beta, where mean and var are
// this batch's statistics (so they depend on x as well):
//   diff_beta  = sum_r dy
//   diff_gamma = sum_r dy * xhat
//   diff_src   = gamma / sqrt(var + eps) * (dy - diff_beta / R - xhat * diff_gamma / R)
void batch_norm_bwd_ref(const TensorView& src, const TensorView& diff_dst, const TensorView& gamma,
                        const TensorView& batch_mean, const TensorView& batch_var, float epsilon,
                        const TensorView& diff_src, const TensorView& diff_gamma,
                        const TensorView& diff_beta) {
  const auto [rows, channels] = rows_channels(src);
  const float* x = src.f32();
  const float* dy = diff_dst.f32();
  float* dx = diff_src.f32();
  for (int64_t c = 0; c < channels; ++c) {
    const double mean = batch_mean.f32()[c];
    const double inv_std = 1.0 / std::sqrt(static_cast<double>(batch_var.f32()[c]) + epsilon);
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const double xhat = (x[r * channels + c] - mean) * inv_std;
      sum_dy += dy[r * channels + c];
      sum_dy_xhat += dy[r * channels + c] * xhat;
    }
    const double scale = gamma.f32()[c] * inv_std;
    const double n = static_cast<double>(rows);
    for (int64_t r = 0; r < rows; ++r) {
      const double xhat = (x[r * channels + c] - mean) * inv_std;
      dx[r * channels + c] =
          static_cast<float>(scale * (dy[r * channels + c] - sum_dy / n - xhat * sum_dy_xhat / n));
    }
    diff_gamma.f32()[c] = static_cast<float>(sum_dy_xhat);
    diff_beta.f32()[c] = static_cast<float>(sum_dy);
  }
}

void batch_norm_update_moving(const TensorView& batch_mean, const TensorView& batch_var,
                              float momentum, const TensorView& moving_mean,
                              const TensorView& moving_var) {
  const int64_t channels = batch_mean.num_elements();
  for (int64_t c = 0; c < channels; ++c) {
    moving_mean.f32()[c] =
        moving_mean.f32()[c] * momentum + batch_mean.f32()[c] * (1.0f - momentum);
    moving_var.f32()[c] = moving_var.f32()[c] * momentum + batch_var.f32()[c] * (1.0f - momentum);
  }
}

}  // namespace leantrain::kernels

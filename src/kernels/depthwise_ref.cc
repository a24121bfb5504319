// Reference DepthwiseConv2D kernels: plain loops with double accumulation, the oracle for the
// oneDNN grouped convolution. Weights (KH, KW, IC, M); dst channel c*M + m reads src channel c.
#include "kernels/conv2d.h"

#include <cstdint>

namespace leantrain::kernels {

// dst[n, oh, ow, c*M + m] = bias[c*M + m] + sum over kh, kw of src[n, ih, iw, c] * w[kh, kw, c, m].
// O(N*OH*OW*IC*M*KH*KW).
void depthwise_fwd_ref(const Window2D& w, const TensorView& src, const TensorView& weights,
                       const TensorView& bias, const TensorView& dst) {
  detail::check_conv_shapes(w, src.shape, weights.shape, dst.shape, true, 1, "depthwise_fwd_ref");
  const int64_t n_count = src.shape[0], ih_count = src.shape[1], iw_count = src.shape[2],
                c_count = src.shape[3], m_count = weights.shape[3];
  const int64_t oh_count = dst.shape[1], ow_count = dst.shape[2], oc_count = dst.shape[3];
  detail::check_bias(bias, oc_count, "depthwise_fwd_ref");
  const float* x = src.f32();
  const float* k = weights.f32();
  const float* b = bias.empty() ? nullptr : bias.f32();
  float* y = dst.f32();
  for (int64_t n = 0; n < n_count; ++n) {
    for (int64_t oh = 0; oh < oh_count; ++oh) {
      for (int64_t ow = 0; ow < ow_count; ++ow) {
        for (int64_t c = 0; c < c_count; ++c) {
          for (int64_t m = 0; m < m_count; ++m) {
            const int64_t oc = c * m_count + m;
            double acc = b ? b[oc] : 0.0;
            for (int64_t kh = 0; kh < w.kernel_h; ++kh) {
              const int64_t ih = oh * w.stride_h - w.pad_top + kh * w.dilation_h;
              if (ih < 0 || ih >= ih_count) continue;
              for (int64_t kw = 0; kw < w.kernel_w; ++kw) {
                const int64_t iw = ow * w.stride_w - w.pad_left + kw * w.dilation_w;
                if (iw < 0 || iw >= iw_count) continue;
                acc += static_cast<double>(x[((n * ih_count + ih) * iw_count + iw) * c_count + c]) *
                       k[((kh * w.kernel_w + kw) * c_count + c) * m_count + m];
              }
            }
            y[((n * oh_count + oh) * ow_count + ow) * oc_count + oc] = static_cast<float>(acc);
          }
        }
      }
    }
  }
}

// diff_src[n, ih, iw, c] = sum over the (oh, ow, kh, kw) that read (ih, iw) and over m of
// diff_dst[n, oh, ow, c*M + m] * w[kh, kw, c, m].
void depthwise_bwd_data_ref(const Window2D& w, const TensorView& diff_dst,
                            const TensorView& weights, const TensorView& diff_src) {
  detail::check_conv_shapes(w, diff_src.shape, weights.shape, diff_dst.shape, true, 1,
                            "depthwise_bwd_data_ref");
  const int64_t n_count = diff_src.shape[0], ih_count = diff_src.shape[1],
                iw_count = diff_src.shape[2], c_count = diff_src.shape[3],
                m_count = weights.shape[3];
  const int64_t oh_count = diff_dst.shape[1], ow_count = diff_dst.shape[2],
                oc_count = diff_dst.shape[3];
  const float* dy = diff_dst.f32();
  const float* k = weights.f32();
  float* dx = diff_src.f32();
  for (int64_t n = 0; n < n_count; ++n) {
    for (int64_t ih = 0; ih < ih_count; ++ih) {
      for (int64_t iw = 0; iw < iw_count; ++iw) {
        for (int64_t c = 0; c < c_count; ++c) {
          double acc = 0.0;
          for (int64_t kh = 0; kh < w.kernel_h; ++kh) {
            const int64_t th = ih + w.pad_top - kh * w.dilation_h;
            if (th < 0 || th % w.stride_h != 0 || th / w.stride_h >= oh_count) continue;
            const int64_t oh = th / w.stride_h;
            for (int64_t kw = 0; kw < w.kernel_w; ++kw) {
              const int64_t tw = iw + w.pad_left - kw * w.dilation_w;
              if (tw < 0 || tw % w.stride_w != 0 || tw / w.stride_w >= ow_count) continue;
              const int64_t ow = tw / w.stride_w;
              for (int64_t m = 0; m < m_count; ++m) {
                acc += static_cast<double>(
                           dy[((n * oh_count + oh) * ow_count + ow) * oc_count + c * m_count + m]) *
                       k[((kh * w.kernel_w + kw) * c_count + c) * m_count + m];
              }
            }
          }
          dx[((n * ih_count + ih) * iw_count + iw) * c_count + c] = static_cast<float>(acc);
        }
      }
    }
  }
}

// diff_weights[kh, kw, c, m] = sum over n, oh, ow of src[n, ih, iw, c] *
// diff_dst[n, oh, ow, c*M + m]; diff_bias sums diff_dst over n, oh, ow.
void depthwise_bwd_weights_ref(const Window2D& w, const TensorView& src, const TensorView& diff_dst,
                               const TensorView& diff_weights, const TensorView& diff_bias) {
  detail::check_conv_shapes(w, src.shape, diff_weights.shape, diff_dst.shape, true, 1,
                            "depthwise_bwd_weights_ref");
  const int64_t n_count = src.shape[0], ih_count = src.shape[1], iw_count = src.shape[2],
                c_count = src.shape[3], m_count = diff_weights.shape[3];
  const int64_t oh_count = diff_dst.shape[1], ow_count = diff_dst.shape[2],
                oc_count = diff_dst.shape[3];
  detail::check_bias(diff_bias, oc_count, "depthwise_bwd_weights_ref");
  const float* x = src.f32();
  const float* dy = diff_dst.f32();
  float* dk = diff_weights.f32();
  for (int64_t kh = 0; kh < w.kernel_h; ++kh) {
    for (int64_t kw = 0; kw < w.kernel_w; ++kw) {
      for (int64_t c = 0; c < c_count; ++c) {
        for (int64_t m = 0; m < m_count; ++m) {
          double acc = 0.0;
          for (int64_t n = 0; n < n_count; ++n) {
            for (int64_t oh = 0; oh < oh_count; ++oh) {
              const int64_t ih = oh * w.stride_h - w.pad_top + kh * w.dilation_h;
              if (ih < 0 || ih >= ih_count) continue;
              for (int64_t ow = 0; ow < ow_count; ++ow) {
                const int64_t iw = ow * w.stride_w - w.pad_left + kw * w.dilation_w;
                if (iw < 0 || iw >= iw_count) continue;
                acc += static_cast<double>(x[((n * ih_count + ih) * iw_count + iw) * c_count + c]) *
                       dy[((n * oh_count + oh) * ow_count + ow) * oc_count + c * m_count + m];
              }
            }
          }
          dk[((kh * w.kernel_w + kw) * c_count + c) * m_count + m] = static_cast<float>(acc);
        }
      }
    }
  }
  if (diff_bias.empty()) return;
  float* db = diff_bias.f32();
  for (int64_t oc = 0; oc < oc_count; ++oc) {
    double acc = 0.0;
    for (int64_t p = 0; p < n_count * oh_count * ow_count; ++p) acc += dy[p * oc_count + oc];
    db[oc] = static_cast<float>(acc);
  }
}

}  // namespace leantrain::kernels

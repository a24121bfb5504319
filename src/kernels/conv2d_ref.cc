// Reference Conv2D kernels: plain loops with double accumulation, the oracle for the oneDNN
// kernels. NHWC activations, Keras weights (KH, KW, IC/groups, OC). Slow on purpose: no blocking.
// With groups G, output channel oc is in group g = oc / (OC/G) and reads input channels
// [g*IC/G, (g+1)*IC/G), weight row i of the kernel standing for input channel g*IC/G + i.
#include "kernels/conv2d.h"

#include <cstdint>

namespace leantrain::kernels {

// For each output pixel and channel: sum over kh, kw and the group's input channels of src at
// the pixel the tap reads (skipped when it falls in the padding) times the weight.
// O(N*OH*OW*OC*KH*KW*IC/G).
void conv2d_fwd_ref(const Window2D& w, const TensorView& src, const TensorView& weights,
                    const TensorView& bias, const TensorView& dst, int64_t groups) {
  detail::check_conv_shapes(w, src.shape, weights.shape, dst.shape, false, groups,
                            "conv2d_fwd_ref");
  const int64_t n_count = src.shape[0], ih_count = src.shape[1], iw_count = src.shape[2],
                ic_count = src.shape[3];
  const int64_t oh_count = dst.shape[1], ow_count = dst.shape[2], oc_count = dst.shape[3];
  const int64_t icg_count = ic_count / groups, ocg_count = oc_count / groups;
  detail::check_bias(bias, oc_count, "conv2d_fwd_ref");
  const float* x = src.f32();
  const float* k = weights.f32();
  const float* b = bias.empty() ? nullptr : bias.f32();
  float* y = dst.f32();
  for (int64_t n = 0; n < n_count; ++n) {
    for (int64_t oh = 0; oh < oh_count; ++oh) {
      for (int64_t ow = 0; ow < ow_count; ++ow) {
        for (int64_t oc = 0; oc < oc_count; ++oc) {
          const int64_t ic0 = oc / ocg_count * icg_count;
          double acc = b ? b[oc] : 0.0;
          for (int64_t kh = 0; kh < w.kernel_h; ++kh) {
            const int64_t ih = oh * w.stride_h - w.pad_top + kh * w.dilation_h;
            if (ih < 0 || ih >= ih_count) continue;
            for (int64_t kw = 0; kw < w.kernel_w; ++kw) {
              const int64_t iw = ow * w.stride_w - w.pad_left + kw * w.dilation_w;
              if (iw < 0 || iw >= iw_count) continue;
              const float* xp = x + ((n * ih_count + ih) * iw_count + iw) * ic_count + ic0;
              const float* kp = k + (kh * w.kernel_w + kw) * icg_count * oc_count + oc;
              for (int64_t i = 0; i < icg_count; ++i) {
                acc += static_cast<double>(xp[i]) * kp[i * oc_count];
              }
            }
          }
          y[((n * oh_count + oh) * ow_count + ow) * oc_count + oc] = static_cast<float>(acc);
        }
      }
    }
  }
}

// For each input pixel and channel: gather every (output pixel, tap) pair that read it, i.e.
// oh with oh*stride - pad_top + kh*dilation == ih, and sum diff_dst x weight over the output
// channels of the input channel's group.
void conv2d_bwd_data_ref(const Window2D& w, const TensorView& diff_dst, const TensorView& weights,
                         const TensorView& diff_src, int64_t groups) {
  detail::check_conv_shapes(w, diff_src.shape, weights.shape, diff_dst.shape, false, groups,
                            "conv2d_bwd_data_ref");
  const int64_t n_count = diff_src.shape[0], ih_count = diff_src.shape[1],
                iw_count = diff_src.shape[2], ic_count = diff_src.shape[3];
  const int64_t oh_count = diff_dst.shape[1], ow_count = diff_dst.shape[2],
                oc_count = diff_dst.shape[3];
  const int64_t icg_count = ic_count / groups, ocg_count = oc_count / groups;
  const float* dy = diff_dst.f32();
  const float* k = weights.f32();
  float* dx = diff_src.f32();
  for (int64_t n = 0; n < n_count; ++n) {
    for (int64_t ih = 0; ih < ih_count; ++ih) {
      for (int64_t iw = 0; iw < iw_count; ++iw) {
        for (int64_t ic = 0; ic < ic_count; ++ic) {
          const int64_t g = ic / icg_count, i = ic % icg_count;
          double acc = 0.0;
          for (int64_t kh = 0; kh < w.kernel_h; ++kh) {
            const int64_t th = ih + w.pad_top - kh * w.dilation_h;
            if (th < 0 || th % w.stride_h != 0 || th / w.stride_h >= oh_count) continue;
            const int64_t oh = th / w.stride_h;
            for (int64_t kw = 0; kw < w.kernel_w; ++kw) {
              const int64_t tw = iw + w.pad_left - kw * w.dilation_w;
              if (tw < 0 || tw % w.stride_w != 0 || tw / w.stride_w >= ow_count) continue;
              const int64_t ow = tw / w.stride_w;
              const float* dyp =
                  dy + ((n * oh_count + oh) * ow_count + ow) * oc_count + g * ocg_count;
              const float* kp =
                  k + ((kh * w.kernel_w + kw) * icg_count + i) * oc_count + g * ocg_count;
              for (int64_t o = 0; o < ocg_count; ++o) {
                acc += static_cast<double>(dyp[o]) * kp[o];
              }
            }
          }
          dx[((n * ih_count + ih) * iw_count + iw) * ic_count + ic] = static_cast<float>(acc);
        }
      }
    }
  }
}

// For each weight: sum over n, oh, ow of the src value its tap read times diff_dst; diff_bias
// sums diff_dst over n, oh, ow. O(KH*KW*IC/G*OC*N*OH*OW).
void conv2d_bwd_weights_ref(const Window2D& w, const TensorView& src, const TensorView& diff_dst,
                            const TensorView& diff_weights, const TensorView& diff_bias,
                            int64_t groups) {
  detail::check_conv_shapes(w, src.shape, diff_weights.shape, diff_dst.shape, false, groups,
                            "conv2d_bwd_weights_ref");
  const int64_t n_count = src.shape[0], ih_count = src.shape[1], iw_count = src.shape[2],
                ic_count = src.shape[3];
  const int64_t oh_count = diff_dst.shape[1], ow_count = diff_dst.shape[2],
                oc_count = diff_dst.shape[3];
  const int64_t icg_count = ic_count / groups, ocg_count = oc_count / groups;
  detail::check_bias(diff_bias, oc_count, "conv2d_bwd_weights_ref");
  const float* x = src.f32();
  const float* dy = diff_dst.f32();
  float* dk = diff_weights.f32();
  for (int64_t kh = 0; kh < w.kernel_h; ++kh) {
    for (int64_t kw = 0; kw < w.kernel_w; ++kw) {
      for (int64_t i = 0; i < icg_count; ++i) {
        for (int64_t oc = 0; oc < oc_count; ++oc) {
          const int64_t ic = oc / ocg_count * icg_count + i;
          double acc = 0.0;
          for (int64_t n = 0; n < n_count; ++n) {
            for (int64_t oh = 0; oh < oh_count; ++oh) {
              const int64_t ih = oh * w.stride_h - w.pad_top + kh * w.dilation_h;
              if (ih < 0 || ih >= ih_count) continue;
              for (int64_t ow = 0; ow < ow_count; ++ow) {
                const int64_t iw = ow * w.stride_w - w.pad_left + kw * w.dilation_w;
                if (iw < 0 || iw >= iw_count) continue;
                acc +=
                    static_cast<double>(x[((n * ih_count + ih) * iw_count + iw) * ic_count + ic]) *
                    dy[((n * oh_count + oh) * ow_count + ow) * oc_count + oc];
              }
            }
          }
          dk[((kh * w.kernel_w + kw) * icg_count + i) * oc_count + oc] = static_cast<float>(acc);
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

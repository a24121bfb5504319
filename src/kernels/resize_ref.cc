// Reference bilinear resizing: each output pixel is the weighted sum of its four source taps,
// accumulated in double; backward scatters the same weights. O(N * OH * OW * C) both ways.
#include <cstdint>

#include "kernels/resize.h"

namespace leantrain::kernels {
namespace {

// A tap's two (row or column, weight) pairs; when lower == upper both land on one pixel.
struct Pair {
  int64_t index[2];
  double weight[2];
};

Pair pair_of(int64_t out_index, int64_t in_size, int64_t out_size) {
  const LinearTap t = resize_tap(out_index, in_size, out_size);
  return {{t.lower, t.upper}, {1.0 - static_cast<double>(t.lerp), static_cast<double>(t.lerp)}};
}

}  // namespace

void resize_bilinear_fwd_ref(const TensorView& src, const TensorView& dst) {
  const int64_t n_count = src.shape[0], ih = src.shape[1], iw = src.shape[2],
                c_count = src.shape[3];
  const int64_t oh = dst.shape[1], ow = dst.shape[2];
  const float* in = src.f32();
  float* out = dst.f32();
  for (int64_t n = 0; n < n_count; ++n) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      const Pair py = pair_of(oy, ih, oh);
      for (int64_t ox = 0; ox < ow; ++ox) {
        const Pair px = pair_of(ox, iw, ow);
        for (int64_t c = 0; c < c_count; ++c) {
          double acc = 0.0;
          for (int a = 0; a < 2; ++a) {
            for (int b = 0; b < 2; ++b) {
              acc += py.weight[a] * px.weight[b] *
                     in[((n * ih + py.index[a]) * iw + px.index[b]) * c_count + c];
            }
          }
          out[((n * oh + oy) * ow + ox) * c_count + c] = static_cast<float>(acc);
        }
      }
    }
  }
}

void resize_bilinear_bwd_ref(const TensorView& diff_dst, const TensorView& diff_src) {
  const int64_t n_count = diff_src.shape[0], ih = diff_src.shape[1], iw = diff_src.shape[2],
                c_count = diff_src.shape[3];
  const int64_t oh = diff_dst.shape[1], ow = diff_dst.shape[2];
  const float* dd = diff_dst.f32();
  float* ds = diff_src.f32();
  for (int64_t i = 0; i < diff_src.num_elements(); ++i) ds[i] = 0.0f;
  for (int64_t n = 0; n < n_count; ++n) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      const Pair py = pair_of(oy, ih, oh);
      for (int64_t ox = 0; ox < ow; ++ox) {
        const Pair px = pair_of(ox, iw, ow);
        for (int64_t c = 0; c < c_count; ++c) {
          const double g = dd[((n * oh + oy) * ow + ox) * c_count + c];
          for (int a = 0; a < 2; ++a) {
            for (int b = 0; b < 2; ++b) {
              float& cell = ds[((n * ih + py.index[a]) * iw + px.index[b]) * c_count + c];
              cell = static_cast<float>(cell + py.weight[a] * px.weight[b] * g);
            }
          }
        }
      }
    }
  }
}

}  // namespace leantrain::kernels

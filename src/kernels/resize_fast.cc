// Fast bilinear resizing, NHWC, inner loops over the contiguous channel axis (`omp simd`).
// - forward: output rows (n, oy) in parallel; each output pixel blends its four source pixels
//   as TensorFlow does (two horizontal lerps, then a vertical one);
// - backward: output pixels sharing a source pixel would race, so (image, block of
//   kChannelBlock channels) pairs run in parallel, each zeroing and then scattering into only
//   its own part of diff_src: no atomics, no scratch.
// Taps are recomputed per row and column (a few float operations) rather than tabled, so the
// kernels need no memory of their own.
#include <algorithm>
#include <cstdint>

#include "kernels/fast_math.h"
#include "kernels/resize.h"

namespace leantrain::kernels {
namespace {

using fast::kParallelMin;

// Channels scattered together in backward.
constexpr int64_t kChannelBlock = 64;

}  // namespace

void resize_bilinear_fwd_fast(const TensorView& src, const TensorView& dst) {
  const int64_t ih = src.shape[1], iw = src.shape[2], c = src.shape[3];
  const int64_t oh = dst.shape[1], ow = dst.shape[2];
  const float* in = src.f32();
  float* out = dst.f32();
  const int64_t rows = dst.shape[0] * oh;
#pragma omp parallel for schedule(static) if (dst.num_elements() >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = r / oh;
    const LinearTap ty = resize_tap(r % oh, ih, oh);
    const float* top_row = in + (n * ih + ty.lower) * iw * c;
    const float* bottom_row = in + (n * ih + ty.upper) * iw * c;
    const float yl = ty.lerp;
    for (int64_t ox = 0; ox < ow; ++ox) {
      const LinearTap tx = resize_tap(ox, iw, ow);
      const float* tl = top_row + tx.lower * c;
      const float* tr = top_row + tx.upper * c;
      const float* bl = bottom_row + tx.lower * c;
      const float* br = bottom_row + tx.upper * c;
      const float xl = tx.lerp;
      float* o = out + (r * ow + ox) * c;
#pragma omp simd
      for (int64_t k = 0; k < c; ++k) {
        const float top = tl[k] + (tr[k] - tl[k]) * xl;
        const float bottom = bl[k] + (br[k] - bl[k]) * xl;
        o[k] = top + (bottom - top) * yl;
      }
    }
  }
}

void resize_bilinear_bwd_fast(const TensorView& diff_dst, const TensorView& diff_src) {
  const int64_t n_count = diff_src.shape[0], ih = diff_src.shape[1], iw = diff_src.shape[2],
                c = diff_src.shape[3];
  const int64_t oh = diff_dst.shape[1], ow = diff_dst.shape[2];
  const float* dd = diff_dst.f32();
  float* ds = diff_src.f32();
  const int64_t blocks = (c + kChannelBlock - 1) / kChannelBlock;
  const int64_t work = std::max(diff_src.num_elements(), diff_dst.num_elements());
#pragma omp parallel for schedule(static) if (work >= kParallelMin)
  for (int64_t t = 0; t < n_count * blocks; ++t) {
    const int64_t n = t / blocks, c0 = (t % blocks) * kChannelBlock;
    const int64_t cn = std::min(kChannelBlock, c - c0);
    float* image = ds + n * ih * iw * c + c0;
    for (int64_t p = 0; p < ih * iw; ++p) std::fill_n(image + p * c, cn, 0.0f);
    for (int64_t oy = 0; oy < oh; ++oy) {
      const LinearTap ty = resize_tap(oy, ih, oh);
      float* top_row = image + ty.lower * iw * c;
      float* bottom_row = image + ty.upper * iw * c;
      for (int64_t ox = 0; ox < ow; ++ox) {
        const LinearTap tx = resize_tap(ox, iw, ow);
        const float* g = dd + ((n * oh + oy) * ow + ox) * c + c0;
        const float wt = 1.0f - ty.lerp, wb = ty.lerp, wl = 1.0f - tx.lerp, wr = tx.lerp;
        const float w_tl = wt * wl, w_tr = wt * wr, w_bl = wb * wl, w_br = wb * wr;
        float* tl = top_row + tx.lower * c;
        float* tr = top_row + tx.upper * c;
        float* bl = bottom_row + tx.lower * c;
        float* br = bottom_row + tx.upper * c;
        // The four cells may coincide (at the edges), so each add is its own loop.
#pragma omp simd
        for (int64_t k = 0; k < cn; ++k) tl[k] += w_tl * g[k];
#pragma omp simd
        for (int64_t k = 0; k < cn; ++k) tr[k] += w_tr * g[k];
#pragma omp simd
        for (int64_t k = 0; k < cn; ++k) bl[k] += w_bl * g[k];
#pragma omp simd
        for (int64_t k = 0; k < cn; ++k) br[k] += w_br * g[k];
      }
    }
  }
}

}  // namespace leantrain::kernels

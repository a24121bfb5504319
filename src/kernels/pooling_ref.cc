// Reference pooling kernels: one output element at a time, the window scanned in row-major order
// with explicit bounds checks. A window with no cell inside the image (possible only with
// padding as wide as the kernel) yields 0 and passes no gradient.
#include <cstdint>

#include "kernels/pooling.h"

namespace leantrain::kernels {
namespace {

// NHWC geometry of one pooling call.
struct PoolDims {
  int64_t n, ih, iw, c, oh, ow;
};

PoolDims dims_of(const TensorView& in, const TensorView& out) {
  return {in.shape[0], in.shape[1], in.shape[2], in.shape[3], out.shape[1], out.shape[2]};
}

int64_t at(const PoolDims& d, int64_t n, int64_t y, int64_t x, int64_t c, int64_t h, int64_t w) {
  return ((n * h + y) * w + x) * d.c + c;
}

}  // namespace

void max_pool_fwd_ref(const Window2D& w, const TensorView& src, const TensorView& dst) {
  const PoolDims d = dims_of(src, dst);
  const float* in = src.f32();
  float* out = dst.f32();
  for (int64_t n = 0; n < d.n; ++n) {
    for (int64_t oy = 0; oy < d.oh; ++oy) {
      for (int64_t ox = 0; ox < d.ow; ++ox) {
        for (int64_t c = 0; c < d.c; ++c) {
          bool any = false;
          float best = 0.0f;
          for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
            for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
              const int64_t y = oy * w.stride_h - w.pad_top + ky;
              const int64_t x = ox * w.stride_w - w.pad_left + kx;
              if (y < 0 || y >= d.ih || x < 0 || x >= d.iw) continue;
              const float v = in[at(d, n, y, x, c, d.ih, d.iw)];
              if (!any || v > best) best = v;
              any = true;
            }
          }
          out[at(d, n, oy, ox, c, d.oh, d.ow)] = best;
        }
      }
    }
  }
}

void max_pool_bwd_ref(const Window2D& w, const TensorView& src, const TensorView& diff_dst,
                      const TensorView& diff_src) {
  const PoolDims d = dims_of(src, diff_dst);
  const float* in = src.f32();
  const float* dd = diff_dst.f32();
  float* ds = diff_src.f32();
  for (int64_t i = 0; i < diff_src.num_elements(); ++i) ds[i] = 0.0f;
  for (int64_t n = 0; n < d.n; ++n) {
    for (int64_t oy = 0; oy < d.oh; ++oy) {
      for (int64_t ox = 0; ox < d.ow; ++ox) {
        for (int64_t c = 0; c < d.c; ++c) {
          int64_t arg = -1;
          float best = 0.0f;
          for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
            for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
              const int64_t y = oy * w.stride_h - w.pad_top + ky;
              const int64_t x = ox * w.stride_w - w.pad_left + kx;
              if (y < 0 || y >= d.ih || x < 0 || x >= d.iw) continue;
              const int64_t i = at(d, n, y, x, c, d.ih, d.iw);
              if (arg < 0 || in[i] > best) {
                best = in[i];
                arg = i;
              }
            }
          }
          if (arg >= 0) ds[arg] += dd[at(d, n, oy, ox, c, d.oh, d.ow)];
        }
      }
    }
  }
}

void avg_pool_fwd_ref(const Window2D& w, const TensorView& src, const TensorView& dst) {
  const PoolDims d = dims_of(src, dst);
  const float* in = src.f32();
  float* out = dst.f32();
  for (int64_t n = 0; n < d.n; ++n) {
    for (int64_t oy = 0; oy < d.oh; ++oy) {
      for (int64_t ox = 0; ox < d.ow; ++ox) {
        for (int64_t c = 0; c < d.c; ++c) {
          float sum = 0.0f;
          int64_t count = 0;
          for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
            for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
              const int64_t y = oy * w.stride_h - w.pad_top + ky;
              const int64_t x = ox * w.stride_w - w.pad_left + kx;
              if (y < 0 || y >= d.ih || x < 0 || x >= d.iw) continue;
              sum += in[at(d, n, y, x, c, d.ih, d.iw)];
              ++count;
            }
          }
          out[at(d, n, oy, ox, c, d.oh, d.ow)] = count > 0 ? sum / static_cast<float>(count) : 0.0f;
        }
      }
    }
  }
}

void avg_pool_bwd_ref(const Window2D& w, const TensorView& diff_dst, const TensorView& diff_src) {
  const PoolDims d = dims_of(diff_src, diff_dst);
  const float* dd = diff_dst.f32();
  float* ds = diff_src.f32();
  for (int64_t i = 0; i < diff_src.num_elements(); ++i) ds[i] = 0.0f;
  for (int64_t n = 0; n < d.n; ++n) {
    for (int64_t oy = 0; oy < d.oh; ++oy) {
      for (int64_t ox = 0; ox < d.ow; ++ox) {
        // Cells inside the image: padded cells are not counted (Keras/TensorFlow).
        int64_t count = 0;
        for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
          for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
            const int64_t y = oy * w.stride_h - w.pad_top + ky;
            const int64_t x = ox * w.stride_w - w.pad_left + kx;
            if (y >= 0 && y < d.ih && x >= 0 && x < d.iw) ++count;
          }
        }
        for (int64_t c = 0; c < d.c; ++c) {
          if (count == 0) continue;
          const float g = dd[at(d, n, oy, ox, c, d.oh, d.ow)] / static_cast<float>(count);
          for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
            for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
              const int64_t y = oy * w.stride_h - w.pad_top + ky;
              const int64_t x = ox * w.stride_w - w.pad_left + kx;
              if (y < 0 || y >= d.ih || x < 0 || x >= d.iw) continue;
              ds[at(d, n, y, x, c, d.ih, d.iw)] += g;
            }
          }
        }
      }
    }
  }
}

void global_avg_pool_fwd_ref(const TensorView& src, const TensorView& dst) {
  const int64_t batch = src.shape[0], hw = src.shape[1] * src.shape[2], channels = src.shape[3];
  const float* in = src.f32();
  float* out = dst.f32();
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      double sum = 0.0;
      for (int64_t p = 0; p < hw; ++p) sum += in[(n * hw + p) * channels + c];
      out[n * channels + c] = static_cast<float>(sum / static_cast<double>(hw));
    }
  }
}

void global_avg_pool_bwd_ref(const TensorView& diff_dst, const TensorView& diff_src) {
  const int64_t batch = diff_src.shape[0], hw = diff_src.shape[1] * diff_src.shape[2];
  const int64_t channels = diff_src.shape[3];
  const float* dd = diff_dst.f32();
  float* ds = diff_src.f32();
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t p = 0; p < hw; ++p) {
      for (int64_t c = 0; c < channels; ++c) {
        ds[(n * hw + p) * channels + c] = dd[n * channels + c] / static_cast<float>(hw);
      }
    }
  }
}

}  // namespace leantrain::kernels

// Fast NHWC pooling kernels. Every inner loop runs over the contiguous channel axis (`omp simd`);
// window bounds are clipped once per output position instead of tested per cell.
// - forward: output rows (n, oy) in parallel;
// - backward: windows may overlap, so (image, block of kChannelBlock channels) pairs run in
//   parallel: each writes only its own part of diff_src. Max-pool backward recomputes the argmax
//   of each window from src, per channel (the first maximum in row-major window order wins, as in
//   the reference), then adds diff_dst where a cell is the argmax: no workspace, no scatter.
// Per output the work is O(window * C), the same as the reference; accumulations happen in the
// reference's order, so results match it bit for bit.
#include <algorithm>
#include <cstdint>

#include "kernels/pooling.h"

namespace leantrain::kernels {
namespace {

// Below kParallelMin input elements thread start-up costs more than it saves.
constexpr int64_t kParallelMin = 32768;
// Channels handled together in backward; per-channel state lives on the stack.
constexpr int64_t kChannelBlock = 64;

// NHWC geometry of one pooling call.
struct PoolDims {
  int64_t n, ih, iw, c, oh, ow;
};

PoolDims dims_of(const TensorView& in, const TensorView& out) {
  return {in.shape[0], in.shape[1], in.shape[2], in.shape[3], out.shape[1], out.shape[2]};
}

// Kernel offsets [begin, end) of output position `o` that fall inside an input of size `in`;
// empty when end <= begin.
struct Span {
  int64_t begin, end, start;  // start: input coordinate of kernel offset 0
  bool empty() const { return end <= begin; }
  int64_t size() const { return end - begin; }
};

Span window_span(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t in) {
  const int64_t start = o * stride - pad;
  return {std::max<int64_t>(0, -start), std::min(kernel, in - start), start};
}

// The input cell (n, y, x, c0) of image `n`'s spatial position (y, x).
template <typename T>
T* cell(T* base, const PoolDims& d, int64_t n, int64_t y, int64_t x, int64_t c0) {
  return base + ((n * d.ih + y) * d.iw + x) * d.c + c0;
}

void fill_zero(float* p, int64_t count) {
#pragma omp simd
  for (int64_t c = 0; c < count; ++c) p[c] = 0.0f;
}

// Zeroes channels [c0, c0 + cn) of every spatial position of image n in diff_src.
void zero_image_block(float* ds, const PoolDims& d, int64_t n, int64_t c0, int64_t cn) {
  for (int64_t y = 0; y < d.ih; ++y) {
    for (int64_t x = 0; x < d.iw; ++x) fill_zero(cell(ds, d, n, y, x, c0), cn);
  }
}

}  // namespace

void max_pool_fwd_fast(const Window2D& w, const TensorView& src, const TensorView& dst) {
  const PoolDims d = dims_of(src, dst);
  const float* in = src.f32();
  float* out_base = dst.f32();
  const int64_t rows = d.n * d.oh;
#pragma omp parallel for schedule(static) if (src.num_elements() >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = r / d.oh, oy = r % d.oh;
    const Span sy = window_span(oy, w.stride_h, w.pad_top, w.kernel_h, d.ih);
    for (int64_t ox = 0; ox < d.ow; ++ox) {
      const Span sx = window_span(ox, w.stride_w, w.pad_left, w.kernel_w, d.iw);
      float* out = out_base + (r * d.ow + ox) * d.c;
      if (sy.empty() || sx.empty()) {
        fill_zero(out, d.c);
        continue;
      }
      const float* first = cell(in, d, n, sy.start + sy.begin, sx.start + sx.begin, 0);
#pragma omp simd
      for (int64_t c = 0; c < d.c; ++c) out[c] = first[c];
      for (int64_t ky = sy.begin; ky < sy.end; ++ky) {
        for (int64_t kx = sx.begin; kx < sx.end; ++kx) {
          if (ky == sy.begin && kx == sx.begin) continue;
          const float* s = cell(in, d, n, sy.start + ky, sx.start + kx, 0);
#pragma omp simd
          for (int64_t c = 0; c < d.c; ++c) out[c] = s[c] > out[c] ? s[c] : out[c];
        }
      }
    }
  }
}

void max_pool_bwd_fast(const Window2D& w, const TensorView& src, const TensorView& diff_dst,
                       const TensorView& diff_src) {
  const PoolDims d = dims_of(src, diff_dst);
  const float* in = src.f32();
  const float* dd = diff_dst.f32();
  float* ds = diff_src.f32();
  const int64_t blocks = (d.c + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static) if (src.num_elements() >= kParallelMin)
  for (int64_t t = 0; t < d.n * blocks; ++t) {
    const int64_t n = t / blocks, c0 = (t % blocks) * kChannelBlock;
    const int64_t cn = std::min(kChannelBlock, d.c - c0);
    zero_image_block(ds, d, n, c0, cn);
    float best[kChannelBlock];
    int32_t arg[kChannelBlock];  // window cell number (row-major over the clipped window)
    for (int64_t oy = 0; oy < d.oh; ++oy) {
      const Span sy = window_span(oy, w.stride_h, w.pad_top, w.kernel_h, d.ih);
      for (int64_t ox = 0; ox < d.ow; ++ox) {
        const Span sx = window_span(ox, w.stride_w, w.pad_left, w.kernel_w, d.iw);
        if (sy.empty() || sx.empty()) continue;
        int32_t id = 0;
        for (int64_t ky = sy.begin; ky < sy.end; ++ky) {
          for (int64_t kx = sx.begin; kx < sx.end; ++kx, ++id) {
            const float* s = cell(in, d, n, sy.start + ky, sx.start + kx, c0);
            if (id == 0) {
#pragma omp simd
              for (int64_t c = 0; c < cn; ++c) {
                best[c] = s[c];
                arg[c] = 0;
              }
            } else {
#pragma omp simd
              for (int64_t c = 0; c < cn; ++c) {
                const bool take = s[c] > best[c];
                best[c] = take ? s[c] : best[c];
                arg[c] = take ? id : arg[c];
              }
            }
          }
        }
        const float* g = dd + ((n * d.oh + oy) * d.ow + ox) * d.c + c0;
        id = 0;
        for (int64_t ky = sy.begin; ky < sy.end; ++ky) {
          for (int64_t kx = sx.begin; kx < sx.end; ++kx, ++id) {
            float* out = cell(ds, d, n, sy.start + ky, sx.start + kx, c0);
#pragma omp simd
            for (int64_t c = 0; c < cn; ++c) {
              const float gc = g[c];
              out[c] += arg[c] == id ? gc : 0.0f;
            }
          }
        }
      }
    }
  }
}

void avg_pool_fwd_fast(const Window2D& w, const TensorView& src, const TensorView& dst) {
  const PoolDims d = dims_of(src, dst);
  const float* in = src.f32();
  float* out_base = dst.f32();
  const int64_t rows = d.n * d.oh;
#pragma omp parallel for schedule(static) if (src.num_elements() >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = r / d.oh, oy = r % d.oh;
    const Span sy = window_span(oy, w.stride_h, w.pad_top, w.kernel_h, d.ih);
    for (int64_t ox = 0; ox < d.ow; ++ox) {
      const Span sx = window_span(ox, w.stride_w, w.pad_left, w.kernel_w, d.iw);
      float* out = out_base + (r * d.ow + ox) * d.c;
      fill_zero(out, d.c);
      if (sy.empty() || sx.empty()) continue;
      for (int64_t ky = sy.begin; ky < sy.end; ++ky) {
        for (int64_t kx = sx.begin; kx < sx.end; ++kx) {
          const float* s = cell(in, d, n, sy.start + ky, sx.start + kx, 0);
#pragma omp simd
          for (int64_t c = 0; c < d.c; ++c) out[c] += s[c];
        }
      }
      const float count = static_cast<float>(sy.size() * sx.size());
#pragma omp simd
      for (int64_t c = 0; c < d.c; ++c) out[c] /= count;
    }
  }
}

void avg_pool_bwd_fast(const Window2D& w, const TensorView& diff_dst, const TensorView& diff_src) {
  const PoolDims d = dims_of(diff_src, diff_dst);
  const float* dd = diff_dst.f32();
  float* ds = diff_src.f32();
  const int64_t blocks = (d.c + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static) if (diff_src.num_elements() >= kParallelMin)
  for (int64_t t = 0; t < d.n * blocks; ++t) {
    const int64_t n = t / blocks, c0 = (t % blocks) * kChannelBlock;
    const int64_t cn = std::min(kChannelBlock, d.c - c0);
    zero_image_block(ds, d, n, c0, cn);
    float share[kChannelBlock];
    for (int64_t oy = 0; oy < d.oh; ++oy) {
      const Span sy = window_span(oy, w.stride_h, w.pad_top, w.kernel_h, d.ih);
      for (int64_t ox = 0; ox < d.ow; ++ox) {
        const Span sx = window_span(ox, w.stride_w, w.pad_left, w.kernel_w, d.iw);
        if (sy.empty() || sx.empty()) continue;
        const float count = static_cast<float>(sy.size() * sx.size());
        const float* g = dd + ((n * d.oh + oy) * d.ow + ox) * d.c + c0;
#pragma omp simd
        for (int64_t c = 0; c < cn; ++c) share[c] = g[c] / count;
        for (int64_t ky = sy.begin; ky < sy.end; ++ky) {
          for (int64_t kx = sx.begin; kx < sx.end; ++kx) {
            float* out = cell(ds, d, n, sy.start + ky, sx.start + kx, c0);
#pragma omp simd
            for (int64_t c = 0; c < cn; ++c) out[c] += share[c];
          }
        }
      }
    }
  }
}

void global_avg_pool_fwd_fast(const TensorView& src, const TensorView& dst) {
  const int64_t batch = src.shape[0], hw = src.shape[1] * src.shape[2], channels = src.shape[3];
  const float* in = src.f32();
  float* out = dst.f32();
  const int64_t blocks = (channels + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static) if (src.num_elements() >= kParallelMin)
  for (int64_t t = 0; t < batch * blocks; ++t) {
    const int64_t n = t / blocks, c0 = (t % blocks) * kChannelBlock;
    const int64_t cn = std::min(kChannelBlock, channels - c0);
    double sum[kChannelBlock];
#pragma omp simd
    for (int64_t c = 0; c < cn; ++c) sum[c] = 0.0;
    for (int64_t p = 0; p < hw; ++p) {
      const float* s = in + (n * hw + p) * channels + c0;
#pragma omp simd
      for (int64_t c = 0; c < cn; ++c) sum[c] += s[c];
    }
#pragma omp simd
    for (int64_t c = 0; c < cn; ++c) {
      out[n * channels + c0 + c] = static_cast<float>(sum[c] / static_cast<double>(hw));
    }
  }
}

void global_avg_pool_bwd_fast(const TensorView& diff_dst, const TensorView& diff_src) {
  const int64_t batch = diff_src.shape[0], hw = diff_src.shape[1] * diff_src.shape[2];
  const int64_t channels = diff_src.shape[3];
  const float* dd = diff_dst.f32();
  float* ds = diff_src.f32();
  const float count = static_cast<float>(hw);
#pragma omp parallel for schedule(static) if (diff_src.num_elements() >= kParallelMin)
  for (int64_t r = 0; r < batch * hw; ++r) {
    const float* g = dd + (r / hw) * channels;
    float* out = ds + r * channels;
#pragma omp simd
    for (int64_t c = 0; c < channels; ++c) out[c] = g[c] / count;
  }
}

}  // namespace leantrain::kernels

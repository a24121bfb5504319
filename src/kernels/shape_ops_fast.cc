// Fast padding, cropping, concatenation and splitting. NHWC keeps each image row (W * C floats)
// and each position's channels contiguous, so every kernel is a sequence of memcpy/fill runs:
// - pad / crop: image rows (n, y) in parallel, one run per row plus the zero borders;
// - concat / split: positions in parallel, one run per source (or destination) per position.
// In place (crop2d_fast with dst == src, split_last_fast with dsts[0] == src) the runs go
// serially in increasing address order with memmove: each element moves down, never past an
// element still to be read (see shape_ops.h). Views are read through .data inside parallel
// regions: .f32()'s dtype check could throw, and nothing may leave an OpenMP region by throwing.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/fast_math.h"
#include "kernels/shape_ops.h"

namespace leantrain::kernels {
namespace {

using fast::kParallelMin;

void copy_floats(float* dst, const float* src, int64_t count) {
  std::memcpy(dst, src, static_cast<size_t>(count) * sizeof(float));
}

void fill_zero(float* dst, int64_t count) { std::fill_n(dst, count, 0.0f); }

// True when [a, a + a_count) and [b, b + b_count) share a float.
bool overlaps(const float* a, int64_t a_count, const float* b, int64_t b_count) {
  return a < b + b_count && b < a + a_count;
}

}  // namespace

void zero_pad2d_fast(const Pad2D& pad, const TensorView& src, const TensorView& dst) {
  const int64_t n_count = dst.shape[0], oh = dst.shape[1], ow = dst.shape[2], c = dst.shape[3];
  const int64_t ih = src.shape[1], iw = src.shape[2];
  const float* in = src.f32();
  float* out = dst.f32();
  const int64_t rows = n_count * oh;
  const int64_t left = pad.left * c, middle = iw * c, right = pad.right * c;
#pragma omp parallel for schedule(static) if (dst.num_elements() >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = r / oh, sy = r % oh - pad.top;
    float* row = out + r * ow * c;
    if (sy < 0 || sy >= ih) {
      fill_zero(row, ow * c);
      continue;
    }
    fill_zero(row, left);
    copy_floats(row + left, in + (n * ih + sy) * middle, middle);
    fill_zero(row + left + middle, right);
  }
}

void crop2d_fast(const Pad2D& pad, const TensorView& src, const TensorView& dst) {
  const int64_t n_count = dst.shape[0], oh = dst.shape[1], ow = dst.shape[2], c = dst.shape[3];
  const int64_t ih = src.shape[1], iw = src.shape[2];
  const float* in = src.f32();
  float* out = dst.f32();
  const int64_t rows = n_count * oh, run = ow * c;
  const auto source_row = [&](int64_t r) {
    const int64_t n = r / oh, y = r % oh;
    return in + ((n * ih + y + pad.top) * iw + pad.left) * c;
  };
  if (overlaps(out, dst.num_elements(), in, src.num_elements())) {
    for (int64_t r = 0; r < rows; ++r) {
      std::memmove(out + r * run, source_row(r), static_cast<size_t>(run) * sizeof(float));
    }
    return;
  }
#pragma omp parallel for schedule(static) if (dst.num_elements() >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) copy_floats(out + r * run, source_row(r), run);
}

void concat_last_fast(std::span<const TensorView> srcs, const TensorView& dst) {
  const int64_t total = dst.shape.dim(-1);
  const int64_t positions = dst.num_elements() / total;
  float* out = dst.f32();
#pragma omp parallel for schedule(static) if (dst.num_elements() >= kParallelMin)
  for (int64_t p = 0; p < positions; ++p) {
    float* o = out + p * total;
    for (const TensorView& s : srcs) {
      const int64_t count = s.shape.dim(-1);
      copy_floats(o, static_cast<const float*>(s.data) + p * count, count);
      o += count;
    }
  }
}

void split_last_fast(const TensorView& src, std::span<const int64_t> offsets,
                     std::span<const TensorView> dsts) {
  if (dsts.empty()) return;
  const int64_t total = src.shape.dim(-1);
  const int64_t positions = src.num_elements() / total;
  const float* in = src.f32();
  const bool parallel = src.num_elements() >= kParallelMin;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t p = 0; p < positions; ++p) {
    for (size_t i = 1; i < dsts.size(); ++i) {
      const int64_t count = dsts[i].shape.dim(-1);
      copy_floats(static_cast<float*>(dsts[i].data) + p * count, in + p * total + offsets[i],
                  count);
    }
  }
  float* out = dsts[0].f32();
  const int64_t first = dsts[0].shape.dim(-1);
  const float* part = in + offsets[0];
  if (overlaps(out, dsts[0].num_elements(), in, src.num_elements())) {
    for (int64_t p = 0; p < positions; ++p) {
      std::memmove(out + p * first, part + p * total, static_cast<size_t>(first) * sizeof(float));
    }
    return;
  }
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t p = 0; p < positions; ++p) copy_floats(out + p * first, part + p * total, first);
}

}  // namespace leantrain::kernels

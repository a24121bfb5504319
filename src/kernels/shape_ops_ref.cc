// Reference padding, cropping, concatenation and splitting: one element at a time, in increasing
// order of the destination index, which is what makes crop2d_ref and split_last_ref safe in place.
#include <cstdint>

#include "kernels/shape_ops.h"

namespace leantrain::kernels {

// For every destination element: the source element at (y - top, x - left), or 0 outside it.
// O(N * OH * OW * C).
void zero_pad2d_ref(const Pad2D& pad, const TensorView& src, const TensorView& dst) {
  const int64_t n_count = dst.shape[0], oh = dst.shape[1], ow = dst.shape[2],
                c_count = dst.shape[3];
  const int64_t ih = src.shape[1], iw = src.shape[2];
  const float* in = src.f32();
  float* out = dst.f32();
  for (int64_t n = 0; n < n_count; ++n) {
    for (int64_t y = 0; y < oh; ++y) {
      for (int64_t x = 0; x < ow; ++x) {
        const int64_t sy = y - pad.top, sx = x - pad.left;
        const bool inside = sy >= 0 && sy < ih && sx >= 0 && sx < iw;
        for (int64_t c = 0; c < c_count; ++c) {
          out[((n * oh + y) * ow + x) * c_count + c] =
              inside ? in[((n * ih + sy) * iw + sx) * c_count + c] : 0.0f;
        }
      }
    }
  }
}

// dst (n, y, x, c) = src (n, y + top, x + left, c), in increasing order of the destination index.
void crop2d_ref(const Pad2D& pad, const TensorView& src, const TensorView& dst) {
  const int64_t n_count = dst.shape[0], oh = dst.shape[1], ow = dst.shape[2],
                c_count = dst.shape[3];
  const int64_t ih = src.shape[1], iw = src.shape[2];
  const float* in = src.f32();
  float* out = dst.f32();
  for (int64_t n = 0; n < n_count; ++n) {
    for (int64_t y = 0; y < oh; ++y) {
      for (int64_t x = 0; x < ow; ++x) {
        for (int64_t c = 0; c < c_count; ++c) {
          out[((n * oh + y) * ow + x) * c_count + c] =
              in[((n * ih + y + pad.top) * iw + x + pad.left) * c_count + c];
        }
      }
    }
  }
}

// For every position p of the leading dimensions, the C_i channels of each source in turn.
void concat_last_ref(std::span<const TensorView> srcs, const TensorView& dst) {
  const int64_t total = dst.shape.dim(-1);
  const int64_t positions = dst.num_elements() / total;
  float* out = dst.f32();
  int64_t c0 = 0;
  for (const TensorView& s : srcs) {
    const int64_t c_count = s.shape.dim(-1);
    const float* in = s.f32();
    for (int64_t p = 0; p < positions; ++p) {
      for (int64_t c = 0; c < c_count; ++c) out[p * total + c0 + c] = in[p * c_count + c];
    }
    c0 += c_count;
  }
}

// Outputs 1.. first, then output 0 (which may be src's bytes) in increasing index order.
void split_last_ref(const TensorView& src, std::span<const int64_t> offsets,
                    std::span<const TensorView> dsts) {
  const int64_t total = src.shape.dim(-1);
  const int64_t positions = src.num_elements() / total;
  const float* in = src.f32();
  const auto copy_part = [&](size_t i) {
    const int64_t c0 = offsets[i], c_count = dsts[i].shape.dim(-1);
    float* out = dsts[i].f32();
    for (int64_t p = 0; p < positions; ++p) {
      for (int64_t c = 0; c < c_count; ++c) out[p * c_count + c] = in[p * total + c0 + c];
    }
  };
  for (size_t i = 1; i < dsts.size(); ++i) copy_part(i);
  if (!dsts.empty()) copy_part(0);
}

}  // namespace leantrain::kernels

// Resizing (bilinear with antialias, area, nearest) and conversion of 8-bit images to float,
// fused into one pass that writes the batch slot.
//
// Algorithm (separable filtering, as PIL's and TensorFlow's scale_and_translate):
//   - for each axis, a weight table: output index i covers the source interval
//     [x0 + i * s, x0 + (i + 1) * s) of the window (s = window extent / output size), centered
//     at x0 + (i + 0.5) * s (half-pixel centers). Its taps are the source pixels j in the
//     window whose weight is nonzero: triangle((j + 0.5 - center) / support) with support
//     max(s, 1) (antialias) or 1; exact overlap of [j, j + 1) with the interval (area); the
//     pixel containing the center (nearest). Weights are normalized to sum 1, which at the
//     window's edges is the same as clamping coordinates to the edge;
//   - per output row: a vertical pass blends the row's source rows over the window's columns
//     into a float row buffer (vectorized over the row), then a horizontal pass blends that
//     buffer into the output row through the per-channel affine map, one pixel per 4-lane
//     register; flipping mirrors the x table, so the output is written front to back.
// Cost O(out_h * (window_w * C * taps_y + out_w * C * taps_x)); memory: the weight tables and
// one float row of the window, thread-local and reused.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/data/image.h"

namespace leantrain::data {
namespace {

// The filter taps of one axis: output i reads source indices start[i] .. start[i] + taps - 1
// with weights weights[i * taps ..]; entries past an output's real taps are zero.
struct AxisWeights {
  // The parameters the table was built for (to reuse it for the next image of the same size).
  int64_t in_size = -1, out_size = -1;
  double x0 = 0, extent = 0;
  Interpolation interpolation = Interpolation::kBilinear;
  bool antialias = false;
  bool flip = false;  // output i holds what output (out_size - 1 - i) would

  int64_t taps = 0;
  int64_t lo = 0, hi = 0;      // source range read: [lo, hi)
  std::vector<int64_t> start;  // (out_size)
  std::vector<float> weights;  // (out_size, taps)

  // Scratch for building the table, kept so rebuilding allocates nothing once grown.
  std::vector<int64_t> first, count;  // (out_size) first tap and tap count per output
  std::vector<double> raw;            // (out_size, candidate range) unpacked weights
};

void build_axis(AxisWeights& w, int64_t in_size, double x0, double extent, int64_t out_size,
                Interpolation interpolation, bool antialias, bool flip) {
  if (w.in_size == in_size && w.out_size == out_size && w.x0 == x0 && w.extent == extent &&
      w.interpolation == interpolation && w.antialias == antialias && w.flip == flip)
    return;
  w.flip = flip;
  w.in_size = in_size;
  w.out_size = out_size;
  w.x0 = x0;
  w.extent = extent;
  w.interpolation = interpolation;
  w.antialias = antialias;

  // The window's pixels: those the interval [x0, x0 + extent) touches.
  w.lo = std::clamp<int64_t>(static_cast<int64_t>(std::floor(x0 + 1e-9)), 0, in_size - 1);
  w.hi =
      std::clamp<int64_t>(static_cast<int64_t>(std::ceil(x0 + extent - 1e-9)), w.lo + 1, in_size);
  const double scale = extent / static_cast<double>(out_size);
  const double support =
      (interpolation == Interpolation::kBilinear && antialias) ? std::max(scale, 1.0) : 1.0;

  // Pass 1: each output's candidate taps [j0, j1), clipped to the window.
  w.first.resize(static_cast<size_t>(out_size));
  w.count.resize(static_cast<size_t>(out_size));
  int64_t max_range = 1;
  for (int64_t i = 0; i < out_size; ++i) {
    const double center = x0 + (static_cast<double>(i) + 0.5) * scale;
    int64_t j0 = 0, j1 = 0;
    switch (interpolation) {
      case Interpolation::kNearest:
        j0 = std::clamp<int64_t>(static_cast<int64_t>(std::floor(center)), w.lo, w.hi - 1);
        j1 = j0 + 1;
        break;
      case Interpolation::kArea:
        j0 = static_cast<int64_t>(std::floor(center - 0.5 * scale));
        j1 = static_cast<int64_t>(std::ceil(center + 0.5 * scale));
        break;
      case Interpolation::kBilinear:
        j0 = static_cast<int64_t>(std::floor(center - support - 0.5));
        j1 = static_cast<int64_t>(std::ceil(center + support - 0.5)) + 1;
        break;
    }
    j0 = std::max(j0, w.lo);
    j1 = std::max(std::min(j1, w.hi), j0 + 1);
    w.first[static_cast<size_t>(i)] = j0;
    w.count[static_cast<size_t>(i)] = j1 - j0;
    max_range = std::max(max_range, j1 - j0);
  }

  // Pass 2: weights, normalized, with zero weights trimmed at both ends.
  w.raw.resize(static_cast<size_t>(out_size * max_range));
  int64_t max_taps = 1;
  for (int64_t i = 0; i < out_size; ++i) {
    const double center = x0 + (static_cast<double>(i) + 0.5) * scale;
    double* t = &w.raw[static_cast<size_t>(i * max_range)];
    const int64_t j0 = w.first[static_cast<size_t>(i)];
    int64_t n = w.count[static_cast<size_t>(i)];
    double sum = 0;
    int64_t best = j0;
    double best_distance = 1e300;
    for (int64_t k = 0; k < n; ++k) {
      const double j = static_cast<double>(j0 + k);
      const double distance = std::abs(j + 0.5 - center);
      double weight = 1.0;
      if (interpolation == Interpolation::kBilinear) {
        weight = std::max(0.0, 1.0 - distance / support);
      } else if (interpolation == Interpolation::kArea) {
        weight = std::max(
            0.0, std::min(j + 1, center + 0.5 * scale) - std::max(j, center - 0.5 * scale));
      }
      if (distance < best_distance) {
        best_distance = distance;
        best = j0 + k;
      }
      t[k] = weight;
      sum += weight;
    }
    int64_t a = 0;
    if (!(sum > 1e-12)) {
      // Only possible for a degenerate window; fall back to the nearest pixel.
      w.first[static_cast<size_t>(i)] = best;
      t[0] = 1.0;
      n = 1;
      sum = 1.0;
    } else {
      while (n > a + 1 && t[n - 1] == 0.0) --n;
      while (a + 1 < n && t[a] == 0.0) ++a;
    }
    for (int64_t k = a; k < n; ++k) t[k - a] = t[k] / sum;
    w.first[static_cast<size_t>(i)] += a;
    w.count[static_cast<size_t>(i)] = n - a;
    max_taps = std::max(max_taps, n - a);
  }

  // Pass 3: a fixed number of taps per output; starts shifted left where needed so every tap
  // index stays inside [lo, hi) (max_taps <= hi - lo, since taps are distinct pixels of it).
  w.taps = max_taps;
  w.start.assign(static_cast<size_t>(out_size), 0);
  w.weights.assign(static_cast<size_t>(out_size * max_taps), 0.0f);
  for (int64_t i = 0; i < out_size; ++i) {
    const int64_t first = w.first[static_cast<size_t>(i)];
    const int64_t s = std::min(first, w.hi - max_taps);
    const int64_t shift = first - s;
    const int64_t slot = flip ? out_size - 1 - i : i;
    const double* t = &w.raw[static_cast<size_t>(i * max_range)];
    w.start[static_cast<size_t>(slot)] = s;
    for (int64_t k = 0; k < w.count[static_cast<size_t>(i)]; ++k)
      w.weights[static_cast<size_t>(slot * max_taps + shift + k)] = static_cast<float>(t[k]);
  }
}

struct ResizeScratch {
  AxisWeights x, y;
  std::vector<float> row;  // (window columns * C + 4) f32: one vertically blended row, padded
};

// Four floats as one SIMD register (SSE/AVX with -march=x86-64-v3; GCC and clang both).
typedef float Float4 __attribute__((vector_size(16)));

inline Float4 load4(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The weights are non-negative and sum to 1, so the exact blend of u8 pixels lies in
// [0, 255]; float rounding over many taps (an area filter over a large window: ~180 x 130)
// can overshoot it by ~1e-5 relative. Clamped back before the affine map.
inline float in_pixel_range(float v) { return std::clamp(v, 0.0f, 255.0f); }

// Horizontal pass of one row: out[ox] = (sum_k wx[k] * row[start + k - lo]) * scale + offset.
// `row` has at least one float of padding after its last pixel. kTaps > 0 fixes the tap count
// at compile time (the common small filters unroll fully); 0 reads it from the table.
template <int C, int kTaps>
void horizontal_pass(const float* row, const AxisWeights& wx, int64_t out_w, const float* scale,
                     const float* offset, float* out_row) {
  const int64_t taps = kTaps > 0 ? kTaps : wx.taps;
  const float* weights = wx.weights.data();
  const int64_t* starts = wx.start.data();
  if constexpr (C == 3 || C == 4) {
    // One pixel per register: 4 lanes, of which C are used; the store of pixel ox spills one
    // lane into pixel ox + 1 (for C = 3), which the next iteration overwrites, so the last pixel
    // is stored lane by lane.
    const Float4 s = {scale[0], scale[1], scale[2], C == 4 ? scale[3] : 0.0f};
    const Float4 o = {offset[0], offset[1], offset[2], C == 4 ? offset[3] : 0.0f};
    for (int64_t ox = 0; ox < out_w; ++ox) {
      const float* wk = weights + ox * taps;
      const float* r = row + (starts[ox] - wx.lo) * C;
      Float4 acc = wk[0] * load4(r);
      for (int64_t k = 1; k < taps; ++k) acc += wk[k] * load4(r + k * C);
      for (int c = 0; c < 4; ++c) acc[c] = in_pixel_range(acc[c]);
      acc = acc * s + o;
      if (C == 4 || ox + 1 < out_w) {
        std::memcpy(out_row + ox * C, &acc, sizeof acc);
      } else {
        for (int c = 0; c < C; ++c) out_row[ox * C + c] = acc[c];
      }
    }
  } else {
    for (int64_t ox = 0; ox < out_w; ++ox) {
      const float* wk = weights + ox * taps;
      const float* r = row + (starts[ox] - wx.lo) * C;
      float acc[C] = {};
      for (int64_t k = 0; k < taps; ++k) {
        for (int c = 0; c < C; ++c) acc[c] += wk[k] * r[k * C + c];
      }
      for (int c = 0; c < C; ++c) {
        out_row[ox * C + c] = in_pixel_range(acc[c]) * scale[c] + offset[c];
      }
    }
  }
}

template <int C>
void horizontal_pass(const float* row, const AxisWeights& wx, int64_t out_w, const float* scale,
                     const float* offset, float* out_row) {
  switch (wx.taps) {
    case 1:
      return horizontal_pass<C, 1>(row, wx, out_w, scale, offset, out_row);
    case 2:
      return horizontal_pass<C, 2>(row, wx, out_w, scale, offset, out_row);
    case 3:
      return horizontal_pass<C, 3>(row, wx, out_w, scale, offset, out_row);
    case 4:
      return horizontal_pass<C, 4>(row, wx, out_w, scale, offset, out_row);
    default:
      return horizontal_pass<C, 0>(row, wx, out_w, scale, offset, out_row);
  }
}

// Writes the resized window: dst is (out_h, out_w, C) f32. The x table is already mirrored
// when flipping.
template <int C>
void resize_pass(const Image& image, const AxisWeights& wy, const AxisWeights& wx, int64_t out_h,
                 int64_t out_w, const PixelAffine& affine, float* dst,
                 std::vector<float>& row_buffer) {
  const int64_t cols = wx.hi - wx.lo;
  const int64_t n = cols * C;
  row_buffer.assign(static_cast<size_t>(n + 4), 0.0f);
  float* row = row_buffer.data();
  const int64_t stride = image.width * C;
  const uint8_t* base = image.pixels.data() + wx.lo * C;
  float scale[C], offset[C];
  for (int c = 0; c < C; ++c) {
    scale[c] = affine.scale[static_cast<size_t>(c)];
    offset[c] = affine.offset[static_cast<size_t>(c)];
  }
  for (int64_t oy = 0; oy < out_h; ++oy) {
    // Vertical: row = sum_k wy[k] * source row (start + k), over the window's columns.
    const float* wyk = &wy.weights[static_cast<size_t>(oy * wy.taps)];
    const uint8_t* src = base + wy.start[static_cast<size_t>(oy)] * stride;
    {
      const float w0 = wyk[0];
      for (int64_t i = 0; i < n; ++i) row[i] = w0 * static_cast<float>(src[i]);
    }
    for (int64_t k = 1; k < wy.taps; ++k) {
      const float wk = wyk[k];
      if (wk == 0.0f) continue;
      const uint8_t* s = src + k * stride;
      for (int64_t i = 0; i < n; ++i) row[i] += wk * static_cast<float>(s[i]);
    }
    horizontal_pass<C>(row, wx, out_w, scale, offset, dst + oy * out_w * C);
  }
}

void check_image(const Image& image, const char* what) {
  LT_CHECK(image.height > 0 && image.width > 0 && image.channels >= 1 && image.channels <= 4,
           kInvalidArgument, what, ": needs a non-empty image with 1 to 4 channels, got ",
           image.height, "x", image.width, "x", image.channels);
  LT_CHECK(image.pixels.size() == static_cast<size_t>(image.size()), kInvalidArgument, what,
           ": the image is ", image.height, "x", image.width, "x", image.channels, " but holds ",
           image.pixels.size(), " bytes");
}

}  // namespace

Interpolation parse_interpolation(const std::string& name) {
  if (name == "bilinear") return Interpolation::kBilinear;
  if (name == "area") return Interpolation::kArea;
  if (name == "nearest") return Interpolation::kNearest;
  LT_CHECK(false, kInvalidArgument, "unknown interpolation '", name,
           "'; supported: bilinear, area, nearest");
  return Interpolation::kBilinear;
}

PixelAffine PixelAffine::rescale(float scale, float offset) {
  PixelAffine a;
  a.scale.fill(scale);
  a.offset.fill(offset);
  return a;
}

PixelAffine PixelAffine::normalize(std::span<const float> mean, std::span<const float> stddev,
                                   float scale) {
  LT_CHECK(!mean.empty() && mean.size() <= 4 && mean.size() == stddev.size(), kInvalidArgument,
           "normalize: mean has ", mean.size(), " entries and stddev ", stddev.size(),
           "; pass one per channel (1 to 4)");
  PixelAffine a;
  for (size_t c = 0; c < mean.size(); ++c) {
    LT_CHECK(stddev[c] != 0.0f && std::isfinite(stddev[c]), kInvalidArgument, "normalize: stddev[",
             c, "] is ", stddev[c], "; pass a nonzero finite value");
    a.scale[c] = scale / stddev[c];
    a.offset[c] = -mean[c] / stddev[c];
  }
  return a;
}

void resize_to_float(const Image& image, const CropWindow& window, int64_t height, int64_t width,
                     float* dst, const PixelAffine& affine, Interpolation interpolation,
                     bool antialias, bool flip, double window_scale_y, double window_scale_x) {
  check_image(image, "resize");
  LT_CHECK(height > 0 && width > 0, kInvalidArgument, "resize: target size ", height, "x", width,
           " must be positive");
  LT_CHECK(window_scale_y > 0 && window_scale_x > 0, kInvalidArgument,
           "resize: window scale must be positive");
  double y0 = 0, x0 = 0, wh = static_cast<double>(image.height),
         ww = static_cast<double>(image.width);
  if (window.height != 0 || window.width != 0) {
    y0 = static_cast<double>(window.top) * window_scale_y;
    x0 = static_cast<double>(window.left) * window_scale_x;
    wh = static_cast<double>(window.height) * window_scale_y;
    ww = static_cast<double>(window.width) * window_scale_x;
    constexpr double kSlack = 1e-6;
    LT_CHECK(window.top >= 0 && window.left >= 0 && window.height > 0 && window.width > 0 &&
                 y0 + wh <= static_cast<double>(image.height) + kSlack &&
                 x0 + ww <= static_cast<double>(image.width) + kSlack,
             kInvalidArgument, "resize: window (top ", window.top, ", left ", window.left,
             ", height ", window.height, ", width ", window.width, ") scaled by ", window_scale_y,
             "x", window_scale_x, " is outside the ", image.height, "x", image.width, " image");
  }
  thread_local ResizeScratch scratch;
  build_axis(scratch.y, image.height, y0, wh, height, interpolation, antialias, false);
  build_axis(scratch.x, image.width, x0, ww, width, interpolation, antialias, flip);
  switch (image.channels) {
    case 1:
      resize_pass<1>(image, scratch.y, scratch.x, height, width, affine, dst, scratch.row);
      break;
    case 2:
      resize_pass<2>(image, scratch.y, scratch.x, height, width, affine, dst, scratch.row);
      break;
    case 3:
      resize_pass<3>(image, scratch.y, scratch.x, height, width, affine, dst, scratch.row);
      break;
    default:
      resize_pass<4>(image, scratch.y, scratch.x, height, width, affine, dst, scratch.row);
      break;
  }
}

Image resize(const Image& image, int64_t height, int64_t width, Interpolation interpolation,
             bool antialias) {
  check_image(image, "resize");
  LT_CHECK(height > 0 && width > 0, kInvalidArgument, "resize: target size ", height, "x", width,
           " must be positive");
  std::vector<float> values(static_cast<size_t>(height * width * image.channels));
  resize_to_float(image, CropWindow{}, height, width, values.data(), PixelAffine::rescale(1.0f),
                  interpolation, antialias);
  Image out;
  out.height = height;
  out.width = width;
  out.channels = image.channels;
  out.pixels.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    out.pixels[i] = static_cast<uint8_t>(std::clamp(std::floor(values[i] + 0.5f), 0.0f, 255.0f));
  }
  return out;
}

void to_float(const Image& image, float* dst, float scale, float offset) {
  const uint8_t* p = image.pixels.data();
  const int64_t n = std::min<int64_t>(image.size(), static_cast<int64_t>(image.pixels.size()));
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(p[i]) * scale + offset;
}

void normalize_to_float(const Image& image, float* dst, std::span<const float> mean,
                        std::span<const float> stddev, float scale) {
  LT_CHECK(static_cast<int64_t>(mean.size()) == image.channels, kInvalidArgument,
           "normalize: mean has ", mean.size(), " entries for a ", image.channels,
           "-channel image; pass one per channel");
  const PixelAffine a = PixelAffine::normalize(mean, stddev, scale);
  const int64_t c_count = image.channels;
  const int64_t pixels = image.height * image.width;
  const uint8_t* p = image.pixels.data();
  for (int64_t i = 0; i < pixels; ++i) {
    for (int64_t c = 0; c < c_count; ++c) {
      dst[i * c_count + c] =
          static_cast<float>(p[i * c_count + c]) * a.scale[static_cast<size_t>(c)] +
          a.offset[static_cast<size_t>(c)];
    }
  }
}

}  // namespace leantrain::data

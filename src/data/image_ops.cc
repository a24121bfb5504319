// Pixel-exact image transforms: colour conversion, crops, flips, seeded random crops and flips,
// brightness and contrast.
#include <algorithm>
#include <cmath>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "leantrain/data/image.h"

namespace leantrain::data {
namespace {

// Salts that keep the draws of different random ops independent for the same seed.
constexpr uint64_t kCropSalt = 0x63726f7000000001ull;
constexpr uint64_t kResizedCropSalt = 0x7272630000000002ull;
constexpr uint64_t kFlipSalt = 0x666c697000000003ull;
constexpr uint64_t kJitterSalt = 0x6a69740000000004ull;

void check_image(const Image& image, const char* what) {
  LT_CHECK(image.height > 0 && image.width > 0 && image.channels >= 1 && image.channels <= 4,
           kInvalidArgument, what, ": needs a non-empty image with 1 to 4 channels, got ",
           image.height, "x", image.width, "x", image.channels);
  LT_CHECK(image.pixels.size() == static_cast<size_t>(image.size()), kInvalidArgument, what,
           ": the image is ", image.height, "x", image.width, "x", image.channels, " but holds ",
           image.pixels.size(), " bytes");
}

Image blank(int64_t height, int64_t width, int64_t channels) {
  Image out;
  out.height = height;
  out.width = width;
  out.channels = channels;
  out.pixels.resize(static_cast<size_t>(height * width * channels));
  return out;
}

inline uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
  return static_cast<uint8_t>((19595u * r + 38470u * g + 7471u * b + 32768u) >> 16);
}

inline uint8_t saturate(float v) {
  return static_cast<uint8_t>(std::clamp(std::round(v), 0.0f, 255.0f));
}

// Colour channels (alpha excluded).
int64_t colour_channels(const Image& image) {
  return image.channels == 4 ? 3 : image.channels == 2 ? 1 : image.channels;
}

}  // namespace

Image to_grayscale(const Image& image) {
  check_image(image, "to_grayscale");
  const int64_t pixels = image.height * image.width;
  Image out = blank(image.height, image.width, 1);
  const uint8_t* p = image.pixels.data();
  if (image.channels <= 2) {
    for (int64_t i = 0; i < pixels; ++i) out.pixels[static_cast<size_t>(i)] = p[i * image.channels];
  } else {
    for (int64_t i = 0; i < pixels; ++i) {
      const uint8_t* s = p + i * image.channels;
      out.pixels[static_cast<size_t>(i)] = luma(s[0], s[1], s[2]);
    }
  }
  return out;
}

Image to_rgb(const Image& image) {
  check_image(image, "to_rgb");
  const int64_t pixels = image.height * image.width;
  Image out = blank(image.height, image.width, 3);
  const uint8_t* p = image.pixels.data();
  for (int64_t i = 0; i < pixels; ++i) {
    const uint8_t* s = p + i * image.channels;
    uint8_t* d = &out.pixels[static_cast<size_t>(3 * i)];
    if (image.channels <= 2) {
      d[0] = d[1] = d[2] = s[0];
    } else {
      d[0] = s[0];
      d[1] = s[1];
      d[2] = s[2];
    }
  }
  return out;
}

Image crop(const Image& image, int64_t top, int64_t left, int64_t height, int64_t width) {
  check_image(image, "crop");
  LT_CHECK(top >= 0 && left >= 0 && height > 0 && width > 0 && top + height <= image.height &&
               left + width <= image.width,
           kInvalidArgument, "crop: window (top ", top, ", left ", left, ", height ", height,
           ", width ", width, ") is not inside the ", image.height, "x", image.width, " image");
  Image out = blank(height, width, image.channels);
  const int64_t row_bytes = width * image.channels;
  for (int64_t y = 0; y < height; ++y) {
    const uint8_t* src = image.pixels.data() + ((top + y) * image.width + left) * image.channels;
    std::copy(src, src + row_bytes, out.pixels.data() + y * row_bytes);
  }
  return out;
}

CropWindow center_crop_window(int64_t image_height, int64_t image_width, int64_t height,
                              int64_t width) {
  LT_CHECK(height > 0 && width > 0 && height <= image_height && width <= image_width,
           kInvalidArgument, "center_crop: ", height, "x", width, " does not fit in the ",
           image_height, "x", image_width, " image; resize first or crop smaller");
  return {(image_height - height) / 2, (image_width - width) / 2, height, width};
}

Image center_crop(const Image& image, int64_t height, int64_t width) {
  check_image(image, "center_crop");
  const CropWindow w = center_crop_window(image.height, image.width, height, width);
  return crop(image, w.top, w.left, w.height, w.width);
}

CropWindow aspect_ratio_window(int64_t image_height, int64_t image_width, int64_t target_height,
                               int64_t target_width) {
  LT_CHECK(image_height > 0 && image_width > 0 && target_height > 0 && target_width > 0,
           kInvalidArgument, "crop_to_aspect_ratio: sizes must be positive (image ", image_height,
           "x", image_width, ", target ", target_height, "x", target_width, ")");
  // Keras computes int(float(width * target_height) / target_width); the integer quotient is
  // the same for positive values.
  const int64_t crop_height =
      std::max<int64_t>(std::min(image_height, image_width * target_height / target_width), 1);
  const int64_t crop_width =
      std::max<int64_t>(std::min(image_width, image_height * target_width / target_height), 1);
  return {(image_height - crop_height) / 2, (image_width - crop_width) / 2, crop_height,
          crop_width};
}

Image crop_to_aspect_ratio(const Image& image, int64_t target_height, int64_t target_width) {
  check_image(image, "crop_to_aspect_ratio");
  const CropWindow w = aspect_ratio_window(image.height, image.width, target_height, target_width);
  return crop(image, w.top, w.left, w.height, w.width);
}

Image flip_left_right(const Image& image) {
  check_image(image, "flip_left_right");
  Image out = blank(image.height, image.width, image.channels);
  const int64_t c = image.channels;
  for (int64_t y = 0; y < image.height; ++y) {
    const uint8_t* src = image.pixels.data() + y * image.width * c;
    uint8_t* dst = out.pixels.data() + y * image.width * c;
    for (int64_t x = 0; x < image.width; ++x) {
      std::copy(src + x * c, src + (x + 1) * c, dst + (image.width - 1 - x) * c);
    }
  }
  return out;
}

CropWindow random_crop_window(int64_t image_height, int64_t image_width, int64_t h, int64_t w,
                              uint64_t seed) {
  LT_CHECK(h > 0 && w > 0 && h <= image_height && w <= image_width, kInvalidArgument,
           "random_crop: ", h, "x", w, " does not fit in the ", image_height, "x", image_width,
           " image; resize first or crop smaller");
  Rng rng(mix64(seed ^ kCropSalt));
  const auto top = static_cast<int64_t>(rng.below(static_cast<uint64_t>(image_height - h + 1)));
  const auto left = static_cast<int64_t>(rng.below(static_cast<uint64_t>(image_width - w + 1)));
  return {top, left, h, w};
}

Image random_crop(const Image& image, int64_t h, int64_t w, uint64_t seed) {
  check_image(image, "random_crop");
  const CropWindow win = random_crop_window(image.height, image.width, h, w, seed);
  return crop(image, win.top, win.left, win.height, win.width);
}

CropWindow random_resized_crop_window(int64_t image_height, int64_t image_width, uint64_t seed,
                                      float scale_min, float scale_max, float ratio_min,
                                      float ratio_max) {
  LT_CHECK(image_height > 0 && image_width > 0, kInvalidArgument,
           "random_resized_crop: empty image (", image_height, "x", image_width, ")");
  LT_CHECK(scale_min > 0 && scale_min <= scale_max && scale_max <= 1, kInvalidArgument,
           "random_resized_crop: scale range [", scale_min, ", ", scale_max,
           "] must satisfy 0 < min <= max <= 1");
  LT_CHECK(ratio_min > 0 && ratio_min <= ratio_max && std::isfinite(ratio_max), kInvalidArgument,
           "random_resized_crop: ratio range [", ratio_min, ", ", ratio_max,
           "] must satisfy 0 < min <= max");
  Rng rng(mix64(seed ^ kResizedCropSalt));
  const double area = static_cast<double>(image_height) * static_cast<double>(image_width);
  const double log_lo = std::log(static_cast<double>(ratio_min));
  const double log_hi = std::log(static_cast<double>(ratio_max));
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(scale_min, scale_max);
    const double aspect = std::exp(log_lo + (log_hi - log_lo) * static_cast<double>(rng.uniform()));
    // Python's round() rounds half to even, as nearbyint does in the default rounding mode.
    const auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(target_area * aspect)));
    const auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(target_area / aspect)));
    if (w > 0 && w <= image_width && h > 0 && h <= image_height) {
      const auto top = static_cast<int64_t>(rng.below(static_cast<uint64_t>(image_height - h + 1)));
      const auto left = static_cast<int64_t>(rng.below(static_cast<uint64_t>(image_width - w + 1)));
      return {top, left, h, w};
    }
  }
  // Fallback: the central crop, clamped to the ratio range.
  const double in_ratio = static_cast<double>(image_width) / static_cast<double>(image_height);
  int64_t w = image_width, h = image_height;
  if (in_ratio < ratio_min) {
    h = static_cast<int64_t>(std::nearbyint(static_cast<double>(w) / ratio_min));
  } else if (in_ratio > ratio_max) {
    w = static_cast<int64_t>(std::nearbyint(static_cast<double>(h) * ratio_max));
  }
  h = std::clamp<int64_t>(h, 1, image_height);
  w = std::clamp<int64_t>(w, 1, image_width);
  return {(image_height - h) / 2, (image_width - w) / 2, h, w};
}

Image random_resized_crop(const Image& image, int64_t h, int64_t w, uint64_t seed, float scale_min,
                          float scale_max, float ratio_min, float ratio_max) {
  check_image(image, "random_resized_crop");
  LT_CHECK(h > 0 && w > 0, kInvalidArgument, "random_resized_crop: target size ", h, "x", w,
           " must be positive");
  const CropWindow win = random_resized_crop_window(image.height, image.width, seed, scale_min,
                                                    scale_max, ratio_min, ratio_max);
  return resize(crop(image, win.top, win.left, win.height, win.width), h, w,
                Interpolation::kBilinear, true);
}

bool random_flip_decision(uint64_t seed) { return (mix64(seed ^ kFlipSalt) >> 63) != 0; }

Image random_flip_left_right(const Image& image, uint64_t seed) {
  check_image(image, "random_flip_left_right");
  return random_flip_decision(seed) ? flip_left_right(image) : image;
}

void adjust_brightness(Image& image, float delta) {
  check_image(image, "adjust_brightness");
  const int64_t cc = colour_channels(image);
  const int64_t pixels = image.height * image.width;
  const float add = delta * 255.0f;
  for (int64_t i = 0; i < pixels; ++i) {
    uint8_t* p = image.pixels.data() + i * image.channels;
    for (int64_t c = 0; c < cc; ++c) p[c] = saturate(static_cast<float>(p[c]) + add);
  }
}

void adjust_contrast(Image& image, float factor) {
  check_image(image, "adjust_contrast");
  const int64_t cc = colour_channels(image);
  const int64_t pixels = image.height * image.width;
  double sums[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < pixels; ++i) {
    const uint8_t* p = image.pixels.data() + i * image.channels;
    for (int64_t c = 0; c < cc; ++c) sums[c] += p[c];
  }
  float mean[4];
  for (int64_t c = 0; c < cc; ++c)
    mean[c] = static_cast<float>(sums[c] / static_cast<double>(pixels));
  for (int64_t i = 0; i < pixels; ++i) {
    uint8_t* p = image.pixels.data() + i * image.channels;
    for (int64_t c = 0; c < cc; ++c)
      p[c] = saturate((static_cast<float>(p[c]) - mean[c]) * factor + mean[c]);
  }
}

void adjust_brightness_contrast(Image& image, uint64_t seed, float max_brightness_delta,
                                float contrast_lower, float contrast_upper) {
  LT_CHECK(max_brightness_delta >= 0 && std::isfinite(max_brightness_delta), kInvalidArgument,
           "brightness jitter: max delta ", max_brightness_delta, " must be >= 0");
  LT_CHECK(contrast_lower >= 0 && contrast_lower <= contrast_upper && std::isfinite(contrast_upper),
           kInvalidArgument, "contrast jitter: range [", contrast_lower, ", ", contrast_upper,
           "] must satisfy 0 <= lower <= upper");
  Rng rng(mix64(seed ^ kJitterSalt));
  const float delta = rng.uniform(-max_brightness_delta, max_brightness_delta);
  const float factor = rng.uniform(contrast_lower, contrast_upper);
  if (max_brightness_delta > 0) adjust_brightness(image, delta);
  if (contrast_lower != contrast_upper) {
    adjust_contrast(image, factor);
  } else if (contrast_lower != 1.0f) {
    adjust_contrast(image, contrast_lower);
  }
}

}  // namespace leantrain::data

// Images for the input pipeline: decoding JPEG (libjpeg-turbo, with DCT scaling) and PNG
// (libpng) from memory, encoding, and the transforms a training pipeline applies (resize, crops,
// flips, colour jitter, conversion to float straight into the batch slot).
//
// Every function here is a pure function of its arguments: random transforms take an explicit
// seed (the pipeline passes a mix of run seed, epoch and element index), so results do not
// depend on threads or call order. All functions are thread-safe (no shared state).
//
// The hot path of a pipeline is decode_image_into (reusing one Image per worker) followed by
// resize_to_float (one separable pass per axis, written straight into the float batch slot,
// with crop window, mirror and rescale/normalize folded in): no per-image allocation once the
// worker's buffers have grown, and no intermediate u8 image.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace leantrain::data {

// An 8-bit image, rows top to bottom, pixels interleaved: (height, width, channels) u8.
// channels is 1 (gray), 3 (RGB) or, only for images built by the caller, 4 (RGBA).
struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // (height, width, channels) u8

  // Returns height * width * channels.
  int64_t size() const { return height * width * channels; }
  // Returns the sample at (y, x, c); no bounds check.
  uint8_t at(int64_t y, int64_t x, int64_t c) const {
    return pixels[static_cast<size_t>((y * width + x) * channels + c)];
  }
};

enum class ImageFormat { kUnknown, kJpeg, kPng };

// Returns the format named by the first bytes (JPEG: ff d8 ff; PNG: the 8-byte signature), or
// kUnknown. Never throws.
ImageFormat sniff_image_format(std::span<const uint8_t> bytes);

// Returns "JPEG", "PNG" or "unknown".
const char* image_format_name(ImageFormat format);

// What a file's header says, without decoding the pixels.
struct ImageInfo {
  ImageFormat format = ImageFormat::kUnknown;
  int64_t height = 0, width = 0;
  int64_t channels = 0;  // as stored: 1 gray, 2 gray+alpha, 3 colour, 4 colour+alpha/CMYK
};

// Reads only the header of a JPEG or PNG held in memory. Throws as decode_image.
ImageInfo read_image_info(std::span<const uint8_t> bytes, const std::string& path);

// The default cap on decoded pixels (height * width): 2^27, about 134 megapixels (a 11,585 x
// 11,585 image), several times PIL's decompression-bomb warning threshold.
inline constexpr int64_t kDefaultMaxImagePixels = int64_t{1} << 27;

// How to decode; the defaults are those of decode_image.
struct DecodeOptions {
  // 0 keeps the file's colour (gray -> 1, anything else -> 3; alpha is dropped), 1 gray, 3 RGB.
  int channels = 0;
  // When > 0, a JPEG is decoded at the smallest DCT scale s/8, s in {1, 2, 4, 8} (scaled dims
  // ceil(dim * s / 8), as jpeg_calc_output_dimensions rounds), whose output is still >= both,
  // so a later resize shrinks less. Only these scales have SIMD inverse DCTs in libjpeg-turbo
  // (the others it offers decode slower than full size); PIL's draft mode and
  // tf.io.decode_jpeg(ratio=) use the same set. PNG ignores them. Never upscales: an image
  // already smaller than the minimum decodes at 8/8.
  int64_t min_height = 0, min_width = 0;
  // JPEG inverse DCT: false = libjpeg's accurate integer DCT (JDCT_ISLOW, what PIL uses),
  // true = the fast integer DCT (JDCT_IFAST, what tf.io.decode_jpeg uses by default).
  bool fast_dct = false;
  // Refuse (kDataLoss) an image whose decoded height * width would exceed this.
  int64_t max_pixels = kDefaultMaxImagePixels;
};

// Decodes a JPEG or PNG held in memory. `path` names the source in error messages only.
// channels: 0 keeps the file's (gray -> 1, otherwise 3; alpha dropped), 1 gray, 3 RGB.
// min_height/min_width > 0: a JPEG is decoded at the smallest DCT scale whose output is still
// >= both (see DecodeOptions).
// Grayscale conversion uses ITU-R 601-2 luma (0.299 R + 0.587 G + 0.114 B), as PIL and
// libjpeg do; 16-bit PNG samples are reduced to their high byte; palettes are expanded.
// Throws Error:
//   kDataLoss        corrupt or truncated data, naming `path` and the reason (any libjpeg
//                    warning about damaged data, e.g. premature end of data, is an error
//                    too), or a decoded size above max_pixels;
//   kUnimplemented   a format other than JPEG or PNG (naming the bytes found and the supported
//                    formats);
//   kInvalidArgument channels not in {0, 1, 3}, negative min sizes.
// Never crashes on any input, and never allocates much beyond what the data decodes to.
Image decode_image(std::span<const uint8_t> bytes, const std::string& path, int channels = 0,
                   int64_t min_height = 0, int64_t min_width = 0);
Image decode_image(std::span<const uint8_t> bytes, const std::string& path,
                   const DecodeOptions& options);

// As decode_image, but decodes into `out`, reusing its pixel buffer's capacity (no allocation
// once it has grown to the largest image). On error `out` holds an unspecified valid image.
void decode_image_into(std::span<const uint8_t> bytes, const std::string& path,
                       const DecodeOptions& options, Image& out);

// Returns the numerator s in {1, 2, 4, 8} of the DCT scale s/8 decode_image uses for a JPEG of
// height x width given the minimum output size (8 when no minimum, or none smaller fits).
// Scaled output dims are ceil(dim * s / 8).
int jpeg_scale_numerator(int64_t height, int64_t width, int64_t min_height, int64_t min_width);

// Returns the bytes of the file at `path`.
// Throws kNotFound (no such file), kIo (unreadable, a directory).
std::vector<uint8_t> read_file_bytes(const std::string& path);

// read_file_bytes then decode_image; errors name `path`.
Image read_image(const std::string& path, int channels = 0, int64_t min_height = 0,
                 int64_t min_width = 0);

// Encodes an 8-bit image with 1, 3 or 4 channels as PNG (lossless, default zlib level).
// Throws kInvalidArgument for another channel count or a pixel buffer of the wrong size.
std::vector<uint8_t> encode_png(const Image& image);
// Encodes a 1- or 3-channel image as baseline JPEG, 4:2:0 chroma for colour, quality in
// [1, 100]. Throws kInvalidArgument otherwise.
std::vector<uint8_t> encode_jpeg(const Image& image, int quality = 90);

// Keras' names: "bilinear", "area", "nearest".
enum class Interpolation { kBilinear, kArea, kNearest };

// Returns the Interpolation named `name` (Keras' spelling). Throws kInvalidArgument naming the
// value and listing the supported ones.
Interpolation parse_interpolation(const std::string& name);

// Resizes to height x width with TF/Keras semantics (tf.image.resize, half-pixel centers):
//   kBilinear: triangle filter; with antialias and a shrinking axis, the filter widens by the
//              shrink factor (tf.image.resize(antialias=True), PIL's BILINEAR); without
//              antialias, or when enlarging, plain bilinear interpolation with edge clamping;
//   kArea:     each output pixel is the average of the input area it covers, weighted by
//              exact coverage (tf.image.resize(method="area")): a box mean for integer factors;
//   kNearest:  the input pixel whose center is nearest, floor((x + 0.5) * in / out).
// Results are rounded to nearest and clamped to [0, 255]. Cost O(out pixels * taps).
// Throws kInvalidArgument when height or width <= 0, or the image is empty.
Image resize(const Image& image, int64_t height, int64_t width,
             Interpolation interpolation = Interpolation::kBilinear, bool antialias = true);

// 3 -> 1 channel by ITU-R 601-2 luma (rounded); 4 -> 1 drops alpha first; 1 -> 1 copies.
Image to_grayscale(const Image& image);
// 1 -> 3 by repeating gray; 4 -> 3 drops alpha; 3 -> 3 copies.
Image to_rgb(const Image& image);

// A rectangle of an image, in pixels.
struct CropWindow {
  int64_t top = 0, left = 0, height = 0, width = 0;
  bool operator==(const CropWindow&) const = default;
};

// Returns the given window of the image. Throws kInvalidArgument, naming the window and the
// image size, unless it lies inside the image and has height, width > 0.
Image crop(const Image& image, int64_t top, int64_t left, int64_t height, int64_t width);
// Returns the centered height x width window (top = (H - height) / 2, left = (W - width) / 2,
// rounded down, like tf.image.crop_to_bounding_box in Keras' CenterCrop). Throws
// kInvalidArgument when larger than the image.
Image center_crop(const Image& image, int64_t height, int64_t width);
CropWindow center_crop_window(int64_t image_height, int64_t image_width, int64_t height,
                              int64_t width);

// Keras' crop_to_aspect_ratio: the largest centered window with the target's aspect ratio:
// crop_height = min(H, W * th / tw), crop_width = min(W, H * tw / th) (integer, rounded down,
// at least 1), offsets (H - crop_height) / 2 and (W - crop_width) / 2.
Image crop_to_aspect_ratio(const Image& image, int64_t target_height, int64_t target_width);
CropWindow aspect_ratio_window(int64_t image_height, int64_t image_width, int64_t target_height,
                               int64_t target_width);

// Mirrors left to right.
Image flip_left_right(const Image& image);

// Random transforms: each result is a pure function of (seed, input). Different seeds give
// independent draws.
//
// A uniformly placed h x w window (top in [0, H - h], left in [0, W - w]). Throws
// kInvalidArgument when the window is larger than the image.
CropWindow random_crop_window(int64_t image_height, int64_t image_width, int64_t h, int64_t w,
                              uint64_t seed);
Image random_crop(const Image& image, int64_t h, int64_t w, uint64_t seed);

// torchvision's RandomResizedCrop.get_params: up to 10 tries of area fraction uniform in
// [scale_min, scale_max] and log-uniform aspect ratio (w / h) in [ratio_min, ratio_max],
// w = round(sqrt(area * ratio)), h = round(sqrt(area / ratio)), accepted when it fits; else
// the central crop clamped to the ratio range. Throws kInvalidArgument for an empty image,
// 0 < scale_min <= scale_max <= 1 and 0 < ratio_min <= ratio_max violated.
CropWindow random_resized_crop_window(int64_t image_height, int64_t image_width, uint64_t seed,
                                      float scale_min = 0.08f, float scale_max = 1.0f,
                                      float ratio_min = 3.f / 4, float ratio_max = 4.f / 3);
// The window above, resized to h x w (bilinear, antialiased, as torchvision with PIL).
Image random_resized_crop(const Image& image, int64_t h, int64_t w, uint64_t seed,
                          float scale_min = 0.08f, float scale_max = 1.0f,
                          float ratio_min = 3.f / 4, float ratio_max = 4.f / 3);

// True with probability 1/2, a pure function of the seed: whether random_flip_left_right
// mirrors.
bool random_flip_decision(uint64_t seed);
Image random_flip_left_right(const Image& image, uint64_t seed);

// Brightness then contrast, in place, on every channel but alpha (results rounded half away
// from zero and clamped to [0, 255]):
//   brightness: p += delta * 255 (tf.image.adjust_brightness on [0, 1] images);
//   contrast:   p = (p - mean_c) * factor + mean_c, mean_c the channel's mean over the image
//               (tf.image.adjust_contrast).
void adjust_brightness(Image& image, float delta);
void adjust_contrast(Image& image, float factor);
// Random jitter: delta uniform in [-max_brightness_delta, max_brightness_delta] (a fraction of
// the full range, as tf.image.random_brightness), factor uniform in [contrast_lower,
// contrast_upper] (tf.image.random_contrast); brightness first. A zero range skips that step.
// Throws kInvalidArgument when max_brightness_delta < 0 or 0 <= contrast_lower <=
// contrast_upper is violated.
void adjust_brightness_contrast(Image& image, uint64_t seed, float max_brightness_delta = 0.2f,
                                float contrast_lower = 0.8f, float contrast_upper = 1.2f);

// To float HWC into `dst` (the batch slot: no extra copy): dst[i] = pixel * scale + offset.
// Requires dst to hold image.size() floats.
void to_float(const Image& image, float* dst, float scale = 1.0f / 255, float offset = 0.0f);
// dst = (pixel * scale - mean[c]) / stddev[c] (torchvision's ToTensor + Normalize with the
// default scale 1/255 and ImageNet's mean/std). Throws kInvalidArgument unless mean and stddev
// have one entry per channel and every stddev is nonzero.
void normalize_to_float(const Image& image, float* dst, std::span<const float> mean,
                        std::span<const float> stddev, float scale = 1.0f / 255);

// Per-channel affine map applied when writing floats: dst = value * scale[c] + offset[c].
struct PixelAffine {
  std::array<float, 4> scale{1.f, 1.f, 1.f, 1.f};
  std::array<float, 4> offset{0.f, 0.f, 0.f, 0.f};
  // value * scale + offset on every channel.
  static PixelAffine rescale(float scale, float offset = 0.0f);
  // (value * scale - mean[c]) / stddev[c]. Throws as normalize_to_float.
  static PixelAffine normalize(std::span<const float> mean, std::span<const float> stddev,
                               float scale = 1.0f / 255);
};

// The fused hot path: resizes `window` of `image` (whole image when window.height == 0) to
// height x width, mirrors left-right when `flip`, maps each value through `affine` and writes
// (height, width, image.channels) f32 to dst, in one separable pass per axis (resize
// semantics as resize(); values are not rounded to integers, so they are the exact filter
// outputs before rounding). window_scale_y/x scale the window's coordinates first (the window
// may then have fractional bounds): pass the ratio decoded / original size when the window was
// chosen on the full-size image and the image was decoded at a DCT scale (see
// decode_resize_to_float). Filter taps never reach outside the window, so a window gives what
// crop() then resize would.
// Scratch: thread-local (one float row of the window, the two weight tables, rebuilt only when
// the geometry changes), reused across calls: no allocation once grown. dst must not overlap
// the image.
// Throws kInvalidArgument for an empty image, non-positive size, or a window outside it.
void resize_to_float(const Image& image, const CropWindow& window, int64_t height, int64_t width,
                     float* dst, const PixelAffine& affine = PixelAffine::rescale(1.0f),
                     Interpolation interpolation = Interpolation::kBilinear, bool antialias = true,
                     bool flip = false, double window_scale_y = 1.0, double window_scale_x = 1.0);

// How decode_resize_to_float picks the window of the full-size image to resize.
enum class CropMode {
  kNone,               // the whole image
  kAspectRatio,        // aspect_ratio_window(H, W, height, width) (Keras crop_to_aspect_ratio)
  kCenter,             // center_crop_window of (height, width) (requires the image >= it)
  kRandomResizedCrop,  // random_resized_crop_window(H, W, crop_seed, scale..., ratio...)
};

struct DecodeResizeOptions {
  int channels = 3;  // 1 or 3: the batch slot's channel count
  int64_t height = 0, width = 0;
  Interpolation interpolation = Interpolation::kBilinear;
  bool antialias = true;
  CropMode crop = CropMode::kNone;
  uint64_t crop_seed = 0;
  float scale_min = 0.08f, scale_max = 1.0f, ratio_min = 3.f / 4, ratio_max = 4.f / 3;
  bool flip = false;
  PixelAffine affine = PixelAffine::rescale(1.0f);
  bool fast_dct = false;
  // Decode JPEG at the smallest DCT scale whose crop window is still >= (height, width).
  bool dct_scaling = true;
  int64_t max_pixels = kDefaultMaxImagePixels;
};

// Decodes a JPEG or PNG and writes (height, width, channels) f32 into dst: reads the header,
// chooses the window on the full-size image (crop mode), decodes a JPEG at the smallest DCT
// scale whose window still covers height x width, then resize_to_float. `scratch` holds the
// decoded pixels (reuse one per worker). Throws as decode_image and resize_to_float.
void decode_resize_to_float(std::span<const uint8_t> bytes, const std::string& path,
                            const DecodeResizeOptions& options, float* dst, Image& scratch);

}  // namespace leantrain::data

// Images, whatever their format: format sniffing, decoding through the codec the bytes call for
// (image_jpeg.cc, image_png.cc), file reading, and the fused decode + resize into floats.
#include "leantrain/data/image.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "data/image_codecs.h"
#include "leantrain/core/error.h"
#include "leantrain/core/format.h"

namespace leantrain::data {
namespace {

using codecs::jpeg_scaled;
using codecs::kJpegScales;
using internal::str_cat;

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

std::string hex_prefix(std::span<const uint8_t> bytes) {
  std::string out;
  const size_t n = std::min<size_t>(bytes.size(), 8);
  for (size_t i = 0; i < n; ++i) {
    char buf[4];
    std::snprintf(buf, sizeof buf, "%02x", bytes[i]);
    out += (i ? " " : "") + std::string(buf);
  }
  return n == 0 ? std::string("no bytes (empty file)") : "bytes " + out;
}

void check_channels(int channels, const std::string& path) {
  LT_CHECK(channels == 0 || channels == 1 || channels == 3, kInvalidArgument, path,
           ": cannot decode to ", channels, " channels; pass 0 (as stored), 1 (gray) or 3 (RGB)");
}

[[noreturn]] void throw_unknown_format(std::span<const uint8_t> bytes, const std::string& path) {
  std::string what = hex_prefix(bytes);
  if (bytes.size() >= 2 && bytes[0] == 'B' && bytes[1] == 'M') what += " (a BMP file)";
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "GIF8", 4) == 0) what += " (a GIF file)";
  if (bytes.size() >= 12 && std::memcmp(bytes.data(), "RIFF", 4) == 0 &&
      std::memcmp(bytes.data() + 8, "WEBP", 4) == 0)
    what += " (a WebP file)";
  throw Error(ErrorCode::kUnimplemented,
              str_cat(path, ": not a JPEG or PNG image (starts with ", what,
                      "); supported formats: JPEG, PNG; convert the file or skip it "
                      "(on_error=skip)"));
}

}  // namespace

ImageFormat sniff_image_format(std::span<const uint8_t> bytes) {
  if (bytes.size() >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff)
    return ImageFormat::kJpeg;
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngSignature, 8) == 0)
    return ImageFormat::kPng;
  return ImageFormat::kUnknown;
}

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kPng:
      return "PNG";
    default:
      return "unknown";
  }
}

int jpeg_scale_numerator(int64_t height, int64_t width, int64_t min_height, int64_t min_width) {
  if (min_height <= 0 && min_width <= 0) return 8;
  for (int num : kJpegScales) {
    if (jpeg_scaled(height, num) >= min_height && jpeg_scaled(width, num) >= min_width) return num;
  }
  return 8;
}

ImageInfo read_image_info(std::span<const uint8_t> bytes, const std::string& path) {
  switch (sniff_image_format(bytes)) {
    case ImageFormat::kJpeg:
      return codecs::read_jpeg_info(bytes, path);
    case ImageFormat::kPng:
      return codecs::read_png_info(bytes, path);
    default:
      throw_unknown_format(bytes, path);
  }
}

void decode_image_into(std::span<const uint8_t> bytes, const std::string& path,
                       const DecodeOptions& options, Image& out) {
  check_channels(options.channels, path);
  LT_CHECK(options.min_height >= 0 && options.min_width >= 0, kInvalidArgument, path,
           ": minimum decode size ", options.min_height, "x", options.min_width,
           " is negative; pass 0 for none");
  switch (sniff_image_format(bytes)) {
    case ImageFormat::kJpeg:
      codecs::decode_jpeg(bytes, path, options, 0, out);
      return;
    case ImageFormat::kPng:
      codecs::decode_png(bytes, path, options, out);
      return;
    default:
      throw_unknown_format(bytes, path);
  }
}

Image decode_image(std::span<const uint8_t> bytes, const std::string& path,
                   const DecodeOptions& options) {
  Image out;
  decode_image_into(bytes, path, options, out);
  return out;
}

Image decode_image(std::span<const uint8_t> bytes, const std::string& path, int channels,
                   int64_t min_height, int64_t min_width) {
  DecodeOptions options;
  options.channels = channels;
  options.min_height = min_height;
  options.min_width = min_width;
  return decode_image(bytes, path, options);
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::error_code ec;
  LT_CHECK(std::filesystem::exists(path, ec) || ec, kNotFound, path, ": no such file");
  LT_CHECK(!std::filesystem::is_directory(path, ec), kIo, path, ": is a directory, not a file");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    const int err = errno;
    LT_CHECK(err != ENOENT, kNotFound, path, ": no such file");
    LT_CHECK(false, kIo, path, ": cannot open: ", std::strerror(err));
  }
  std::vector<uint8_t> out;
  // Grow as data arrives (the size on disk may change while we read).
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec) out.reserve(static_cast<size_t>(size));
  uint8_t buf[64 * 1024];
  for (;;) {
    const size_t got = std::fread(buf, 1, sizeof buf, f);
    out.insert(out.end(), buf, buf + got);
    if (got < sizeof buf) break;
  }
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  LT_CHECK(!failed, kIo, path, ": read failed: ", std::strerror(err));
  return out;
}

Image read_image(const std::string& path, int channels, int64_t min_height, int64_t min_width) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_image(bytes, path, channels, min_height, min_width);
}

void decode_resize_to_float(std::span<const uint8_t> bytes, const std::string& path,
                            const DecodeResizeOptions& options, float* dst, Image& scratch) {
  LT_CHECK(options.channels == 1 || options.channels == 3, kInvalidArgument, path,
           ": decode_resize_to_float writes 1 or 3 channels, not ", options.channels);
  LT_CHECK(options.height > 0 && options.width > 0, kInvalidArgument, path, ": target size ",
           options.height, "x", options.width, " must be positive");
  // The window on an image of full size h x w.
  auto window_for = [&](int64_t h, int64_t w) -> CropWindow {
    switch (options.crop) {
      case CropMode::kAspectRatio:
        return aspect_ratio_window(h, w, options.height, options.width);
      case CropMode::kCenter:
        return center_crop_window(h, w, options.height, options.width);
      case CropMode::kRandomResizedCrop:
        return random_resized_crop_window(h, w, options.crop_seed, options.scale_min,
                                          options.scale_max, options.ratio_min, options.ratio_max);
      default:
        return {0, 0, h, w};
    }
  };
  DecodeOptions decode;
  decode.channels = options.channels;
  decode.fast_dct = options.fast_dct;
  decode.max_pixels = options.max_pixels;
  CropWindow window;
  double scale_y = 1.0, scale_x = 1.0;
  const ImageFormat format = sniff_image_format(bytes);
  if (format == ImageFormat::kJpeg && options.dct_scaling) {
    check_channels(options.channels, path);
    const ImageInfo info = read_image_info(bytes, path);
    LT_CHECK(info.height * info.width <= options.max_pixels, kDataLoss, path, ": JPEG of ",
             info.width, "x", info.height, " (", with_commas(info.height * info.width),
             " pixels) is above the limit of ", with_commas(options.max_pixels),
             " pixels; raise max_pixels if the image is genuine");
    window = window_for(info.height, info.width);
    // The smallest DCT scale at which the window still covers the target size.
    int num = 8;
    for (int k : kJpegScales) {
      const double sy =
          static_cast<double>(jpeg_scaled(info.height, k)) / static_cast<double>(info.height);
      const double sx =
          static_cast<double>(jpeg_scaled(info.width, k)) / static_cast<double>(info.width);
      if (static_cast<double>(window.height) * sy >= static_cast<double>(options.height) &&
          static_cast<double>(window.width) * sx >= static_cast<double>(options.width)) {
        num = k;
        break;
      }
    }
    codecs::decode_jpeg(bytes, path, decode, num, scratch);
    scale_y = static_cast<double>(scratch.height) / static_cast<double>(info.height);
    scale_x = static_cast<double>(scratch.width) / static_cast<double>(info.width);
  } else {
    decode_image_into(bytes, path, decode, scratch);
    window = window_for(scratch.height, scratch.width);
  }
  resize_to_float(scratch, window, options.height, options.width, dst, options.affine,
                  options.interpolation, options.antialias, options.flip, scale_y, scale_x);
}

namespace codecs {

void check_encodable(const Image& image, const char* format) {
  LT_CHECK(image.height > 0 && image.width > 0, kInvalidArgument, "cannot encode an empty ",
           image.width, "x", image.height, " image as ", format);
  LT_CHECK(image.pixels.size() == static_cast<size_t>(image.size()), kInvalidArgument,
           "cannot encode as ", format, ": the image is ", image.height, "x", image.width, "x",
           image.channels, " but holds ", image.pixels.size(), " bytes");
  LT_CHECK(image.height <= 65535 && image.width <= 65535, kInvalidArgument, "cannot encode a ",
           image.width, "x", image.height, " image as ", format,
           ": at most 65,535 pixels per side");
}

}  // namespace codecs
}  // namespace leantrain::data

// PNG through libpng, from and to memory.
//
// libpng reports errors by longjmp. Every libpng call runs inside a small C-style function
// whose frame holds no object with a destructor, so a longjmp never skips a destructor; the C++
// caller owns the library state through a guard and turns a failure into an Error.
#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <vector>

#include "data/image_codecs.h"
#include "leantrain/core/error.h"
#include "leantrain/core/format.h"

namespace leantrain::data::codecs {
namespace {

using internal::str_cat;

// Deflate expands at most about 1032:1; PNG pixel data claiming more than this times the
// compressed bytes present cannot be there.
constexpr int64_t kMaxDeflateRatio = 1040;

// Converts interleaved RGB (or RGBA, stride 4) rows to gray in place; `src_channels` 3 or 4.
void rgb_to_gray_inplace(uint8_t* p, int64_t pixels, int src_channels) {
  for (int64_t i = 0; i < pixels; ++i) {
    const uint8_t* s = p + i * src_channels;
    p[i] = luma(s[0], s[1], s[2]);
  }
}

struct PngContext {
  std::span<const uint8_t> bytes;
  size_t pos = 0;
  char message[256] = {0};
};

[[noreturn]] void png_on_error(png_structp png, png_const_charp message) {
  auto* ctx = static_cast<PngContext*>(png_get_error_ptr(png));
  std::snprintf(ctx->message, sizeof ctx->message, "%s", message);
  png_longjmp(png, 1);
}

// libpng warns about ancillary matters (a bad CRC in an ancillary chunk, an odd ICC
// profile); the pixels are intact, so warnings are ignored.
void png_on_warning(png_structp, png_const_charp) {}

void png_on_read(png_structp png, png_bytep dst, size_t n) {
  auto* ctx = static_cast<PngContext*>(png_get_io_ptr(png));
  if (ctx->bytes.size() - ctx->pos < n) {
    std::snprintf(ctx->message, sizeof ctx->message,
                  "truncated PNG (the data ends after %zu bytes)", ctx->bytes.size());
    png_longjmp(png, 1);
  }
  std::memcpy(dst, ctx->bytes.data() + ctx->pos, n);
  ctx->pos += n;
}

// Owns libpng's read state.
struct PngDecoder {
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngContext ctx;

  PngDecoder() = default;
  PngDecoder(const PngDecoder&) = delete;
  PngDecoder& operator=(const PngDecoder&) = delete;
  ~PngDecoder() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};

struct PngHeader {
  int64_t height, width, channels;  // channels as stored (palette with tRNS counts 4)
  int64_t decoded_bytes;            // what the rows will hold after our transforms
  int bit_depth, color_type;
};

// Sum of the IDAT chunk lengths that lie within the bytes (the compressed pixel data present).
int64_t png_idat_bytes(std::span<const uint8_t> bytes) {
  int64_t total = 0;
  size_t pos = 8;
  while (pos + 8 <= bytes.size()) {
    const uint32_t len = (uint32_t{bytes[pos]} << 24) | (uint32_t{bytes[pos + 1]} << 16) |
                         (uint32_t{bytes[pos + 2]} << 8) | bytes[pos + 3];
    const bool idat = std::memcmp(&bytes[pos + 4], "IDAT", 4) == 0;
    const size_t available = bytes.size() - pos - 8;
    if (idat) total += std::min<int64_t>(len, static_cast<int64_t>(available));
    if (len > available || std::memcmp(&bytes[pos + 4], "IEND", 4) == 0) break;
    pos += 8 + size_t{len} + 4;
  }
  return total;
}

bool png_run(PngDecoder& d, std::span<const uint8_t> bytes, int channels, bool header_only,
             int64_t max_pixels, PngHeader& header, bool& too_large, Image* out);

bool png_run(PngDecoder& d, std::span<const uint8_t> bytes, int channels, bool header_only,
             int64_t max_pixels, PngHeader& header, bool& too_large, Image* out) {
  d.ctx.bytes = bytes;
  d.ctx.pos = 0;
  d.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &d.ctx, png_on_error, png_on_warning);
  if (!d.png) {
    std::snprintf(d.ctx.message, sizeof d.ctx.message, "libpng could not start");
    return false;
  }
  d.info = png_create_info_struct(d.png);
  if (!d.info) {
    std::snprintf(d.ctx.message, sizeof d.ctx.message, "libpng could not start");
    return false;
  }
  if (setjmp(png_jmpbuf(d.png))) return false;
  png_set_read_fn(d.png, &d.ctx, png_on_read);
  // Only the chunks that define the pixels are read; text, colour profiles and the like are
  // skipped (and so cannot cost time or memory).
  png_set_keep_unknown_chunks(d.png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);
  png_read_info(d.png, d.info);
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(d.png, d.info, &width, &height, &bit_depth, &color_type, &interlace, nullptr,
               nullptr);
  const bool trns = png_get_valid(d.png, d.info, PNG_INFO_tRNS) != 0;
  header.height = height;
  header.width = width;
  header.bit_depth = bit_depth;
  header.color_type = color_type;
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
      header.channels = trns ? 2 : 1;
      break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      header.channels = 2;
      break;
    case PNG_COLOR_TYPE_RGB:
    case PNG_COLOR_TYPE_PALETTE:
      header.channels = trns ? 4 : 3;
      break;
    default:
      header.channels = 4;
  }
  if (header_only) return true;
  if (header.height * header.width > max_pixels) {
    too_large = true;
    return true;
  }

  const bool gray_source = (color_type & PNG_COLOR_MASK_COLOR) == 0;
  const int out_channels = channels != 0 ? channels : (gray_source ? 1 : 3);
  // libpng makes 8-bit gray, gray+alpha, RGB or RGBA samples (a palette's tRNS becomes
  // alpha); dropping alpha and RGB -> gray happen afterwards, in place, with the same luma as
  // to_grayscale.
  if (bit_depth == 16) png_set_strip_16(d.png);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(d.png);
  if (gray_source && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(d.png);
  if (gray_source && out_channels == 3) png_set_gray_to_rgb(d.png);
  const int passes = png_set_interlace_handling(d.png);
  png_read_update_info(d.png, d.info);
  const int64_t row_samples = static_cast<int64_t>(png_get_rowbytes(d.png, d.info));
  const int64_t decoded_channels = png_get_channels(d.png, d.info);
  if (row_samples != header.width * decoded_channels || decoded_channels < out_channels ||
      (decoded_channels == 2 && out_channels == 3)) {
    std::snprintf(d.ctx.message, sizeof d.ctx.message,
                  "unexpected PNG row layout (%lld bytes per row of %lld pixels)",
                  static_cast<long long>(row_samples), static_cast<long long>(header.width));
    return false;
  }
  header.decoded_bytes = row_samples * header.height;

  out->height = header.height;
  out->width = header.width;
  out->channels = out_channels;
  out->pixels.resize(static_cast<size_t>(header.decoded_bytes));
  for (int pass = 0; pass < passes; ++pass) {
    for (int64_t y = 0; y < header.height; ++y) {
      png_read_row(d.png, out->pixels.data() + y * row_samples, nullptr);
    }
  }
  png_read_end(d.png, nullptr);
  // In place, front to back: each destination pixel lies at or before its source.
  uint8_t* p = out->pixels.data();
  const int64_t pixels = header.height * header.width;
  if (out_channels == 1 && decoded_channels >= 3) {
    rgb_to_gray_inplace(p, pixels, static_cast<int>(decoded_channels));
  } else if (out_channels != decoded_channels) {
    for (int64_t i = 0; i < pixels; ++i) {
      for (int c = 0; c < out_channels; ++c) p[i * out_channels + c] = p[i * decoded_channels + c];
    }
  }
  out->pixels.resize(static_cast<size_t>(out->size()));
  return true;
}

[[noreturn]] void throw_png_error(const PngDecoder& d, const std::string& path) {
  const std::string message = d.ctx.message[0] ? d.ctx.message : "unknown libpng error";
  const bool truncated = message.rfind("truncated", 0) == 0;
  throw Error(ErrorCode::kDataLoss,
              str_cat(path, ": ", truncated ? message : "corrupt PNG (" + message + ")",
                      "; re-export the file or skip it (on_error=skip)"));
}

struct PngWriteContext {
  std::vector<uint8_t>* out;
  char message[256];
};

[[noreturn]] void png_on_write_error(png_structp png, png_const_charp message) {
  auto* ctx = static_cast<PngWriteContext*>(png_get_error_ptr(png));
  std::snprintf(ctx->message, sizeof ctx->message, "%s", message);
  png_longjmp(png, 1);
}

void png_on_write(png_structp png, png_bytep data, size_t n) {
  auto* ctx = static_cast<PngWriteContext*>(png_get_io_ptr(png));
  ctx->out->insert(ctx->out->end(), data, data + n);
}

void png_on_flush(png_structp) {}

struct PngEncoder {
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngEncoder() = default;
  PngEncoder(const PngEncoder&) = delete;
  PngEncoder& operator=(const PngEncoder&) = delete;
  ~PngEncoder() {
    if (png) png_destroy_write_struct(&png, info ? &info : nullptr);
  }
};

bool png_encode_run(PngEncoder& e, PngWriteContext& ctx, const Image& image) {
  e.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_write_error, nullptr);
  if (!e.png) return false;
  e.info = png_create_info_struct(e.png);
  if (!e.info) return false;
  if (setjmp(png_jmpbuf(e.png))) return false;
  png_set_write_fn(e.png, &ctx, png_on_write, png_on_flush);
  const int color_type = image.channels == 1   ? PNG_COLOR_TYPE_GRAY
                         : image.channels == 3 ? PNG_COLOR_TYPE_RGB
                                               : PNG_COLOR_TYPE_RGB_ALPHA;
  png_set_IHDR(e.png, e.info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), 8, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(e.png, e.info);
  for (int64_t y = 0; y < image.height; ++y) {
    png_write_row(e.png, image.pixels.data() + y * image.width * image.channels);
  }
  png_write_end(e.png, nullptr);
  return true;
}

}  // namespace

ImageInfo read_png_info(std::span<const uint8_t> bytes, const std::string& path) {
  PngDecoder d;
  PngHeader header{};
  bool too_large = false;
  if (!png_run(d, bytes, 0, true, 0, header, too_large, nullptr)) throw_png_error(d, path);
  return {.format = ImageFormat::kPng,
          .height = header.height,
          .width = header.width,
          .channels = header.channels};
}

void decode_png(std::span<const uint8_t> bytes, const std::string& path,
                const DecodeOptions& options, Image& out) {
  // Read the header first, and refuse pixel data that the compressed bytes present cannot
  // hold before allocating for it.
  PngHeader header{};
  bool too_large = false;
  {
    PngDecoder d;
    if (!png_run(d, bytes, options.channels, true, options.max_pixels, header, too_large, &out))
      throw_png_error(d, path);
  }
  LT_CHECK(header.height * header.width <= options.max_pixels, kDataLoss, path, ": PNG of ",
           header.width, "x", header.height, " (", with_commas(header.height * header.width),
           " pixels) is above the limit of ", with_commas(options.max_pixels),
           " pixels; raise DecodeOptions::max_pixels if the image is genuine");
  // Raw (filtered) size: a filter byte per row plus the packed samples.
  const int64_t bits_per_pixel =
      header.bit_depth * (header.color_type == PNG_COLOR_TYPE_PALETTE ? 1 : [&] {
        switch (header.color_type) {
          case PNG_COLOR_TYPE_GRAY:
            return 1;
          case PNG_COLOR_TYPE_GRAY_ALPHA:
            return 2;
          case PNG_COLOR_TYPE_RGB:
            return 3;
          default:
            return 4;
        }
      }());
  const int64_t raw_bytes = header.height * (1 + (header.width * bits_per_pixel + 7) / 8);
  const int64_t idat = png_idat_bytes(bytes);
  LT_CHECK(raw_bytes <= idat * kMaxDeflateRatio + 1024, kDataLoss, path,
           ": truncated or corrupt PNG (", header.width, "x", header.height, " needs ",
           with_commas(raw_bytes), " bytes of pixel data, but only ", with_commas(idat),
           " compressed bytes are present); re-export the file or skip it (on_error=skip)");
  PngDecoder d;
  if (!png_run(d, bytes, options.channels, false, options.max_pixels, header, too_large, &out))
    throw_png_error(d, path);
}

}  // namespace leantrain::data::codecs

namespace leantrain::data {

std::vector<uint8_t> encode_png(const Image& image) {
  LT_CHECK(image.channels == 1 || image.channels == 3 || image.channels == 4, kInvalidArgument,
           "cannot encode a ", image.channels, "-channel image as PNG; pass 1, 3 or 4 channels");
  codecs::check_encodable(image, "PNG");
  std::vector<uint8_t> out;
  codecs::PngWriteContext ctx{&out, {0}};
  codecs::PngEncoder e;
  LT_CHECK(codecs::png_encode_run(e, ctx, image), kInternal, "libpng failed to encode a ",
           image.width, "x", image.height, " image: ", ctx.message);
  return out;
}

}  // namespace leantrain::data

// Image codecs: JPEG through libjpeg-turbo's libjpeg API (with DCT scaling), PNG through
// libpng, both from memory; file reading; the fused decode + resize into floats.
//
// Both libraries report errors by longjmp. Every libjpeg/libpng call runs inside a small
// C-style function whose frame holds no object with a destructor, so a longjmp never skips a
// destructor; the C++ caller owns the library state through a guard and turns a failure into
// an Error.
#include "leantrain/data/image.h"

// jpeglib.h needs size_t and FILE declared before it.
#include <cstddef>
#include <cstdio>

#include <jpeglib.h>
#include <png.h>

// After jpeglib.h, which it needs: libjpeg's message codes, to tell warnings apart.
#include <jerror.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "leantrain/core/error.h"
#include "leantrain/core/format.h"

namespace leantrain::data {
namespace {

using internal::str_cat;

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
// Progressive JPEGs normally have about 10 scans; each scan passes over the whole image, so a
// crafted file with thousands of tiny scans would take minutes (djpeg -maxscans, libjpeg-turbo's
// fuzzers and TurboJPEG's scan limit guard the same way).
constexpr int kMaxJpegScans = 500;
// The DCT scales (numerators over 8) used below full size: libjpeg-turbo has SIMD inverse DCTs
// only for these (8x8, 4x4, 2x2, 1x1 blocks). The other scales it offers (3/8, 5/8, 7/8, ...) run
// plain C and decode slower than full size: 256x256 at 7/8 took longer than at 8/8 plus a
// resize. PIL's draft mode and tf.io.decode_jpeg(ratio=) use the same set.
constexpr int kJpegScales[] = {1, 2, 4};
// Deflate expands at most about 1032:1; PNG pixel data claiming more than this times the
// compressed bytes present cannot be there.
constexpr int64_t kMaxDeflateRatio = 1040;

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

// ITU-R 601-2 luma in 16-bit fixed point, rounded: (19595 R + 38470 G + 7471 B + 2^15) >> 16.
// The weights sum to 65536, so white stays 255.
inline uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
  return static_cast<uint8_t>((19595u * r + 38470u * g + 7471u * b + 32768u) >> 16);
}

// Converts interleaved RGB (or RGBA, stride 4) rows to gray in place; `src_channels` 3 or 4.
void rgb_to_gray_inplace(uint8_t* p, int64_t pixels, int src_channels) {
  for (int64_t i = 0; i < pixels; ++i) {
    const uint8_t* s = p + i * src_channels;
    p[i] = luma(s[0], s[1], s[2]);
  }
}

// --- JPEG ------------------------------------------------------------------------------------

struct JpegError {
  jpeg_error_mgr mgr;  // first member: libjpeg hands us a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

struct JpegProgress {
  jpeg_progress_mgr mgr;  // first member
  int max_scans;
};

[[noreturn]] void jpeg_on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (msg_level -1) about damaged data are errors: libjpeg would otherwise fill the
// missing part with gray and report success. Warnings about metadata or about junk bytes between
// segments leave the pixels intact and are ignored, as PIL and TensorFlow do. Trace messages
// (msg_level >= 0) are ignored.
void jpeg_on_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return;
  switch (cinfo->err->msg_code) {
    case JWRN_ADOBE_XFORM:
    case JWRN_JFIF_MAJOR:
    case JWRN_BOGUS_ICC:
    case JWRN_EXTRANEOUS_DATA:
      return;
    default:
      jpeg_on_error(cinfo);
  }
}

void jpeg_on_progress(j_common_ptr cinfo) {
  auto* progress = reinterpret_cast<JpegProgress*>(cinfo->progress);
  if (!cinfo->is_decompressor) return;
  const int scans = reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number;
  if (scans > progress->max_scans) {
    auto* err = reinterpret_cast<JpegError*>(cinfo->err);
    std::snprintf(err->message, sizeof err->message,
                  "progressive JPEG with more than %d scans (a normal one has about 10)",
                  progress->max_scans);
    std::longjmp(err->jump, 1);
  }
}

// Owns a jpeg_decompress_struct and its error manager. Not copyable.
struct JpegDecoder {
  jpeg_decompress_struct cinfo{};
  JpegError err{};
  JpegProgress progress{};
  bool created = false;

  JpegDecoder() = default;
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;
  ~JpegDecoder() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

int64_t jpeg_scaled(int64_t dim, int num) { return (dim * num + 7) / 8; }

// What the caller wants from a JPEG decode.
struct JpegRequest {
  int channels;      // 0, 1 or 3
  bool header_only;  // stop after jpeg_read_header
  int scale_num;     // DCT scale scale_num/8, 1..8
  bool fast_dct;
  int64_t max_pixels;
  Image* out;
};

// Fills `out` header fields of the file: set by jpeg_run_header.
struct JpegHeader {
  int64_t height, width, components;
  int color_space;
};

// Runs the decode; returns false with err.message set on failure. No object with a destructor
// lives in this frame; the vector resize happens in a callee that either completes or throws a
// C++ exception (bad_alloc), never longjmps.
bool jpeg_run(JpegDecoder& d, std::span<const uint8_t> bytes, const JpegRequest& req,
              JpegHeader& header, bool& too_large);

void grow_rows(Image& out, int64_t rows_needed) {
  const size_t need = static_cast<size_t>(rows_needed * out.width * out.channels);
  if (out.pixels.size() < need) {
    const size_t total = static_cast<size_t>(out.size());
    out.pixels.resize(std::min(total, std::max(need, 2 * out.pixels.size())));
  }
}

bool jpeg_run(JpegDecoder& d, std::span<const uint8_t> bytes, const JpegRequest& req,
              JpegHeader& header, bool& too_large) {
  j_decompress_ptr cinfo = &d.cinfo;
  cinfo->err = jpeg_std_error(&d.err.mgr);
  d.err.mgr.error_exit = jpeg_on_error;
  d.err.mgr.emit_message = jpeg_on_message;
  d.err.message[0] = '\0';
  if (setjmp(d.err.jump)) return false;
  if (!d.created) {
    jpeg_create_decompress(cinfo);
    d.created = true;
  }
  d.progress.mgr.progress_monitor = jpeg_on_progress;
  d.progress.max_scans = kMaxJpegScans;
  cinfo->progress = &d.progress.mgr;
  jpeg_mem_src(cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(cinfo, TRUE);
  header.height = cinfo->image_height;
  header.width = cinfo->image_width;
  header.components = cinfo->num_components;
  header.color_space = cinfo->jpeg_color_space;
  if (req.header_only) return true;
  if (header.height * header.width > req.max_pixels) {
    too_large = true;
    return true;
  }
  // A decoder's internal memory (progressive coefficient buffers, about 2 bytes per sample)
  // is bounded by what an image of max_pixels needs.
  cinfo->mem->max_memory_to_use = static_cast<long>(std::min<int64_t>(
      req.max_pixels * 8 + (int64_t{64} << 20), std::numeric_limits<long>::max()));

  const bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  const bool gray_source = cinfo->jpeg_color_space == JCS_GRAYSCALE;
  const int out_channels = req.channels != 0 ? req.channels : (gray_source ? 1 : 3);
  if (cmyk) {
    cinfo->out_color_space = JCS_CMYK;  // converted to RGB/gray below
  } else {
    cinfo->out_color_space = out_channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  }
  cinfo->dct_method = req.fast_dct ? JDCT_IFAST : JDCT_ISLOW;
  cinfo->scale_num = static_cast<unsigned int>(req.scale_num);
  cinfo->scale_denom = 8;
  jpeg_start_decompress(cinfo);

  Image& out = *req.out;
  out.height = cinfo->output_height;
  out.width = cinfo->output_width;
  out.channels = out_channels;
  out.pixels.reserve(static_cast<size_t>(out.size()));
  out.pixels.clear();
  if (!cmyk) {
    // Several rows per call let libjpeg upsample chroma straight into our rows.
    constexpr int kRowsPerCall = 16;
    JSAMPROW rows[kRowsPerCall];
    while (cinfo->output_scanline < cinfo->output_height) {
      const int64_t y = cinfo->output_scanline;
      const int64_t n = std::min<int64_t>(kRowsPerCall, out.height - y);
      grow_rows(out, y + n);
      for (int64_t i = 0; i < n; ++i)
        rows[i] = out.pixels.data() + (y + i) * out.width * out_channels;
      jpeg_read_scanlines(cinfo, rows, static_cast<JDIMENSION>(n));
    }
  } else {
    // CMYK rows are decoded into a row buffer from libjpeg's pool, then converted.
    JSAMPARRAY cmyk_row = (*cinfo->mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(cinfo),
                                                      JPOOL_IMAGE, cinfo->output_width * 4, 1);
    while (cinfo->output_scanline < cinfo->output_height) {
      const int64_t y = cinfo->output_scanline;
      grow_rows(out, y + 1);
      uint8_t* row = out.pixels.data() + y * out.width * out_channels;
      jpeg_read_scanlines(cinfo, cmyk_row, 1);
      // Adobe writes CMYK inverted (0 = full ink), which is what libjpeg returns; R = C' K' / 255.
      const uint8_t* s = cmyk_row[0];
      for (int64_t x = 0; x < out.width; ++x, s += 4) {
        const unsigned k = s[3];
        const auto r = static_cast<uint8_t>((s[0] * k + 127) / 255);
        const auto g = static_cast<uint8_t>((s[1] * k + 127) / 255);
        const auto b = static_cast<uint8_t>((s[2] * k + 127) / 255);
        if (out_channels == 1) {
          row[x] = luma(r, g, b);
        } else {
          row[3 * x] = r;
          row[3 * x + 1] = g;
          row[3 * x + 2] = b;
        }
      }
    }
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

[[noreturn]] void throw_jpeg_error(const JpegDecoder& d, std::span<const uint8_t> bytes,
                                   const std::string& path) {
  std::string reason = d.err.message[0] ? d.err.message : "unknown libjpeg error";
  // libjpeg's wording for the common cases is terse; say what happened.
  const int code = d.err.mgr.msg_code;
  if (code == JWRN_JPEG_EOF || code == JERR_INPUT_EOF) {
    reason = "truncated JPEG (" + reason + ", after " + with_commas(bytes.size()) + " bytes)";
  } else {
    reason = "corrupt JPEG (" + reason + ")";
  }
  throw Error(ErrorCode::kDataLoss,
              str_cat(path, ": ", reason, "; re-export the file or skip it (on_error=skip)"));
}

// Decodes at DCT scale scale_num/8 (1..8), or, when scale_num is 0, at the scale that
// options' minimum size selects from the header.
void decode_jpeg(std::span<const uint8_t> bytes, const std::string& path,
                 const DecodeOptions& options, int scale_num, Image& out) {
  JpegDecoder d;
  JpegHeader header{};
  bool too_large = false;
  if (scale_num == 0) {
    scale_num = 8;
    if (options.min_height > 0 || options.min_width > 0) {
      // First the header alone, to pick the DCT scale from the stored size.
      JpegRequest req{options.channels, true, 8, false, options.max_pixels, &out};
      if (!jpeg_run(d, bytes, req, header, too_large)) throw_jpeg_error(d, bytes, path);
      scale_num =
          jpeg_scale_numerator(header.height, header.width, options.min_height, options.min_width);
      jpeg_abort_decompress(&d.cinfo);
    }
  }
  JpegRequest req{options.channels, false, scale_num, options.fast_dct, options.max_pixels, &out};
  if (!jpeg_run(d, bytes, req, header, too_large)) throw_jpeg_error(d, bytes, path);
  LT_CHECK(!too_large, kDataLoss, path, ": JPEG of ", header.width, "x", header.height, " (",
           with_commas(header.height * header.width), " pixels) is above the limit of ",
           with_commas(options.max_pixels),
           " pixels; raise DecodeOptions::max_pixels if the image is genuine");
  LT_ASSERT(out.pixels.size() == static_cast<size_t>(out.size()));
}

// --- PNG -------------------------------------------------------------------------------------

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
  ImageInfo info;
  info.format = sniff_image_format(bytes);
  if (info.format == ImageFormat::kJpeg) {
    JpegDecoder d;
    JpegHeader header{};
    bool too_large = false;
    JpegRequest req{0, true, 8, false, 0, nullptr};
    if (!jpeg_run(d, bytes, req, header, too_large)) throw_jpeg_error(d, bytes, path);
    info.height = header.height;
    info.width = header.width;
    info.channels = header.components;
    return info;
  }
  if (info.format == ImageFormat::kPng) {
    PngDecoder d;
    PngHeader header{};
    bool too_large = false;
    if (!png_run(d, bytes, 0, true, 0, header, too_large, nullptr)) throw_png_error(d, path);
    info.height = header.height;
    info.width = header.width;
    info.channels = header.channels;
    return info;
  }
  throw_unknown_format(bytes, path);
}

void decode_image_into(std::span<const uint8_t> bytes, const std::string& path,
                       const DecodeOptions& options, Image& out) {
  check_channels(options.channels, path);
  LT_CHECK(options.min_height >= 0 && options.min_width >= 0, kInvalidArgument, path,
           ": minimum decode size ", options.min_height, "x", options.min_width,
           " is negative; pass 0 for none");
  switch (sniff_image_format(bytes)) {
    case ImageFormat::kJpeg:
      decode_jpeg(bytes, path, options, 0, out);
      return;
    case ImageFormat::kPng:
      decode_png(bytes, path, options, out);
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
    decode_jpeg(bytes, path, decode, num, scratch);
    scale_y = static_cast<double>(scratch.height) / static_cast<double>(info.height);
    scale_x = static_cast<double>(scratch.width) / static_cast<double>(info.width);
  } else {
    decode_image_into(bytes, path, decode, scratch);
    window = window_for(scratch.height, scratch.width);
  }
  resize_to_float(scratch, window, options.height, options.width, dst, options.affine,
                  options.interpolation, options.antialias, options.flip, scale_y, scale_x);
}

// --- encoders --------------------------------------------------------------------------------

namespace {

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

struct JpegEncoder {
  jpeg_compress_struct cinfo{};
  JpegError err{};
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  bool created = false;
  JpegEncoder() = default;
  JpegEncoder(const JpegEncoder&) = delete;
  JpegEncoder& operator=(const JpegEncoder&) = delete;
  ~JpegEncoder() {
    if (created) jpeg_destroy_compress(&cinfo);
    std::free(buffer);
  }
};

bool jpeg_encode_run(JpegEncoder& e, const Image& image, int quality) {
  e.cinfo.err = jpeg_std_error(&e.err.mgr);
  e.err.mgr.error_exit = jpeg_on_error;
  e.err.message[0] = '\0';
  if (setjmp(e.err.jump)) return false;
  jpeg_create_compress(&e.cinfo);
  e.created = true;
  jpeg_mem_dest(&e.cinfo, &e.buffer, &e.size);
  e.cinfo.image_width = static_cast<JDIMENSION>(image.width);
  e.cinfo.image_height = static_cast<JDIMENSION>(image.height);
  e.cinfo.input_components = static_cast<int>(image.channels);
  e.cinfo.in_color_space = image.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&e.cinfo);  // 4:2:0 chroma subsampling for colour, JFIF
  jpeg_set_quality(&e.cinfo, quality, TRUE);
  jpeg_start_compress(&e.cinfo, TRUE);
  while (e.cinfo.next_scanline < e.cinfo.image_height) {
    JSAMPROW row[1] = {const_cast<JSAMPLE*>(image.pixels.data() +
                                            e.cinfo.next_scanline * image.width * image.channels)};
    jpeg_write_scanlines(&e.cinfo, row, 1);
  }
  jpeg_finish_compress(&e.cinfo);
  return true;
}

}  // namespace

std::vector<uint8_t> encode_png(const Image& image) {
  LT_CHECK(image.channels == 1 || image.channels == 3 || image.channels == 4, kInvalidArgument,
           "cannot encode a ", image.channels, "-channel image as PNG; pass 1, 3 or 4 channels");
  check_encodable(image, "PNG");
  std::vector<uint8_t> out;
  PngWriteContext ctx{&out, {0}};
  PngEncoder e;
  LT_CHECK(png_encode_run(e, ctx, image), kInternal, "libpng failed to encode a ", image.width, "x",
           image.height, " image: ", ctx.message);
  return out;
}

std::vector<uint8_t> encode_jpeg(const Image& image, int quality) {
  LT_CHECK(image.channels == 1 || image.channels == 3, kInvalidArgument, "cannot encode a ",
           image.channels, "-channel image as JPEG; pass 1 or 3 channels (drop alpha first)");
  LT_CHECK(quality >= 1 && quality <= 100, kInvalidArgument, "JPEG quality ", quality,
           " is outside [1, 100]");
  check_encodable(image, "JPEG");
  JpegEncoder e;
  LT_CHECK(jpeg_encode_run(e, image, quality), kInternal, "libjpeg failed to encode a ",
           image.width, "x", image.height, " image: ", e.err.message);
  return std::vector<uint8_t>(e.buffer, e.buffer + e.size);
}

}  // namespace leantrain::data

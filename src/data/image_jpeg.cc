// JPEG through libjpeg-turbo's libjpeg API, from and to memory, with DCT scaling.
//
// libjpeg reports errors by longjmp. Every libjpeg call runs inside a small C-style function
// whose frame holds no object with a destructor, so a longjmp never skips a destructor; the C++
// caller owns the library state through a guard and turns a failure into an Error.
// jpeglib.h needs size_t and FILE declared before it.
#include <cstddef>
#include <cstdio>

#include <jpeglib.h>

// After jpeglib.h, which it needs: libjpeg's message codes, to tell warnings apart.
#include <jerror.h>

#include <algorithm>
#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "data/image_codecs.h"
#include "leantrain/core/error.h"
#include "leantrain/core/format.h"

namespace leantrain::data::codecs {
namespace {

using internal::str_cat;

// Progressive JPEGs normally have about 10 scans; each scan passes over the whole image, so a
// crafted file with thousands of tiny scans would take minutes (djpeg -maxscans, libjpeg-turbo's
// fuzzers and TurboJPEG's scan limit guard the same way).
constexpr int kMaxJpegScans = 500;

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

ImageInfo read_jpeg_info(std::span<const uint8_t> bytes, const std::string& path) {
  JpegDecoder d;
  JpegHeader header{};
  bool too_large = false;
  JpegRequest req{0, true, 8, false, 0, nullptr};
  if (!jpeg_run(d, bytes, req, header, too_large)) throw_jpeg_error(d, bytes, path);
  return {.format = ImageFormat::kJpeg,
          .height = header.height,
          .width = header.width,
          .channels = header.components};
}

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

}  // namespace leantrain::data::codecs

namespace leantrain::data {

std::vector<uint8_t> encode_jpeg(const Image& image, int quality) {
  LT_CHECK(image.channels == 1 || image.channels == 3, kInvalidArgument, "cannot encode a ",
           image.channels, "-channel image as JPEG; pass 1 or 3 channels (drop alpha first)");
  LT_CHECK(quality >= 1 && quality <= 100, kInvalidArgument, "JPEG quality ", quality,
           " is outside [1, 100]");
  codecs::check_encodable(image, "JPEG");
  codecs::JpegEncoder e;
  LT_CHECK(codecs::jpeg_encode_run(e, image, quality), kInternal, "libjpeg failed to encode a ",
           image.width, "x", image.height, " image: ", e.err.message);
  return std::vector<uint8_t>(e.buffer, e.buffer + e.size);
}

}  // namespace leantrain::data

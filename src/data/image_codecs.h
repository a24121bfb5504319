// What the image codecs (image_jpeg.cc, image_png.cc) and the format-independent code
// (image.cc) share. Private to the data module.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "leantrain/data/image.h"

namespace leantrain::data::codecs {

// The DCT scales (numerators over 8) used below full size: libjpeg-turbo has SIMD inverse DCTs
// only for these (8x8, 4x4, 2x2, 1x1 blocks). The other scales it offers (3/8, 5/8, 7/8, ...) run
// plain C and decode slower than full size: 256x256 at 7/8 took longer than at 8/8 plus a
// resize. PIL's draft mode and tf.io.decode_jpeg(ratio=) use the same set.
inline constexpr int kJpegScales[] = {1, 2, 4};

// A JPEG dimension at DCT scale num/8, as libjpeg rounds it.
inline int64_t jpeg_scaled(int64_t dim, int num) { return (dim * num + 7) / 8; }

// ITU-R 601-2 luma in 16-bit fixed point, rounded: (19595 R + 38470 G + 7471 B + 2^15) >> 16.
// The weights sum to 65536, so white stays 255.
inline uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
  return static_cast<uint8_t>((19595u * r + 38470u * g + 7471u * b + 32768u) >> 16);
}

// The stored size and components of JPEG `bytes`; throws kDataLoss naming `path` when the
// header cannot be read.
ImageInfo read_jpeg_info(std::span<const uint8_t> bytes, const std::string& path);
// Decodes JPEG `bytes` into `out` at DCT scale scale_num/8 (1..8), or, when scale_num is 0, at
// the scale that options' minimum size selects from the header. Throws kDataLoss naming `path`
// for a corrupt, truncated or too large image.
void decode_jpeg(std::span<const uint8_t> bytes, const std::string& path,
                 const DecodeOptions& options, int scale_num, Image& out);

// The stored size and channels of PNG `bytes`; throws kDataLoss naming `path` when the header
// cannot be read.
ImageInfo read_png_info(std::span<const uint8_t> bytes, const std::string& path);
// Decodes PNG `bytes` into `out`. Throws kDataLoss naming `path` for a corrupt, truncated or
// too large image.
void decode_png(std::span<const uint8_t> bytes, const std::string& path,
                const DecodeOptions& options, Image& out);

// Throws kInvalidArgument naming `format` for an image an encoder cannot write: empty, pixels
// that do not match its size, or a side over 65,535.
void check_encodable(const Image& image, const char* format);

}  // namespace leantrain::data::codecs

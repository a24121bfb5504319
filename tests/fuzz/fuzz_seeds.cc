// Writes the seed corpora of the fuzz targets: small valid files of every variant the readers
// handle, so the fuzzers start from inputs that reach deep into the decoders. Generated at fuzz
// time (scripts/fuzz), never committed.
//
//   fuzz_seeds OUT_DIR   writes OUT_DIR/<target>/* for image_fuzz, tfrecord_fuzz, idx_fuzz and
//                        byte_size_fuzz (keras_json_seeds writes keras_json_fuzz's)
//
// JPEG variants go through libjpeg directly (progressive, arithmetic coding, restart markers,
// 4:4:4, grayscale, CMYK), PNG variants through libpng (palette with tRNS, 1-bit gray, 16-bit,
// gray+alpha, RGBA, interlaced).

// jpeglib.h needs size_t and FILE declared before it.
#include <cstddef>
#include <cstdio>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "leantrain/core/rng.h"
#include "leantrain/data/image.h"
#include "leantrain/data/tfrecord.h"

namespace {

using namespace leantrain;
using namespace leantrain::data;
namespace fs = std::filesystem;

void write(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
    std::fprintf(stderr, "fuzz_seeds: cannot write %s\n", path.c_str());
    std::exit(1);
  }
  std::fclose(f);
}

// A smooth gradient with seeded noise (never all zeros), h x w x c.
std::vector<uint8_t> pattern(int h, int w, int c, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint8_t> p(static_cast<size_t>(h * w * c));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        p[static_cast<size_t>((y * w + x) * c + k)] =
            static_cast<uint8_t>((x * 255 / w + y * 97 / h + k * 60 + rng.below(16)) & 0xff);
  return p;
}

struct JpegVariant {
  const char* name;
  int h, w, components;
  J_COLOR_SPACE in_space;
  bool progressive, arithmetic, full_chroma;
  int restart_rows;
};

std::vector<uint8_t> jpeg(const JpegVariant& v) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);  // default error_exit: exits, fine for a tool
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(v.w);
  cinfo.image_height = static_cast<JDIMENSION>(v.h);
  cinfo.input_components = v.components;
  cinfo.in_color_space = v.in_space;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 75, TRUE);
  if (v.progressive) jpeg_simple_progression(&cinfo);
  if (v.arithmetic) cinfo.arith_code = TRUE;
  if (v.full_chroma) {
    for (int i = 0; i < cinfo.num_components; ++i) {
      cinfo.comp_info[i].h_samp_factor = 1;
      cinfo.comp_info[i].v_samp_factor = 1;
    }
  }
  cinfo.restart_in_rows = v.restart_rows;
  jpeg_start_compress(&cinfo, TRUE);
  const std::vector<uint8_t> pixels = pattern(v.h, v.w, v.components, 7);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPLE*>(pixels.data() + cinfo.next_scanline * v.w * v.components);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<uint8_t> out(buffer, buffer + size);
  std::free(buffer);
  return out;
}

struct PngVariant {
  const char* name;
  int h, w, color_type, bit_depth;
  bool interlaced, trns;
};

void png_append(png_structp png, png_bytep data, size_t n) {
  auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}

std::vector<uint8_t> png(const PngVariant& v) {
  std::vector<uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    std::fprintf(stderr, "fuzz_seeds: libpng failed on %s\n", v.name);
    std::exit(1);
  }
  png_set_write_fn(png, &out, png_append, nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(v.w), static_cast<png_uint_32>(v.h), v.bit_depth,
               v.color_type, v.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  int samples = 1;
  if (v.color_type == PNG_COLOR_TYPE_PALETTE) {
    png_color palette[16];
    png_byte alpha[16];
    for (int i = 0; i < 16; ++i) {
      palette[i] = {static_cast<png_byte>(i * 16), static_cast<png_byte>(255 - i * 16),
                    static_cast<png_byte>(i * 7)};
      alpha[i] = static_cast<png_byte>(i * 17);
    }
    png_set_PLTE(png, info, palette, 16);
    if (v.trns) png_set_tRNS(png, info, alpha, 16, nullptr);
  } else {
    samples = v.color_type == PNG_COLOR_TYPE_GRAY         ? 1
              : v.color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
              : v.color_type == PNG_COLOR_TYPE_RGB        ? 3
                                                          : 4;
    if (v.trns && v.color_type == PNG_COLOR_TYPE_GRAY) {
      png_color_16 key{};
      key.gray = 1;
      png_set_tRNS(png, info, nullptr, 0, &key);
    }
  }
  const char* text_key = "Comment";
  png_text text{};
  text.compression = PNG_TEXT_COMPRESSION_zTXt;
  text.key = const_cast<char*>(text_key);
  text.text = const_cast<char*>("leantrain fuzz seed");
  png_set_text(png, info, &text, 1);
  png_write_info(png, info);
  const int bits_per_row = v.w * samples * v.bit_depth;
  const int row_bytes = (bits_per_row + 7) / 8;
  const std::vector<uint8_t> data = pattern(v.h, row_bytes, 1, 11);
  if (v.color_type == PNG_COLOR_TYPE_PALETTE) {
    // Indices must stay below the palette size (16): keep 4 bits per index.
    std::vector<uint8_t> masked(data);
    for (auto& b : masked) b &= v.bit_depth == 8 ? 0x0f : 0xff;
    std::vector<png_bytep> rows(static_cast<size_t>(v.h));
    for (int y = 0; y < v.h; ++y) rows[static_cast<size_t>(y)] = masked.data() + y * row_bytes;
    png_write_image(png, rows.data());
  } else {
    std::vector<png_bytep> rows(static_cast<size_t>(v.h));
    for (int y = 0; y < v.h; ++y)
      rows[static_cast<size_t>(y)] = const_cast<png_bytep>(data.data() + y * row_bytes);
    png_write_image(png, rows.data());
  }
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::vector<uint8_t> gzip(const std::vector<uint8_t>& bytes) {
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::vector<uint8_t> out(deflateBound(&zs, bytes.size()) + 32);
  zs.next_in = const_cast<Bytef*>(bytes.data());
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::vector<uint8_t> idx(uint8_t type, const std::vector<uint32_t>& dims, int element_size) {
  std::vector<uint8_t> out = {0, 0, type, static_cast<uint8_t>(dims.size())};
  int64_t n = 1;
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(d >> s));
    n *= d;
  }
  const std::vector<uint8_t> body = pattern(1, static_cast<int>(n * element_size), 1, 5);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds OUT_DIR\n");
    return 2;
  }
  const fs::path root = argv[1];
  const fs::path images = root / "image_fuzz", records = root / "tfrecord_fuzz",
                 idx_dir = root / "idx_fuzz";
  for (const auto& d : {images, records, idx_dir}) fs::create_directories(d);

  const JpegVariant jpegs[] = {
      {"baseline_rgb", 19, 23, 3, JCS_RGB, false, false, false, 0},
      {"baseline_444", 16, 16, 3, JCS_RGB, false, false, true, 0},
      {"progressive", 24, 17, 3, JCS_RGB, true, false, false, 0},
      {"progressive_gray", 9, 33, 1, JCS_GRAYSCALE, true, false, false, 0},
      {"arithmetic", 12, 12, 3, JCS_RGB, false, true, false, 0},
      {"restart", 40, 8, 3, JCS_RGB, false, false, false, 1},
      {"gray", 13, 7, 1, JCS_GRAYSCALE, false, false, false, 0},
      {"cmyk", 8, 10, 4, JCS_CMYK, false, false, false, 0},
      {"large_dct", 64, 48, 3, JCS_RGB, false, false, false, 0},
  };
  for (const auto& v : jpegs) write(images / (std::string(v.name) + ".jpg"), jpeg(v));
  const PngVariant pngs[] = {
      {"rgb", 11, 13, PNG_COLOR_TYPE_RGB, 8, false, false},
      {"rgba", 7, 9, PNG_COLOR_TYPE_RGB_ALPHA, 8, false, false},
      {"gray", 5, 17, PNG_COLOR_TYPE_GRAY, 8, false, false},
      {"gray1", 9, 21, PNG_COLOR_TYPE_GRAY, 1, false, false},
      {"gray_trns", 6, 6, PNG_COLOR_TYPE_GRAY, 8, false, true},
      {"gray_alpha16", 4, 5, PNG_COLOR_TYPE_GRAY_ALPHA, 16, false, false},
      {"rgb16_interlaced", 10, 10, PNG_COLOR_TYPE_RGB, 16, true, false},
      {"palette_trns", 8, 12, PNG_COLOR_TYPE_PALETTE, 8, false, true},
      {"palette4_interlaced", 9, 9, PNG_COLOR_TYPE_PALETTE, 4, true, false},
  };
  for (const auto& v : pngs) write(images / (std::string(v.name) + ".png"), png(v));

  // TFRecords of Examples as an image dataset would hold them.
  std::vector<uint8_t> stream;
  for (int i = 0; i < 3; ++i) {
    Image img;
    img.height = 4 + i;
    img.width = 5;
    img.channels = 3;
    img.pixels = pattern(4 + i, 5, 3, static_cast<uint64_t>(i));
    const std::vector<uint8_t> encoded = i % 2 ? encode_png(img) : encode_jpeg(img, 80);
    const std::string name = "img" + std::to_string(i);
    const std::vector<uint8_t> example = serialize_example({
        {"image/encoded", bytes_feature({encoded})},
        {"image/class/label", int64_feature({i, -i})},
        {"image/filename", bytes_feature({std::span<const uint8_t>(
                               reinterpret_cast<const uint8_t*>(name.data()), name.size())})},
        {"image/mean", float_feature({0.5f, -1.25f, 3.0f})},
    });
    const std::vector<uint8_t> framed = frame_tfrecord(example);
    stream.insert(stream.end(), framed.begin(), framed.end());
    write(records / ("example" + std::to_string(i) + ".tfrecord"), framed);
  }
  write(records / "three.tfrecord", stream);
  write(records / "empty_record.tfrecord", frame_tfrecord({}));

  write(idx_dir / "u8_images.idx", idx(0x08, {3, 4, 5}, 1));
  write(idx_dir / "u8_labels.idx", idx(0x08, {7}, 1));
  write(idx_dir / "i16.idx", idx(0x0B, {2, 3}, 2));
  write(idx_dir / "f32.idx", idx(0x0D, {3}, 4));
  write(idx_dir / "f64.idx", idx(0x0E, {2, 1}, 8));
  write(idx_dir / "i32.idx.gz", gzip(idx(0x0C, {2, 2}, 4)));
  write(idx_dir / "u8_images.idx.gz", gzip(idx(0x08, {2, 6, 6}, 1)));
  const fs::path sizes = root / "byte_size_fuzz";
  fs::create_directories(sizes);
  const auto text = [](const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  int n = 0;
  for (const char* size : {"600MiB", "1.5GB", "512", "0.25 KiB", "2TiB", "100 B", "7.5kB"}) {
    write(sizes / ("size" + std::to_string(n++)), text(size));
  }
  std::printf("fuzz_seeds: wrote seeds to %s\n", root.c_str());
  return 0;
}

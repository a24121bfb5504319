// Reading IDX files (the MNIST family's format) and the labelled image sets stored in them.
//
// IDX layout: a 4-byte magic 00 00 <type code> <number of dims>, one big-endian u32 per dim,
// then the elements in C order, big-endian. Files may be gzip-compressed (.gz).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "leantrain/core/dtype.h"

namespace leantrain::data {

// An IDX array as stored: element type code (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32,
// 0x0E f64), dims, raw bytes (converted to host byte order). bytes.size() is the product of the
// dims times the element size.
struct IdxArray {
  uint8_t type_code = 0x08;
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;
};

// Returns the size in bytes of one element of IDX type `type_code`, or 0 for an unknown code.
int64_t idx_element_size(uint8_t type_code);

// Reads an IDX file, gzip-compressed (detected by the 1f 8b magic; inflated in a streaming way
// straight into the result) or plain.
// Throws Error:
//   kNotFound        the file does not exist (the message names the path);
//   kIo              the file exists but cannot be read (permissions, a directory);
//   kDataLoss        bad magic, zero dims, truncated header or data ("x.gz: truncated IDX data
//                    (12,288 of 47,040,000 bytes)"), corrupt gzip (bad deflate data or CRC),
//                    a gzip stream that ends before its trailer, or more data than the dims
//                    account for (the header and the content disagree);
//   kInvalidArgument an unsupported type code.
// Trailing bytes *after the end of the last gzip member* that are not another gzip member are
// ignored, as `gzip -d` and zlib's gzread do; concatenated gzip members are read as one stream.
// Never allocates much more than the file could hold: a header claiming more data than a file
// of its size can decompress to is reported as truncated without a huge allocation.
IdxArray read_idx(const std::string& path);

// As read_idx, for an IDX file (plain or gzip) held in memory; `name` is used in messages.
// Throws what read_idx throws except kNotFound and kIo.
IdxArray parse_idx(std::span<const uint8_t> bytes, const std::string& name);

// Labelled images someone else owns, read in place (a LabeledImages, or numpy arrays from
// Python): NHWC pixels of `dtype` (kU8 or kF32) and `count` class ids, or no labels (null: for
// prediction). Batching writes each pixel as f32 times `scale`.
struct ImagesView {
  int64_t count = 0, height = 0, width = 0, channels = 1;
  int32_t num_classes = 0;  // max label + 1 when known; 0: labels are checked per batch only
  const void* pixels = nullptr;
  DType dtype = DType::kU8;
  float scale = 1.0f;
  const int32_t* labels = nullptr;
};

// Labelled images held as u8 (memory-lean: 1 byte per pixel), NHWC with C = 1 for IDX.
struct LabeledImages {
  int64_t count = 0, height = 0, width = 0, channels = 1;
  int32_t num_classes = 0;
  std::vector<uint8_t> pixels;  // (count, height, width, channels) u8
  std::vector<int32_t> labels;  // (count) in [0, num_classes)
  // Returns the bytes held by pixels and labels.
  int64_t bytes() const;
  // The images as a view, pixels scaled by 1/255 into [0, 1] when batched. Throws
  // Error(kInvalidArgument) when pixels or labels disagree with the sizes.
  ImagesView view() const;
};

// Reads an images file (3-D u8 IDX: count, rows, cols) and a labels file (1-D IDX of u8, or of
// i8/i16/i32 holding values in [0, 256)); num_classes = max label + 1 (0 when empty).
// Throws what read_idx throws, and kInvalidArgument, naming the files, when the images file is
// not 3-D u8, the labels file is not 1-D integer, a label is outside [0, 256), or the counts
// differ.
LabeledImages load_idx_images(const std::string& images_path, const std::string& labels_path);

struct TrainTest {
  LabeledImages train, test;
};

// The directory Debian's dataset-fashion-mnist package installs to.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Loads Fashion-MNIST from `data_dir` if non-empty, else kFashionMnistDir: the files
// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte, each plain or with a .gz suffix (plain preferred when both exist).
// Throws kNotFound naming the directory searched and the missing files, with
// "install it with: apt-get install dataset-fashion-mnist (or pass --data-dir DIR holding the
// four IDX files)"; kInvalidArgument when train and test image sizes differ; otherwise what
// load_idx_images throws.
TrainTest load_fashion_mnist(const std::string& data_dir = "");

}  // namespace leantrain::data

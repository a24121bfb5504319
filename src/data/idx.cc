// IDX reading: a byte source (plain file or streaming gzip inflate) and the IDX parser on top.
#include "leantrain/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <span>
#include <utility>

#include "leantrain/core/error.h"
#include "leantrain/core/format.h"

namespace leantrain::data {
namespace {

using internal::str_cat;

// Deflate cannot expand more than about 1032:1; a header claiming more data than
// file_bytes * kMaxInflateRatio is certainly truncated, so we never allocate for it up front.
constexpr int64_t kMaxInflateRatio = 1040;
constexpr int64_t kChunkBytes = 64 * 1024;

// Returns "1f 8b 08 00" for the n bytes at p.
std::string hex_bytes(const uint8_t* p, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    char buf[4];
    std::snprintf(buf, sizeof buf, "%02x", p[i]);
    out += (i ? " " : "") + std::string(buf);
  }
  return out;
}

std::string type_name(uint8_t type_code) {
  switch (type_code) {
    case 0x08:
      return "u8";
    case 0x09:
      return "i8";
    case 0x0B:
      return "i16";
    case 0x0C:
      return "i32";
    case 0x0D:
      return "f32";
    case 0x0E:
      return "f64";
  }
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", type_code);
  return buf;
}

std::string dims_string(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// The decompressed bytes of a file, plain or gzip, read front to back.
// Owns the file handle and the zlib stream. Not thread-safe.
class ByteSource {
 public:
  // Reads the bytes in memory (which must outlive the source); `name` is for messages.
  ByteSource(std::span<const uint8_t> bytes, const std::string& name)
      : path_(name), memory_(bytes), from_memory_(true) {
    file_bytes_ = static_cast<int64_t>(bytes.size());
    start();
  }
  explicit ByteSource(const std::string& path) : path_(path) {
    std::error_code ec;
    const bool exists = std::filesystem::exists(path, ec);
    LT_CHECK(exists || ec, kNotFound, path, ": no such file");
    LT_CHECK(!std::filesystem::is_directory(path, ec), kIo, path,
             ": is a directory, not an IDX file");
    file_.reset(std::fopen(path.c_str(), "rb"));
    if (!file_) {
      const int err = errno;
      LT_CHECK(err != ENOENT, kNotFound, path, ": no such file");
      LT_CHECK(false, kIo, path, ": cannot open: ", std::strerror(err));
    }
    const auto size = std::filesystem::file_size(path, ec);
    file_bytes_ = ec ? -1 : static_cast<int64_t>(size);
    start();
  }
  ~ByteSource() {
    if (zs_initialized_) inflateEnd(&zs_);
  }
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

 private:
  void start() {
    // Sniff the gzip magic; the sniffed bytes stay in in_ and are consumed first.
    in_len_ = read_file(in_.data(), 2);
    gzip_ = in_len_ == 2 && in_[0] == 0x1f && in_[1] == 0x8b;
    if (gzip_) {
      // 16 + MAX_WBITS: gzip wrapper only, with header and CRC-32/length trailer checks.
      LT_CHECK(inflateInit2(&zs_, 16 + MAX_WBITS) == Z_OK, kInternal, path_,
               ": zlib inflateInit2 failed");
      zs_initialized_ = true;
      zs_.next_in = in_.data();
      zs_.avail_in = static_cast<uInt>(in_len_);
    }
  }

 public:
  bool gzip() const { return gzip_; }
  // Size of the file on disk, or -1 when unknown.
  int64_t file_bytes() const { return file_bytes_; }
  // True when a gzip stream ended early (no end-of-stream marker and trailer).
  bool gzip_truncated() const { return gzip_truncated_; }

  // Reads up to n bytes into dst and returns the count; fewer than n only at the end of the
  // data. Throws kDataLoss on corrupt gzip data, kIo on a read error.
  int64_t read(uint8_t* dst, int64_t n) { return gzip_ ? read_gzip(dst, n) : read_plain(dst, n); }

 private:
  int64_t read_file(uint8_t* dst, int64_t n) {
    if (from_memory_) {
      const int64_t got = std::min<int64_t>(n, static_cast<int64_t>(memory_.size()) - memory_pos_);
      if (got > 0) std::memcpy(dst, memory_.data() + memory_pos_, static_cast<size_t>(got));
      memory_pos_ += got;
      return got;
    }
    const size_t got = std::fread(dst, 1, static_cast<size_t>(n), file_.get());
    LT_CHECK(!std::ferror(file_.get()), kIo, path_, ": read failed: ", std::strerror(errno));
    return static_cast<int64_t>(got);
  }

  int64_t read_plain(uint8_t* dst, int64_t n) {
    int64_t got = 0;
    // Bytes sniffed by the constructor come first.
    while (in_pos_ < in_len_ && got < n) dst[got++] = in_[in_pos_++];
    if (got < n) got += read_file(dst + got, n - got);
    return got;
  }

  // Refills the input buffer when empty; returns false at the end of the file.
  bool refill() {
    if (zs_.avail_in > 0) return true;
    if (input_eof_) return false;
    const int64_t got = read_file(in_.data(), static_cast<int64_t>(in_.size()));
    if (got == 0) {
      input_eof_ = true;
      return false;
    }
    zs_.next_in = in_.data();
    zs_.avail_in = static_cast<uInt>(got);
    return true;
  }

  int64_t read_gzip(uint8_t* dst, int64_t n) {
    int64_t got = 0;
    while (got < n && !output_end_) {
      if (member_ended_) {
        // Another gzip member follows only if the next bytes are its magic; anything else
        // (end of file or trailing garbage) ends the data, as with gzip -d.
        if (!refill() || (zs_.avail_in < 2 && !top_up())) {
          output_end_ = true;
          break;
        }
        if (zs_.next_in[0] != 0x1f || zs_.next_in[1] != 0x8b) {
          output_end_ = true;
          break;
        }
        LT_CHECK(inflateReset(&zs_) == Z_OK, kInternal, path_, ": zlib inflateReset failed");
        member_ended_ = false;
      }
      const bool have_input = refill();
      const int64_t want = std::min<int64_t>(n - got, std::numeric_limits<uInt>::max());
      zs_.next_out = dst + got;
      zs_.avail_out = static_cast<uInt>(want);
      const int ret = inflate(&zs_, Z_NO_FLUSH);
      got += want - static_cast<int64_t>(zs_.avail_out);
      if (ret == Z_STREAM_END) {
        member_ended_ = true;
      } else if (ret == Z_BUF_ERROR) {
        // No progress is possible: the input is exhausted mid-stream.
        LT_CHECK(!have_input, kDataLoss, path_, ": corrupt gzip data (zlib made no progress)");
        gzip_truncated_ = true;
        output_end_ = true;
      } else if (ret != Z_OK) {
        LT_CHECK(ret != Z_MEM_ERROR, kInternal, path_, ": zlib ran out of memory");
        LT_CHECK(false, kDataLoss, path_,
                 ": corrupt gzip data (zlib: ", zs_.msg ? zs_.msg : "error",
                 "); download the file again");
      }
    }
    return got;
  }

  // Makes at least 2 input bytes available if the file has them, moving the 1 leftover byte
  // to the front. Returns false when fewer than 2 remain.
  bool top_up() {
    if (zs_.avail_in >= 2) return true;
    in_[0] = zs_.next_in[0];
    const int64_t got = input_eof_ ? 0 : read_file(in_.data() + 1, 1);
    zs_.next_in = in_.data();
    zs_.avail_in = static_cast<uInt>(1 + got);
    if (got == 0) input_eof_ = true;
    return got == 1;
  }

  std::string path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::span<const uint8_t> memory_;
  int64_t memory_pos_ = 0;
  bool from_memory_ = false;
  int64_t file_bytes_ = -1;
  bool gzip_ = false;
  // Input buffer: compressed bytes for gzip; for plain files only the 2 sniffed bytes.
  std::array<uint8_t, kChunkBytes> in_{};
  int64_t in_len_ = 0, in_pos_ = 0;
  z_stream zs_{};
  bool zs_initialized_ = false;
  bool input_eof_ = false, member_ended_ = false, output_end_ = false, gzip_truncated_ = false;
};

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Converts big-endian elements of `size` bytes to host order in place.
void to_host_order(std::vector<uint8_t>& bytes, int64_t size) {
  if (size == 1 || std::endian::native == std::endian::big) return;
  const int64_t n = static_cast<int64_t>(bytes.size());
  for (int64_t i = 0; i + size <= n; i += size) std::reverse(&bytes[i], &bytes[i] + size);
}

}  // namespace

int64_t idx_element_size(uint8_t type_code) {
  switch (type_code) {
    case 0x08:
    case 0x09:
      return 1;
    case 0x0B:
      return 2;
    case 0x0C:
    case 0x0D:
      return 4;
    case 0x0E:
      return 8;
  }
  return 0;
}

namespace {

IdxArray read_idx_from(ByteSource& src, const std::string& path) {
  const std::string hint = "; download the file again";
  auto truncated_gzip_note = [&] {
    return src.gzip_truncated() ? std::string(" (the gzip stream ends early)") : std::string();
  };

  uint8_t magic[4];
  const int64_t magic_got = src.read(magic, 4);
  LT_CHECK(magic_got == 4, kDataLoss, path, ": truncated IDX header (", magic_got,
           " of 4 magic bytes)", truncated_gzip_note(), hint);
  LT_CHECK(magic[0] == 0 && magic[1] == 0, kDataLoss, path, ": not an IDX file (magic bytes ",
           hex_bytes(magic, 4), "; an IDX file starts 00 00 <type> <ndims>)");
  IdxArray out;
  out.type_code = magic[2];
  const int64_t element_size = idx_element_size(out.type_code);
  LT_CHECK(element_size > 0, kInvalidArgument, path, ": unsupported IDX type code ",
           type_name(out.type_code),
           "; supported: 0x08 u8, 0x09 i8, 0x0b i16, 0x0c i32, 0x0d f32, 0x0e f64");
  const int ndims = magic[3];
  LT_CHECK(ndims > 0, kDataLoss, path, ": IDX header has 0 dimensions");

  std::vector<uint8_t> dim_bytes(static_cast<size_t>(4 * ndims));
  const int64_t dims_got = src.read(dim_bytes.data(), 4 * ndims);
  LT_CHECK(dims_got == 4 * ndims, kDataLoss, path, ": truncated IDX header (", dims_got, " of ",
           4 * ndims, " dimension bytes)", truncated_gzip_note(), hint);
  // Each dim is < 2^32, so with the element size the product overflows int64 only if we let it;
  // saturate instead at a value no file can hold.
  constexpr int64_t kSaturated = int64_t{1} << 62;
  int64_t expected = element_size;
  out.dims.resize(static_cast<size_t>(ndims));
  for (int i = 0; i < ndims; ++i) {
    out.dims[static_cast<size_t>(i)] = big_endian_u32(&dim_bytes[static_cast<size_t>(4 * i)]);
    const int64_t d = out.dims[static_cast<size_t>(i)];
    expected = (d != 0 && expected > kSaturated / d) ? kSaturated : expected * d;
  }
  // A header claiming more than the file could hold gets an allocation bounded by what the
  // file can produce; the buffer then grows only as real data arrives.
  const int64_t header_bytes = 4 + 4 * int64_t{ndims};
  int64_t plausible = expected;
  if (src.file_bytes() >= 0) {
    const int64_t payload_on_disk = std::max<int64_t>(0, src.file_bytes() - header_bytes);
    plausible = src.gzip() ? std::min<int64_t>(kSaturated, src.file_bytes() * kMaxInflateRatio)
                           : payload_on_disk;
  }
  const std::string expected_text =
      expected >= kSaturated ? "over " + with_commas(kSaturated) : with_commas(expected);
  int64_t got = 0;
  out.bytes.resize(static_cast<size_t>(std::min(expected, std::max<int64_t>(plausible, 0))));
  for (;;) {
    const int64_t room = static_cast<int64_t>(out.bytes.size()) - got;
    const int64_t n = src.read(out.bytes.data() + got, room);
    got += n;
    if (n < room || got == expected) break;
    out.bytes.resize(static_cast<size_t>(
        std::min(expected, std::max<int64_t>(kChunkBytes, 2 * static_cast<int64_t>(got)))));
  }
  LT_CHECK(got == expected, kDataLoss, path, ": truncated IDX data (", with_commas(got), " of ",
           expected_text, " bytes)", truncated_gzip_note(), hint);

  // The data must end exactly where the dims say (and a gzip stream must reach its trailer).
  uint8_t extra[256];
  int64_t extra_bytes = src.read(extra, sizeof extra);
  if (extra_bytes > 0) {
    // Count the surplus for the message, but give up counting past 1 MiB.
    constexpr int64_t kCountLimit = int64_t{1} << 20;
    for (int64_t n = extra_bytes; n == static_cast<int64_t>(sizeof extra);) {
      n = extra_bytes < kCountLimit ? src.read(extra, sizeof extra) : 0;
      extra_bytes += n;
    }
    LT_CHECK(false, kDataLoss, path, ": ", extra_bytes >= kCountLimit ? "over " : "",
             with_commas(extra_bytes), " bytes after the IDX data; the header's dims ",
             dims_string(out.dims), " of ", type_name(out.type_code), " account for ",
             expected_text, " bytes (is the header wrong?)");
  }
  LT_CHECK(!src.gzip_truncated(), kDataLoss, path,
           ": truncated gzip stream (the IDX data is complete but the gzip end marker and CRC "
           "are missing)",
           hint);
  to_host_order(out.bytes, element_size);
  return out;
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  ByteSource src(path);
  return read_idx_from(src, path);
}

IdxArray parse_idx(std::span<const uint8_t> bytes, const std::string& name) {
  ByteSource src(bytes, name);
  return read_idx_from(src, name);
}

int64_t LabeledImages::bytes() const {
  return static_cast<int64_t>(pixels.size()) +
         static_cast<int64_t>(labels.size() * sizeof(int32_t));
}

ImagesView LabeledImages::view() const {
  LT_CHECK(count >= 0 && height >= 0 && width >= 0 && channels >= 0, kInvalidArgument,
           "images have a negative size: count ", count, ", ", height, "x", width, "x", channels);
  const int64_t n = count * height * width * channels;
  LT_CHECK(static_cast<int64_t>(pixels.size()) == n && static_cast<int64_t>(labels.size()) == count,
           kInvalidArgument, "images hold ", pixels.size(), " pixels and ", labels.size(),
           " labels, but count ", count, " of ", height, "x", width, "x", channels, " needs ", n,
           " and ", count);
  return {count,         height,     width,         channels,     num_classes,
          pixels.data(), DType::kU8, 1.0f / 255.0f, labels.data()};
}

LabeledImages load_idx_images(const std::string& images_path, const std::string& labels_path) {
  IdxArray images = read_idx(images_path);
  LT_CHECK(images.type_code == 0x08 && images.dims.size() == 3, kInvalidArgument, images_path,
           ": expected a 3-D u8 IDX images file (count, rows, cols), got ", images.dims.size(),
           "-D ", type_name(images.type_code), " with dims ", dims_string(images.dims));
  const IdxArray labels = read_idx(labels_path);
  const int64_t label_size = idx_element_size(labels.type_code);
  const bool integer = labels.type_code == 0x08 || labels.type_code == 0x09 ||
                       labels.type_code == 0x0B || labels.type_code == 0x0C;
  LT_CHECK(integer && labels.dims.size() == 1, kInvalidArgument, labels_path,
           ": expected a 1-D integer IDX labels file (count), got ", labels.dims.size(), "-D ",
           type_name(labels.type_code), " with dims ", dims_string(labels.dims));
  LT_CHECK(images.dims[0] == labels.dims[0], kInvalidArgument, images_path, " holds ",
           with_commas(images.dims[0]), " images but ", labels_path, " holds ",
           with_commas(labels.dims[0]), " labels; pass the labels file that belongs to it");

  LabeledImages out;
  out.count = images.dims[0];
  out.height = images.dims[1];
  out.width = images.dims[2];
  out.channels = 1;
  out.labels.resize(static_cast<size_t>(out.count));
  int32_t max_label = -1;
  for (int64_t i = 0; i < out.count; ++i) {
    const uint8_t* p = &labels.bytes[static_cast<size_t>(i * label_size)];
    int64_t value = 0;
    switch (labels.type_code) {
      case 0x08:
        value = p[0];
        break;
      case 0x09:
        value = static_cast<int8_t>(p[0]);
        break;
      case 0x0B: {
        int16_t v;
        std::memcpy(&v, p, 2);
        value = v;
        break;
      }
      default: {
        int32_t v;
        std::memcpy(&v, p, 4);
        value = v;
        break;
      }
    }
    LT_CHECK(value >= 0 && value < 256, kInvalidArgument, labels_path, ": label ", value,
             " of example ", i, " is outside [0, 256)");
    out.labels[static_cast<size_t>(i)] = static_cast<int32_t>(value);
    max_label = std::max(max_label, static_cast<int32_t>(value));
  }
  out.num_classes = max_label + 1;
  out.pixels = std::move(images.bytes);
  return out;
}

TrainTest load_fashion_mnist(const std::string& data_dir) {
  const std::filesystem::path dir = data_dir.empty() ? kFashionMnistDir : data_dir;
  const char* const stems[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  std::string found[4];
  std::string missing;
  for (int i = 0; i < 4; ++i) {
    std::error_code ec;
    for (const std::string suffix : {"", ".gz"}) {
      const std::filesystem::path p = dir / (std::string(stems[i]) + suffix);
      if (std::filesystem::is_regular_file(p, ec)) {
        found[i] = p.string();
        break;
      }
    }
    if (found[i].empty())
      missing += (missing.empty() ? "" : ", ") + std::string(stems[i]) + "(.gz)";
  }
  LT_CHECK(missing.empty(), kNotFound, "Fashion-MNIST not found in ", dir.string(), " (missing ",
           missing,
           "); install it with: apt-get install dataset-fashion-mnist (or pass --data-dir DIR "
           "holding the four IDX files)");
  TrainTest out;
  out.train = load_idx_images(found[0], found[1]);
  out.test = load_idx_images(found[2], found[3]);
  LT_CHECK(out.train.height == out.test.height && out.train.width == out.test.width,
           kInvalidArgument, "Fashion-MNIST in ", dir.string(), ": train images are ",
           out.train.height, "x", out.train.width, " but test images are ", out.test.height, "x",
           out.test.width);
  return out;
}

}  // namespace leantrain::data

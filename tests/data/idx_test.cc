#include "leantrain/data/idx.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <functional>

#include "data/idx_files.h"
#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"

namespace leantrain::data {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::idx_bytes;
using testing::read_bytes;
using testing::write_gz;
using testing::write_plain;

// Runs `fn`, expecting an Error with `code`; returns its message ("" if none was thrown).
std::string error_message(const std::function<void()>& fn, ErrorCode code) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << error_code_name(e.code()) << ": " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return "";
}

std::vector<uint8_t> ramp(int64_t n, int mul = 7) {
  std::vector<uint8_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<uint8_t>(i * mul);
  return out;
}

// Big-endian bytes of each value of T.
template <typename T>
std::vector<uint8_t> big_endian(const std::vector<T>& values) {
  std::vector<uint8_t> out;
  for (const T& v : values) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    if constexpr (std::endian::native == std::endian::little) std::reverse(b, b + sizeof(T));
    out.insert(out.end(), b, b + sizeof(T));
  }
  return out;
}

template <typename T>
std::vector<T> as_values(const std::vector<uint8_t>& bytes) {
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}

class IdxTest : public testing::TempDirTest {};

TEST_F(IdxTest, ReadsPlainAndGzipU8Alike) {
  const std::vector<uint8_t> payload = ramp(4 * 3 * 5);
  const auto file = idx_bytes(0x08, {4, 3, 5}, payload);
  write_plain(path("a.idx"), file);
  write_gz(path("a.idx.gz"), file);
  for (const std::string name : {"a.idx", "a.idx.gz"}) {
    const IdxArray a = read_idx(path(name));
    EXPECT_EQ(a.type_code, 0x08) << name;
    EXPECT_EQ(a.dims, (std::vector<int64_t>{4, 3, 5})) << name;
    EXPECT_EQ(a.bytes, payload) << name;
  }
}

TEST_F(IdxTest, ReadsLargeGzipAcrossManyInputChunks) {
  // Pseudo-random bytes do not compress, so the file spans many 64 KiB input reads.
  Rng rng(3);
  std::vector<uint8_t> payload(300 * 1000);
  for (auto& b : payload) b = static_cast<uint8_t>(rng.next_u64());
  write_gz(path("big.gz"), idx_bytes(0x08, {300, 1000}, payload));
  EXPECT_EQ(read_idx(path("big.gz")).bytes, payload);
}

TEST_F(IdxTest, ConvertsMultiByteTypesToHostOrder) {
  const std::vector<int16_t> i16 = {1, -2, 300, -32768};
  const std::vector<int32_t> i32 = {1, -2, 70000, -2147483647};
  const std::vector<float> f32 = {1.5f, -2.25f, 3e8f};
  const std::vector<double> f64 = {1.5, -2.25, 1e300};
  const std::vector<int8_t> i8 = {-1, 2, -128};
  write_plain(path("i16"), idx_bytes(0x0B, {4}, big_endian(i16)));
  write_gz(path("i32"), idx_bytes(0x0C, {2, 2}, big_endian(i32)));
  write_plain(path("f32"), idx_bytes(0x0D, {3}, big_endian(f32)));
  write_gz(path("f64"), idx_bytes(0x0E, {3, 1}, big_endian(f64)));
  write_plain(path("i8"), idx_bytes(0x09, {3}, big_endian(i8)));
  EXPECT_EQ(as_values<int16_t>(read_idx(path("i16")).bytes), i16);
  EXPECT_EQ(as_values<int32_t>(read_idx(path("i32")).bytes), i32);
  EXPECT_EQ(as_values<float>(read_idx(path("f32")).bytes), f32);
  EXPECT_EQ(as_values<double>(read_idx(path("f64")).bytes), f64);
  EXPECT_EQ(as_values<int8_t>(read_idx(path("i8")).bytes), i8);
  EXPECT_EQ(read_idx(path("f64")).type_code, 0x0E);
}

TEST_F(IdxTest, ReadsEmptyArray) {
  write_plain(path("empty"), idx_bytes(0x08, {0, 28, 28}, {}));
  const IdxArray a = read_idx(path("empty"));
  EXPECT_EQ(a.dims, (std::vector<int64_t>{0, 28, 28}));
  EXPECT_TRUE(a.bytes.empty());
}

TEST_F(IdxTest, ReadsConcatenatedGzipMembersAsOneStream) {
  const std::vector<uint8_t> payload = ramp(100);
  const auto file = idx_bytes(0x08, {10, 10}, payload);
  write_gz(path("p1.gz"), std::vector<uint8_t>(file.begin(), file.begin() + 50));
  write_gz(path("p2.gz"), std::vector<uint8_t>(file.begin() + 50, file.end()));
  auto both = read_bytes(path("p1.gz"));
  const auto second = read_bytes(path("p2.gz"));
  both.insert(both.end(), second.begin(), second.end());
  write_plain(path("cat.gz"), both);
  EXPECT_EQ(read_idx(path("cat.gz")).bytes, payload);
}

TEST_F(IdxTest, IgnoresNonGzipBytesAfterTheGzipStream) {
  const std::vector<uint8_t> payload = ramp(100);
  write_gz(path("g.gz"), idx_bytes(0x08, {100}, payload));
  for (const std::vector<uint8_t>& tail :
       {std::vector<uint8_t>{0}, std::vector<uint8_t>{0x1f}, std::vector<uint8_t>(4096, 0)}) {
    auto bytes = read_bytes(path("g.gz"));
    bytes.insert(bytes.end(), tail.begin(), tail.end());
    write_plain(path("tail.gz"), bytes);
    EXPECT_EQ(read_idx(path("tail.gz")).bytes, payload) << tail.size() << " trailing bytes";
  }
}

TEST_F(IdxTest, RejectsMoreDataThanTheDimsSay) {
  const auto file = idx_bytes(0x08, {10}, ramp(13));
  write_plain(path("long"), file);
  write_gz(path("long.gz"), file);
  for (const std::string name : {"long", "long.gz"}) {
    const std::string msg = error_message([&] { read_idx(path(name)); }, ErrorCode::kDataLoss);
    EXPECT_THAT(msg, AllOf(HasSubstr(path(name)), HasSubstr("3 bytes after the IDX data"),
                           HasSubstr("[10]"), HasSubstr("account for 10 bytes")));
  }
}

TEST_F(IdxTest, MissingFileIsNotFoundAndNamesThePath) {
  const std::string msg = error_message([&] { read_idx(path("nope.gz")); }, ErrorCode::kNotFound);
  EXPECT_THAT(msg, AllOf(HasSubstr(path("nope.gz")), HasSubstr("no such file")));
}

TEST_F(IdxTest, DirectoryIsAnIoError) {
  const std::string msg = error_message([&] { read_idx(dir_.string()); }, ErrorCode::kIo);
  EXPECT_THAT(msg, AllOf(HasSubstr(dir_.string()), HasSubstr("is a directory")));
}

TEST_F(IdxTest, BadMagicIsDataLoss) {
  write_plain(path("png"), {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a});
  std::string msg = error_message([&] { read_idx(path("png")); }, ErrorCode::kDataLoss);
  EXPECT_THAT(msg, AllOf(HasSubstr(path("png")), HasSubstr("not an IDX file"),
                         HasSubstr("magic bytes 89 50 4e 47")));
  // The same inside a valid gzip stream.
  write_gz(path("png.gz"), {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a});
  msg = error_message([&] { read_idx(path("png.gz")); }, ErrorCode::kDataLoss);
  EXPECT_THAT(msg, HasSubstr("not an IDX file"));
}

TEST_F(IdxTest, TruncatedOrEmptyHeaderIsDataLoss) {
  write_plain(path("empty"), {});
  EXPECT_THAT(error_message([&] { read_idx(path("empty")); }, ErrorCode::kDataLoss),
              AllOf(HasSubstr(path("empty")), HasSubstr("truncated IDX header (0 of 4")));
  write_plain(path("short"), {0, 0, 8, 3, 0, 0, 0, 2, 0});
  EXPECT_THAT(error_message([&] { read_idx(path("short")); }, ErrorCode::kDataLoss),
              HasSubstr("truncated IDX header (5 of 12 dimension bytes)"));
}

TEST_F(IdxTest, ZeroDimensionsIsDataLoss) {
  write_plain(path("scalar"), {0, 0, 8, 0, 42});
  EXPECT_THAT(error_message([&] { read_idx(path("scalar")); }, ErrorCode::kDataLoss),
              HasSubstr("0 dimensions"));
}

TEST_F(IdxTest, UnsupportedTypeCodeIsInvalidArgument) {
  write_plain(path("t0a"), idx_bytes(0x0A, {2}, {1, 2}));
  EXPECT_THAT(error_message([&] { read_idx(path("t0a")); }, ErrorCode::kInvalidArgument),
              AllOf(HasSubstr(path("t0a")), HasSubstr("unsupported IDX type code 0x0a"),
                    HasSubstr("0x08 u8")));
}

TEST_F(IdxTest, TruncatedPlainDataNamesBothByteCounts) {
  write_plain(path("train-images-idx3-ubyte"), idx_bytes(0x08, {60000, 28, 28}, ramp(12288)));
  EXPECT_EQ(error_message([&] { read_idx(path("train-images-idx3-ubyte")); }, ErrorCode::kDataLoss),
            path("train-images-idx3-ubyte") +
                ": truncated IDX data (12,288 of 47,040,000 bytes); download the file again");
}

TEST_F(IdxTest, ShortPayloadInsideACompleteGzipStreamIsTruncated) {
  write_gz(path("train-images-idx3-ubyte.gz"), idx_bytes(0x08, {60000, 28, 28}, ramp(12288)));
  EXPECT_EQ(
      error_message([&] { read_idx(path("train-images-idx3-ubyte.gz")); }, ErrorCode::kDataLoss),
      path("train-images-idx3-ubyte.gz") +
          ": truncated IDX data (12,288 of 47,040,000 bytes); download the file again");
}

TEST_F(IdxTest, TruncatedGzipFileIsTruncatedData) {
  Rng rng(5);
  std::vector<uint8_t> payload(20000);
  for (auto& b : payload) b = static_cast<uint8_t>(rng.below(256));
  write_gz(path("full.gz"), idx_bytes(0x08, {20, 1000}, payload));
  auto bytes = read_bytes(path("full.gz"));
  bytes.resize(bytes.size() / 2);
  write_plain(path("cut.gz"), bytes);
  EXPECT_THAT(error_message([&] { read_idx(path("cut.gz")); }, ErrorCode::kDataLoss),
              AllOf(HasSubstr(path("cut.gz") + ": truncated IDX data ("),
                    HasSubstr(" of 20,000 bytes) (the gzip stream ends early)")));
}

TEST_F(IdxTest, GzipWithoutTrailerIsTruncatedStream) {
  write_gz(path("full.gz"), idx_bytes(0x08, {100}, ramp(100)));
  auto bytes = read_bytes(path("full.gz"));
  bytes.resize(bytes.size() - 8);  // drop CRC-32 and length
  write_plain(path("notrailer.gz"), bytes);
  EXPECT_THAT(
      error_message([&] { read_idx(path("notrailer.gz")); }, ErrorCode::kDataLoss),
      AllOf(HasSubstr(path("notrailer.gz")), HasSubstr("truncated gzip stream"), HasSubstr("CRC")));
}

TEST_F(IdxTest, CorruptGzipIsDataLoss) {
  write_gz(path("full.gz"), idx_bytes(0x08, {100}, ramp(100)));
  const auto good = read_bytes(path("full.gz"));
  // The first deflate byte follows the 10-byte gzip header; 0xff makes block type 3 (invalid).
  auto bad_block = good;
  bad_block[10] = 0xff;
  write_plain(path("block.gz"), bad_block);
  EXPECT_THAT(error_message([&] { read_idx(path("block.gz")); }, ErrorCode::kDataLoss),
              AllOf(HasSubstr(path("block.gz")), HasSubstr("corrupt gzip data (zlib: ")));
  auto bad_crc = good;
  bad_crc[bad_crc.size() - 6] ^= 0x55;
  write_plain(path("crc.gz"), bad_crc);
  EXPECT_THAT(error_message([&] { read_idx(path("crc.gz")); }, ErrorCode::kDataLoss),
              HasSubstr("corrupt gzip data (zlib: incorrect data check)"));
}

TEST_F(IdxTest, HugeDimsInATinyFileAreTruncatedWithoutAHugeAllocation) {
  const auto file = idx_bytes(0x0E, {0xffffffffu, 0xffffffffu, 0xffffffffu}, ramp(64));
  write_plain(path("huge"), file);
  write_gz(path("huge.gz"), file);
  for (const std::string name : {"huge", "huge.gz"}) {
    EXPECT_THAT(error_message([&] { read_idx(path(name)); }, ErrorCode::kDataLoss),
                HasSubstr("truncated IDX data (64 of over 4,611,686,018,427,387,904 bytes)"))
        << name;
  }
}

// A small stand-in for the fuzzer: random mutations of valid files either read or throw Error.
TEST_F(IdxTest, MutatedFilesReadOrThrowErrorNeverCrash) {
  const auto file = idx_bytes(0x0B, {3, 7}, ramp(42, 13));
  write_gz(path("seed.gz"), file);
  const std::vector<std::vector<uint8_t>> seeds = {file, read_bytes(path("seed.gz"))};
  Rng rng(11);
  int errors = 0, reads = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    std::vector<uint8_t> bytes = seeds[static_cast<size_t>(iter % 2)];
    const int edits = 1 + static_cast<int>(rng.below(4));
    for (int e = 0; e < edits; ++e) {
      const uint64_t kind = rng.below(3);
      if (kind == 0 && !bytes.empty()) {
        bytes[rng.below(bytes.size())] = static_cast<uint8_t>(rng.next_u64());
      } else if (kind == 1 && !bytes.empty()) {
        bytes.resize(rng.below(bytes.size()));
      } else {
        bytes.push_back(static_cast<uint8_t>(rng.next_u64()));
      }
    }
    // A new name each time: rewriting a truncated file makes ext4 flush it on close (slow).
    const std::string name = path("m" + std::to_string(iter));
    write_plain(name, bytes);
    try {
      const IdxArray a = read_idx(name);
      int64_t elements = 1;
      for (int64_t d : a.dims) elements *= d;
      EXPECT_EQ(static_cast<int64_t>(a.bytes.size()), elements * idx_element_size(a.type_code));
      ++reads;
    } catch (const Error&) {
      ++errors;
    }
    std::filesystem::remove(name);
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(reads, 0);
}

// --- load_idx_images ---------------------------------------------------------------------

TEST_F(IdxTest, LoadsImagesAndLabels) {
  write_gz(path("img.gz"), idx_bytes(0x08, {3, 2, 4}, ramp(24)));
  write_plain(path("lab"), idx_bytes(0x08, {3}, {4, 0, 2}));
  const LabeledImages li = load_idx_images(path("img.gz"), path("lab"));
  EXPECT_EQ(li.count, 3);
  EXPECT_EQ(li.height, 2);
  EXPECT_EQ(li.width, 4);
  EXPECT_EQ(li.channels, 1);
  EXPECT_EQ(li.num_classes, 5);
  EXPECT_EQ(li.pixels, ramp(24));
  EXPECT_EQ(li.labels, (std::vector<int32_t>{4, 0, 2}));
  EXPECT_EQ(li.bytes(), 24 + 3 * 4);
}

TEST_F(IdxTest, AcceptsWiderIntegerLabelsInRange) {
  write_plain(path("img"), idx_bytes(0x08, {2, 1, 1}, {1, 2}));
  write_plain(path("lab32"), idx_bytes(0x0C, {2}, big_endian(std::vector<int32_t>{255, 7})));
  EXPECT_EQ(load_idx_images(path("img"), path("lab32")).num_classes, 256);
  write_plain(path("neg"), idx_bytes(0x0B, {2}, big_endian(std::vector<int16_t>{1, -3})));
  EXPECT_THAT(
      error_message([&] { load_idx_images(path("img"), path("neg")); },
                    ErrorCode::kInvalidArgument),
      AllOf(HasSubstr(path("neg")), HasSubstr("label -3 of example 1"), HasSubstr("[0, 256)")));
  write_plain(path("big"), idx_bytes(0x0C, {2}, big_endian(std::vector<int32_t>{256, 0})));
  EXPECT_THAT(error_message([&] { load_idx_images(path("img"), path("big")); },
                            ErrorCode::kInvalidArgument),
              HasSubstr("label 256 of example 0"));
}

TEST_F(IdxTest, LabelCountMismatchNamesBothFiles) {
  write_plain(path("img"), idx_bytes(0x08, {3, 2, 2}, ramp(12)));
  write_plain(path("lab"), idx_bytes(0x08, {2}, {0, 1}));
  EXPECT_THAT(error_message([&] { load_idx_images(path("img"), path("lab")); },
                            ErrorCode::kInvalidArgument),
              AllOf(HasSubstr(path("img") + " holds 3 images"),
                    HasSubstr(path("lab") + " holds 2 labels")));
}

TEST_F(IdxTest, WrongKindsOfFilesAreInvalidArgument) {
  write_plain(path("img"), idx_bytes(0x08, {3, 2, 2}, ramp(12)));
  write_plain(path("lab"), idx_bytes(0x08, {3}, {0, 1, 2}));
  write_plain(path("f32img"), idx_bytes(0x0D, {1, 1, 1}, {0, 0, 0, 0}));
  write_plain(path("lab2d"), idx_bytes(0x08, {3, 1}, {0, 1, 2}));
  // Swapped arguments: the labels file is 1-D.
  EXPECT_THAT(error_message([&] { load_idx_images(path("lab"), path("img")); },
                            ErrorCode::kInvalidArgument),
              AllOf(HasSubstr(path("lab")), HasSubstr("expected a 3-D u8 IDX images file"),
                    HasSubstr("got 1-D u8 with dims [3]")));
  EXPECT_THAT(error_message([&] { load_idx_images(path("f32img"), path("lab")); },
                            ErrorCode::kInvalidArgument),
              HasSubstr("got 3-D f32"));
  EXPECT_THAT(error_message([&] { load_idx_images(path("img"), path("lab2d")); },
                            ErrorCode::kInvalidArgument),
              AllOf(HasSubstr(path("lab2d")), HasSubstr("expected a 1-D integer IDX labels")));
}

// --- load_fashion_mnist ------------------------------------------------------------------

TEST_F(IdxTest, LoadsFashionMnistFromADataDirOfPlainAndGzipFiles) {
  write_gz(path("train-images-idx3-ubyte.gz"), idx_bytes(0x08, {5, 3, 2}, ramp(30)));
  write_plain(path("train-labels-idx1-ubyte"), idx_bytes(0x08, {5}, {0, 1, 2, 3, 9}));
  write_plain(path("t10k-images-idx3-ubyte"), idx_bytes(0x08, {2, 3, 2}, ramp(12, 3)));
  write_gz(path("t10k-labels-idx1-ubyte.gz"), idx_bytes(0x08, {2}, {9, 8}));
  const TrainTest tt = load_fashion_mnist(dir_.string());
  EXPECT_EQ(tt.train.count, 5);
  EXPECT_EQ(tt.train.num_classes, 10);
  EXPECT_EQ(tt.train.pixels, ramp(30));
  EXPECT_EQ(tt.test.count, 2);
  EXPECT_EQ(tt.test.height, 3);
  EXPECT_EQ(tt.test.width, 2);
  EXPECT_EQ(tt.test.labels, (std::vector<int32_t>{9, 8}));
}

TEST_F(IdxTest, FashionMnistNotFoundSaysWhereItLookedAndHowToInstall) {
  write_gz(path("train-images-idx3-ubyte.gz"), idx_bytes(0x08, {1, 1, 1}, {0}));
  const std::string msg =
      error_message([&] { load_fashion_mnist(dir_.string()); }, ErrorCode::kNotFound);
  EXPECT_THAT(msg, AllOf(HasSubstr(dir_.string()), HasSubstr("train-labels-idx1-ubyte(.gz)"),
                         HasSubstr("t10k-images-idx3-ubyte(.gz)"),
                         HasSubstr("install it with: apt-get install dataset-fashion-mnist "
                                   "(or pass --data-dir DIR holding the four IDX files)")));
  EXPECT_THAT(msg, ::testing::Not(HasSubstr("train-images")));
  EXPECT_THAT(error_message([&] { load_fashion_mnist(path("absent")); }, ErrorCode::kNotFound),
              HasSubstr(path("absent")));
}

TEST(FashionMnistTest, LoadsTheInstalledDataset) {
  if (!std::filesystem::exists(kFashionMnistDir)) {
    GTEST_SKIP() << kFashionMnistDir
                 << " is absent; install it with: apt-get install dataset-fashion-mnist";
  }
  const TrainTest tt = load_fashion_mnist();
  for (const LabeledImages* li : {&tt.train, &tt.test}) {
    EXPECT_EQ(li->height, 28);
    EXPECT_EQ(li->width, 28);
    EXPECT_EQ(li->channels, 1);
    EXPECT_EQ(li->num_classes, 10);
    EXPECT_EQ(static_cast<int64_t>(li->pixels.size()), li->count * 28 * 28);
  }
  EXPECT_EQ(tt.train.count, 60000);
  EXPECT_EQ(tt.test.count, 10000);
  // Every class is present and balanced (6,000 train / 1,000 test each).
  std::vector<int> per_class(10, 0);
  for (int32_t l : tt.train.labels) ++per_class[static_cast<size_t>(l)];
  EXPECT_EQ(per_class, std::vector<int>(10, 6000));
}

}  // namespace
}  // namespace leantrain::data

#include "leantrain/data/tfrecord.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"

namespace leantrain::data {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

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

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

std::vector<uint8_t> random_bytes(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint8_t> out(static_cast<size_t>(n));
  for (auto& b : out) b = static_cast<uint8_t>(rng.below(256));
  return out;
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("leantrain_tfrecord_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// --- CRC32C ----------------------------------------------------------------------------------

TEST(Crc32cTest, MatchesKnownVectors) {
  // The check value of CRC-32C, and the iSCSI test vectors of RFC 3720, appendix B.4.
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xff), up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[static_cast<size_t>(i)] = static_cast<uint8_t>(i);
    down[static_cast<size_t>(i)] = static_cast<uint8_t>(31 - i);
  }
  for (auto* f : {&crc32c, &crc32c_portable}) {
    EXPECT_EQ(f(bytes_of("123456789"), 0), 0xe3069283u);
    EXPECT_EQ(f({}, 0), 0u);
    EXPECT_EQ(f(zeros, 0), 0x8a9136aau);
    EXPECT_EQ(f(ones, 0), 0x62a8ab43u);
    EXPECT_EQ(f(up, 0), 0x46dd794eu);
    EXPECT_EQ(f(down, 0), 0x113fdb5cu);
  }
}

TEST(Crc32cTest, ExtendsAcrossPiecesAndAgreesWithThePortableVersion) {
  const std::vector<uint8_t> data = random_bytes(1000, 1);
  for (size_t n : {0, 1, 7, 8, 9, 15, 16, 63, 64, 65, 999, 1000}) {
    const std::span<const uint8_t> s(data.data(), n);
    EXPECT_EQ(crc32c(s), crc32c_portable(s)) << n;
    for (size_t cut : {size_t{0}, n / 3, n}) {
      EXPECT_EQ(crc32c(s.subspan(cut), crc32c(s.first(cut))), crc32c(s)) << n << " " << cut;
    }
  }
}

TEST(Crc32cTest, MaskRotatesRightBy15AndAddsTheDelta) {
  for (uint32_t crc : {0u, 1u, 0x12345678u, 0xe3069283u, 0xffffffffu}) {
    EXPECT_EQ(mask_crc32c(crc), std::rotr(crc, 15) + 0xa282ead8u) << crc;
    EXPECT_EQ(unmask_crc32c(mask_crc32c(crc)), crc);
  }
  EXPECT_EQ(mask_crc32c(0), 0xa282ead8u);
}

// --- framing ---------------------------------------------------------------------------------

TEST(TfRecordTest, FramesAsLengthCrcDataCrc) {
  const std::vector<uint8_t> data = bytes_of("hello");
  const std::vector<uint8_t> framed = frame_tfrecord(data);
  ASSERT_EQ(framed.size(), 8u + 4 + 5 + 4);
  const uint8_t length[8] = {5, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(std::memcmp(framed.data(), length, 8), 0);
  auto u32_at = [&](size_t offset) {
    return uint32_t{framed[offset]} | uint32_t{framed[offset + 1]} << 8 |
           uint32_t{framed[offset + 2]} << 16 | uint32_t{framed[offset + 3]} << 24;
  };
  EXPECT_EQ(u32_at(8), std::rotr(crc32c(std::span<const uint8_t>(length, 8)), 15) + 0xa282ead8u);
  EXPECT_EQ(std::memcmp(framed.data() + 12, "hello", 5), 0);
  EXPECT_EQ(u32_at(17), std::rotr(crc32c(data), 15) + 0xa282ead8u);
}

TEST(TfRecordTest, WriteThenReadRoundTrips) {
  TempDir dir;
  const std::string path = dir.file("a.tfrecord");
  // Sizes around the reader's 64 KiB buffer and chunking.
  const std::vector<int64_t> sizes = {0, 1, 100, 65535, 65536, 65537, 200000, 3};
  {
    TfRecordWriter writer(path);
    for (size_t i = 0; i < sizes.size(); ++i) writer.write(random_bytes(sizes[i], i + 10));
    writer.close();
  }
  TfRecordReader reader(path);
  int64_t offset = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(reader.offset(), offset);
    const std::optional<std::vector<uint8_t>> record = reader.next();
    ASSERT_TRUE(record.has_value()) << i;
    EXPECT_EQ(*record, random_bytes(sizes[i], i + 10)) << i;
    offset += 16 + sizes[i];
  }
  EXPECT_FALSE(reader.next().has_value());
  EXPECT_FALSE(reader.next().has_value());  // stays at the end
  EXPECT_EQ(reader.records_read(), static_cast<int64_t>(sizes.size()));
  EXPECT_EQ(reader.offset(), offset);
  EXPECT_EQ(static_cast<int64_t>(std::filesystem::file_size(path)), offset);
}

TEST(TfRecordTest, ReadsFromMemoryAndEmptyInput) {
  std::vector<uint8_t> stream;
  for (int i = 0; i < 3; ++i) {
    const std::vector<uint8_t> framed =
        frame_tfrecord(random_bytes(10 * i, static_cast<uint64_t>(i)));
    stream.insert(stream.end(), framed.begin(), framed.end());
  }
  TfRecordReader reader(stream, "mem");
  std::vector<uint8_t> record;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(reader.next(record));
    EXPECT_EQ(record, random_bytes(10 * i, static_cast<uint64_t>(i)));
  }
  EXPECT_FALSE(reader.next(record));
  TfRecordReader empty(std::span<const uint8_t>{}, "empty");
  EXPECT_FALSE(empty.next().has_value());
}

TEST(TfRecordTest, EveryTruncationIsDetectedWithTheRecordOffset) {
  std::vector<uint8_t> stream;
  std::vector<size_t> boundaries = {0};
  for (int i = 0; i < 3; ++i) {
    const std::vector<uint8_t> framed =
        frame_tfrecord(random_bytes(5 + i, static_cast<uint64_t>(i)));
    stream.insert(stream.end(), framed.begin(), framed.end());
    boundaries.push_back(stream.size());
  }
  for (size_t n = 0; n < stream.size(); ++n) {
    TfRecordReader reader(std::span<const uint8_t>(stream.data(), n), "cut.tfrecord");
    // Records that end before the cut are returned; the record the cut falls in is an error.
    size_t complete = 0;
    while (complete + 1 < boundaries.size() && boundaries[complete + 1] <= n) ++complete;
    for (size_t i = 0; i < complete; ++i) ASSERT_TRUE(reader.next().has_value()) << n;
    if (n == boundaries[complete]) {
      EXPECT_FALSE(reader.next().has_value()) << n;
      continue;
    }
    const std::string message = error_message([&] { reader.next(); }, ErrorCode::kDataLoss);
    EXPECT_THAT(message, AllOf(HasSubstr("cut.tfrecord: truncated"),
                               HasSubstr("at byte " + std::to_string(boundaries[complete]))))
        << n;
  }
}

TEST(TfRecordTest, CorruptLengthDataOrCrcIsDetected) {
  const std::vector<uint8_t> first = frame_tfrecord(bytes_of("first"));
  const std::vector<uint8_t> second = frame_tfrecord(bytes_of("second record"));
  std::vector<uint8_t> stream = first;
  stream.insert(stream.end(), second.begin(), second.end());
  const size_t base = first.size();  // 21: the second record's offset
  auto read_all = [&](const std::vector<uint8_t>& bytes) {
    TfRecordReader reader(bytes, "bad.tfrecord");
    while (reader.next()) {
    }
  };
  for (size_t i = 0; i < second.size(); ++i) {
    std::vector<uint8_t> damaged = stream;
    damaged[base + i] ^= 0x20;
    const std::string message = error_message([&] { read_all(damaged); }, ErrorCode::kDataLoss);
    const char* what = i < 12 ? "corrupt length" : "corrupt data";
    EXPECT_THAT(message, AllOf(HasSubstr(std::string("bad.tfrecord: ") + what),
                               HasSubstr("at byte 21 (record 1)")))
        << i;
  }
}

TEST(TfRecordTest, AfterAnErrorTheReaderKeepsFailing) {
  std::vector<uint8_t> stream = frame_tfrecord(bytes_of("abc"));
  stream.back() ^= 1;
  TfRecordReader reader(stream, "x");
  error_message([&] { reader.next(); }, ErrorCode::kDataLoss);
  EXPECT_THAT(error_message([&] { reader.next(); }, ErrorCode::kDataLoss),
              HasSubstr("an earlier error"));
}

TEST(TfRecordTest, RefusesOversizedRecordsAndGzip) {
  const std::vector<uint8_t> stream = frame_tfrecord(random_bytes(100, 3));
  TfRecordReader reader(stream, "big");
  reader.set_max_record_bytes(99);
  EXPECT_THAT(error_message([&] { reader.next(); }, ErrorCode::kDataLoss),
              HasSubstr("record length 100 bytes above the limit of 99 bytes"));
  const std::vector<uint8_t> gz = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4};
  TfRecordReader gzip_reader(gz, "a.tfrecord.gz");
  EXPECT_THAT(error_message([&] { gzip_reader.next(); }, ErrorCode::kDataLoss),
              HasSubstr("decompress the file with gunzip"));
}

TEST(TfRecordTest, MissingFileIsNotFound) {
  TempDir dir;
  EXPECT_THAT(
      error_message([&] { TfRecordReader r(dir.file("none.tfrecord")); }, ErrorCode::kNotFound),
      HasSubstr("none.tfrecord: no such file"));
  EXPECT_THAT(
      error_message([&] { TfRecordWriter w(dir.file("no/such/dir/x.tfrecord")); }, ErrorCode::kIo),
      HasSubstr("cannot create"));
}

// --- tf.train.Example ------------------------------------------------------------------------

// Wire-format pieces, written out byte by byte.
std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
// A length-delimited field: tag (field << 3 | 2), one-byte length (< 128), payload.
std::vector<uint8_t> ld(uint8_t field, const std::vector<uint8_t>& payload) {
  return cat(
      {{static_cast<uint8_t>(field << 3 | 2), static_cast<uint8_t>(payload.size())}, payload});
}
std::vector<uint8_t> entry(const std::string& key, const std::vector<uint8_t>& feature) {
  return ld(1, cat({ld(1, bytes_of(key)), ld(2, feature)}));
}

TEST(ExampleTest, DecodesAHandBuiltExample) {
  // Example{features{feature{"image/encoded": bytes_list{"\xff\xd8", "ab"}},
  //                  feature{"image/class/label": int64_list{7, -1, 300} (packed)},
  //                  feature{"mean": float_list{1.5, -2} (packed)}}}
  const std::vector<uint8_t> label_list =
      ld(1, {0x07, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0xac, 0x02});
  const std::vector<uint8_t> floats = ld(1, {0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0});
  const std::vector<uint8_t> record =
      ld(1, cat({entry("image/encoded", ld(1, cat({ld(1, {0xff, 0xd8}), ld(1, bytes_of("ab"))}))),
                 entry("image/class/label", ld(3, label_list)), entry("mean", ld(2, floats))}));
  const Example ex = parse_example(record, "r0");
  ASSERT_EQ(ex.features().size(), 3u);
  EXPECT_EQ(ex.features()[0].first, "image/encoded");
  const Feature* image = ex.find("image/encoded");
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->kind, Feature::Kind::kBytes);
  ASSERT_EQ(image->bytes_list.size(), 2u);
  EXPECT_EQ(std::vector<uint8_t>(image->bytes_list[0].begin(), image->bytes_list[0].end()),
            (std::vector<uint8_t>{0xff, 0xd8}));
  EXPECT_EQ(ex.bytes("image/encoded", "r0", 1).size(), 2u);
  EXPECT_EQ(ex.find("image/class/label")->int64_list, (std::vector<int64_t>{7, -1, 300}));
  EXPECT_EQ(ex.int64("image/class/label", "r0"), 7);
  EXPECT_EQ(ex.find("mean")->float_list, (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(ex.float32("mean", "r0", 1), -2.0f);
  EXPECT_EQ(ex.find("nope"), nullptr);
}

TEST(ExampleTest, AcceptsUnpackedListsSkipsUnknownFieldsAndKeepsTheLastDuplicate) {
  const std::vector<uint8_t> record =
      ld(1, cat({
                // int64_list with unpacked values (tag 0x08) 5 and 6; an unknown varint field 9.
                entry("label", ld(3, {0x08, 0x05, 0x08, 0x06, 0x48, 0x01})),
                // float_list with one unpacked fixed32 (tag 0x0d) 0.5.
                entry("w", ld(2, {0x0d, 0x00, 0x00, 0x00, 0x3f})),
                // An unknown fixed64 field (tag 0x11) inside Features.
                {0x11, 1, 2, 3, 4, 5, 6, 7, 8},
                // "label" again: a map keeps the last value.
                entry("label", ld(3, ld(1, {0x2a}))),
            }));
  const Example ex = parse_example(cat({record, {0x15, 9, 9, 9, 9}}), "r1");
  ASSERT_EQ(ex.features().size(), 2u);
  EXPECT_EQ(ex.find("label")->int64_list, (std::vector<int64_t>{42}));
  EXPECT_EQ(ex.find("w")->float_list, (std::vector<float>{0.5f}));
}

TEST(ExampleTest, SerializeThenParseRoundTrips) {
  const std::vector<uint8_t> jpeg = random_bytes(300, 4);  // longer than a 1-byte length
  const std::vector<std::pair<std::string, Feature>> features = {
      {"image/encoded", bytes_feature({jpeg})},
      {"image/class/label", int64_feature({3, -5, int64_t{1} << 40})},
      {"scores", float_feature({0.25f, -1e30f})},
      {"empty", int64_feature({})},
  };
  const Example ex = parse_example(serialize_example(features), "r2");
  ASSERT_EQ(ex.features().size(), 4u);
  const auto encoded = ex.bytes("image/encoded", "r2");
  EXPECT_EQ(std::vector<uint8_t>(encoded.begin(), encoded.end()), jpeg);
  EXPECT_EQ(ex.find("image/class/label")->int64_list, features[1].second.int64_list);
  EXPECT_EQ(ex.find("scores")->float_list, features[2].second.float_list);
  EXPECT_EQ(ex.find("empty")->kind, Feature::Kind::kInt64);
  EXPECT_TRUE(ex.find("empty")->int64_list.empty());
}

TEST(ExampleTest, EveryTruncationIsMalformed) {
  const std::vector<uint8_t> record = serialize_example(
      {{"image/encoded", bytes_feature({bytes_of("xyz")})}, {"l", int64_feature({1, 2})}});
  for (size_t n = 1; n < record.size(); ++n) {
    EXPECT_THAT(error_message(
                    [&] {
                      parse_example({record.begin(), record.begin() + n}, "rec 9");
                    },
                    ErrorCode::kDataLoss),
                HasSubstr("rec 9: malformed tf.train.Example"))
        << n;
  }
  EXPECT_TRUE(parse_example({}, "empty").features().empty());
}

TEST(ExampleTest, RejectsMalformedWireData) {
  // A packed float list of 3 bytes.
  EXPECT_THAT(error_message(
                  [] {
                    parse_example(ld(1, entry("f", ld(2, ld(1, {1, 2, 3})))), "r");
                  },
                  ErrorCode::kDataLoss),
              HasSubstr("not a multiple of 4"));
  // A group (wire type 3) and an invalid wire type 7.
  EXPECT_THAT(error_message(
                  [] {
                    parse_example({0x0b, 0x0c}, "r");
                  },
                  ErrorCode::kDataLoss),
              HasSubstr("group"));
  EXPECT_THAT(error_message([] { parse_example({0x0f}, "r"); }, ErrorCode::kDataLoss),
              HasSubstr("invalid wire type 7"));
  // A varint that never ends.
  EXPECT_THAT(error_message([] { parse_example(std::vector<uint8_t>(11, 0x80), "r"); },
                            ErrorCode::kDataLoss),
              HasSubstr("varint longer than 10 bytes"));
}

TEST(ExampleTest, TypedAccessNamesTheKeysPresent) {
  const Example ex = parse_example(serialize_example({{"image/png", bytes_feature({bytes_of("x")})},
                                                      {"label", int64_feature({1})}}),
                                   "train.tfrecord record 4");
  EXPECT_THAT(error_message([&] { ex.bytes("image/encoded", "train.tfrecord record 4"); },
                            ErrorCode::kInvalidArgument),
              AllOf(HasSubstr("train.tfrecord record 4: tf.train.Example has no feature "
                              "'image/encoded'"),
                    HasSubstr("image/png (bytes_list), label (int64_list)")));
  EXPECT_THAT(error_message([&] { ex.float32("label", "r"); }, ErrorCode::kInvalidArgument),
              HasSubstr("'label' is a int64_list, expected a float_list"));
  EXPECT_THAT(error_message([&] { ex.int64("label", "r", 1); }, ErrorCode::kInvalidArgument),
              HasSubstr("has 1 values; index 1 is out of range"));
}

TEST(ExampleTest, ByteViewsStayValidWhenTheExampleMoves) {
  std::vector<Example> examples;
  for (int i = 0; i < 20; ++i) {
    const std::vector<uint8_t> payload = random_bytes(50, static_cast<uint64_t>(i));
    examples.push_back(parse_example(serialize_example({{"b", bytes_feature({payload})}}), "r"));
  }
  for (int i = 0; i < 20; ++i) {
    const auto b = examples[static_cast<size_t>(i)].bytes("b", "r");
    EXPECT_EQ(std::vector<uint8_t>(b.begin(), b.end()), random_bytes(50, static_cast<uint64_t>(i)));
  }
}

}  // namespace
}  // namespace leantrain::data

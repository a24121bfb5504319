#include "leantrain/train/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/core/file.h"

namespace leantrain::train {
namespace {

namespace fs = std::filesystem;

// The 8-byte little-endian length, written out by hand (independently of the code under test).
std::string length_prefix(uint64_t n) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

// A file made of a given JSON header (unpadded unless the text has spaces) and data bytes.
std::string file_with(const std::string& json, const std::string& data) {
  return length_prefix(json.size()) + json + data;
}

std::string filler(size_t n, uint32_t seed = 1) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(1 + gen() % 255);  // never zero
  return out;
}

template <typename F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected a leantrain::Error";
  return Error(ErrorCode::kInternal, "none thrown");
}

// Expects parsing `bytes` to fail with `code` and a message holding each of `parts`.
void expect_rejected(const std::string& bytes, ErrorCode code,
                     const std::vector<std::string>& parts) {
  const Error e = error_of([&] { parse_safetensors(bytes, "model.safetensors"); });
  EXPECT_EQ(e.code(), code) << e.what();
  const std::string msg = e.what();
  EXPECT_EQ(msg.rfind("model.safetensors: ", 0), 0u) << msg;
  for (const std::string& part : parts) {
    EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
  }
}

std::string bytes_of(const StoredTensor& t) {
  return std::string(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
}
template <typename T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "leantrain_safetensors_test_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

// Tensors of every supported dtype, a rank-6 one, a scalar and an empty one, named so that
// neither alphabetical nor dtype order is the given order.
struct Mixed {
  std::vector<float> kernel;
  std::vector<BF16> half;
  std::vector<int32_t> counts;
  std::vector<uint8_t> pixels;
  float scalar = 0.5f;
  std::vector<NamedTensorView> views;  // point into the members above

  Mixed(const Mixed&) = delete;
  Mixed& operator=(const Mixed&) = delete;
  Mixed() {
    std::mt19937 gen(42);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (int i = 0; i < 12; ++i) kernel.push_back(uniform(gen));
    for (int i = 0; i < 30; ++i) half.push_back(float_to_bf16(uniform(gen)));
    for (int i = 0; i < 7; ++i) counts.push_back(static_cast<int32_t>(gen()));
    for (int i = 0; i < 64; ++i) pixels.push_back(static_cast<uint8_t>(1 + gen() % 255));
    views = {{"z/kernel", TensorView(kernel.data(), Shape{3, 4})},
             {"b/half", TensorView(half.data(), Shape{2, 3, 5})},
             {"scalar", TensorView(&scalar, Shape{})},
             {"empty", TensorView(static_cast<float*>(nullptr), Shape{0, 3})},
             {"a/counts", TensorView(counts.data(), Shape{7})},
             {"m/pixels", TensorView(pixels.data(), Shape{2, 2, 2, 2, 2, 2})}};
  }
};

void expect_same(const SafetensorsFile& file, const std::vector<NamedTensorView>& views) {
  ASSERT_EQ(file.tensors().size(), views.size());
  for (size_t i = 0; i < views.size(); ++i) {
    const StoredTensor& t = file.tensors()[i];
    const TensorView& v = views[i].tensor;
    EXPECT_EQ(t.name, views[i].name);
    EXPECT_EQ(t.dtype, v.dtype) << t.name;
    EXPECT_EQ(t.shape, v.shape) << t.name;
    ASSERT_EQ(static_cast<int64_t>(t.bytes.size()), v.bytes()) << t.name;
    if (v.bytes() > 0) {
      EXPECT_EQ(std::memcmp(t.bytes.data(), v.data, t.bytes.size()), 0) << t.name;
    }
    EXPECT_EQ(file.find(t.name), &t);
  }
}

TEST_F(SafetensorsTest, RoundTripsMixedDtypesAndShapesInTheGivenOrder) {
  const Mixed m;
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"epoch", "3"}};
  write_safetensors(path("model.safetensors"), m.views, metadata);

  const SafetensorsFile file = read_safetensors(path("model.safetensors"));
  expect_same(file, m.views);
  EXPECT_EQ(file.metadata(), metadata);
  EXPECT_EQ(file.name(), path("model.safetensors"));

  // Layout: 8-byte length, JSON padded to a multiple of 8, then exactly the tensors' bytes.
  const std::string raw = read_file(path("model.safetensors"));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(raw[i]);
  EXPECT_EQ(n % 8, 0u);
  const int64_t data = 12 * 4 + 30 * 2 + 4 + 0 + 7 * 4 + 64;
  EXPECT_EQ(file.data_bytes(), data);
  EXPECT_EQ(raw.size(), 8 + n + data);
  EXPECT_EQ(raw.substr(8 + n), bytes_of(m.kernel) + bytes_of(m.half) +
                                   std::string(reinterpret_cast<const char*>(&m.scalar), 4) +
                                   bytes_of(m.counts) + bytes_of(m.pixels));
  EXPECT_EQ(raw, encode_safetensors(m.views, metadata));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(SafetensorsTest, RoundTripsAFileWithNoTensors) {
  write_safetensors(path("empty.safetensors"), {});
  const SafetensorsFile file = read_safetensors(path("empty.safetensors"));
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_TRUE(file.metadata().empty());
  EXPECT_EQ(file.data_bytes(), 0);
}

// The example of the safetensors documentation (N = 60 = '<', no padding).
TEST(SafetensorsFormatTest, ReadsTheDocumentedExample) {
  const std::string json = R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})";
  std::string bytes = std::string("<\0\0\0\0\0\0\0", 8) + json;
  for (int32_t v : {1, -2, 300000, -4}) {
    for (int i = 0; i < 4; ++i) bytes += static_cast<char>((static_cast<uint32_t>(v) >> (8 * i)));
  }
  ASSERT_EQ(json.size(), 0x3cu);
  const SafetensorsFile file = parse_safetensors(bytes, "example");
  ASSERT_EQ(file.tensors().size(), 1u);
  const StoredTensor& t = file.at("test");
  EXPECT_EQ(t.dtype, DType::kI32);
  EXPECT_EQ(t.shape, Shape({2, 2}));
  std::vector<int32_t> values(4);
  t.copy_to(TensorView(values.data(), Shape{2, 2}));
  EXPECT_EQ(values, (std::vector<int32_t>{1, -2, 300000, -4}));
}

// Bytes from the reference writer's own tests (huggingface/safetensors tensor.rs:
// test_serialization, test_serialization_forced_alignement, test_empty), without checksums.
TEST(SafetensorsFormatTest, WritesTheSameBytesAsTheReferenceWriter) {
  std::vector<float> values = {0, 1, 2, 3, 4, 5};
  std::string data(reinterpret_cast<const char*>(values.data()), 24);

  const std::vector<NamedTensorView> one = {{"attn.0", TensorView(values.data(), Shape{1, 2, 3})}};
  EXPECT_EQ(encode_safetensors(one, {}, false),
            length_prefix(64) +
                R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})" + data);

  const std::vector<NamedTensorView> padded = {
      {"attn0", TensorView(values.data(), Shape{1, 1, 2, 3})}};
  EXPECT_EQ(encode_safetensors(padded, {}, false),
            length_prefix(72) +
                R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})" +
                std::string(7, ' ') + data);

  EXPECT_EQ(encode_safetensors({}, {}, false), length_prefix(8) + "{}      ");
  EXPECT_EQ(encode_safetensors({}, {{"framework", "pt"}}, false),
            length_prefix(40) + R"({"__metadata__":{"framework":"pt"}})" + "     ");
}

TEST(SafetensorsFormatTest, ReadsPaddedAndUnpaddedHeadersInAnyKeyOrder) {
  const std::string data = filler(16 + 3);
  // Tensors listed out of data order, fields in another order, an unknown field, whitespace.
  const std::string json =
      R"( { "b" : {"data_offsets":[16,19], "shape":[3], "dtype":"U8", "extra": {"x":[1,[2]]}},)"
      R"( "__metadata__": {"k": "v"}, "a": {"shape":[4],"dtype":"F32","data_offsets":[0,16]} })";
  for (const std::string& header : {json, json + "   ", json + std::string(64, ' ')}) {
    const SafetensorsFile file = parse_safetensors(file_with(header, data), "f");
    ASSERT_EQ(file.tensors().size(), 2u);
    EXPECT_EQ(file.tensors()[0].name, "a");  // data order
    EXPECT_EQ(file.tensors()[1].name, "b");
    EXPECT_EQ(bytes_of(file.tensors()[0]), data.substr(0, 16));
    EXPECT_EQ(bytes_of(file.tensors()[1]), data.substr(16));
    EXPECT_EQ(file.metadata().at("k"), "v");
  }
}

TEST(SafetensorsFormatTest, AcceptsNullMetadataAndEmptyTensorsSharingAnOffset) {
  const std::string json =
      R"({"__metadata__":null,"e2":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
      R"("x":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
      R"("e1":{"dtype":"U8","shape":[5,0],"data_offsets":[4,4]}})";
  const SafetensorsFile file = parse_safetensors(file_with(json, filler(4)), "f");
  ASSERT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.tensors()[0].name, "x");
  EXPECT_EQ(file.tensors()[0].shape.rank(), 0);
  EXPECT_EQ(file.tensors()[1].name, "e2");  // equal offsets keep header order
  EXPECT_EQ(file.tensors()[2].name, "e1");
  EXPECT_TRUE(file.tensors()[2].bytes.empty());
}

TEST(SafetensorsFormatTest, TruncationAtEveryByteIsADataLossError) {
  const Mixed m;
  const std::string whole = encode_safetensors(m.views, {{"note", "truncate me"}});
  for (size_t len = 0; len < whole.size(); ++len) {
    const Error e = error_of([&] { parse_safetensors(whole.substr(0, len), "cut.safetensors"); });
    ASSERT_EQ(e.code(), ErrorCode::kDataLoss) << "at " << len << ": " << e.what();
    ASSERT_NE(std::string(e.what()).find("cut.safetensors: truncated"), std::string::npos)
        << "at " << len << ": " << e.what();
  }
  EXPECT_EQ(parse_safetensors(whole, "whole").tensors().size(), m.views.size());
}

// Every byte of tensor data is covered by its tensor's CRC32C: flipping any one bit of the data
// is a kDataLoss naming the file, the tensor and its bytes; the checksums stay out of
// metadata(). A file without checksums (another writer's) is read as it is.
TEST_F(SafetensorsTest, AFlippedBitInAnyTensorFailsItsChecksumNamingTheTensor) {
  const Mixed m;
  write_safetensors(path("m.safetensors"), m.views, {{"note", "kept"}});
  const std::string whole = read_file(path("m.safetensors"));
  const SafetensorsFile good = parse_safetensors(whole, "m.safetensors");
  EXPECT_EQ(good.metadata(), (std::map<std::string, std::string>{{"note", "kept"}}));
  const size_t data_start = whole.size() - static_cast<size_t>(good.data_bytes());
  for (size_t at = data_start; at < whole.size(); ++at) {
    std::string bad = whole;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    const Error e = error_of([&] { parse_safetensors(bad, "m.safetensors"); });
    ASSERT_EQ(e.code(), ErrorCode::kDataLoss) << "byte " << at << ": " << e.what();
    ASSERT_TRUE(std::regex_search(
        std::string(e.what()), std::regex("^m\\.safetensors: tensor '[a-z0-9/_]+' \\(bytes [0-9]+ "
                                          "to [0-9]+ of the file\\) fails its CRC32C check")))
        << e.what();
  }
  write_safetensors(path("plain.safetensors"), m.views, {}, /*checksums=*/false);
  EXPECT_EQ(read_safetensors(path("plain.safetensors")).tensors().size(), m.views.size());
}

TEST_F(SafetensorsTest, ReadsTruncatedFilesOnDiskAsDataLoss) {
  const Mixed m;
  const std::string whole = encode_safetensors(m.views);
  for (size_t len : {size_t{0}, size_t{5}, size_t{40}, whole.size() - 1}) {
    write_file_atomically(path("cut"), std::string_view(whole).substr(0, len));
    const Error e = error_of([&] { read_safetensors(path("cut")); });
    EXPECT_EQ(e.code(), ErrorCode::kDataLoss) << e.what();
    EXPECT_NE(std::string(e.what()).find(path("cut") + ": truncated"), std::string::npos)
        << e.what();
  }
}

TEST(SafetensorsFormatTest, TruncatedDataSaysHowManyBytesAreMissing) {
  const std::string json = R"({"w":{"dtype":"U8","shape":[1234],"data_offsets":[0,1234]}})";
  const Error e =
      error_of([&] { parse_safetensors(file_with(json, filler(1000)), "model.safetensors"); });
  EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
  EXPECT_STREQ(e.what(),
               "model.safetensors: truncated: header says 1,234 bytes of tensor data, file has "
               "1,000");
}

TEST(SafetensorsFormatTest, RejectsABadHeaderLength) {
  expect_rejected(length_prefix(100'000'001) + "{}", ErrorCode::kDataLoss,
                  {"header length 100,000,001 exceeds", "100,000,000"});
  expect_rejected(length_prefix(~uint64_t{0}) + "{}", ErrorCode::kDataLoss, {"exceeds"});
  // Within the cap but longer than the file: refused before anything is allocated.
  expect_rejected(length_prefix(100'000'000) + "{}", ErrorCode::kDataLoss,
                  {"truncated", "100,000,000 bytes", "only 2 bytes"});
  expect_rejected("abc", ErrorCode::kDataLoss, {"truncated: 3 bytes"});
}

TEST(SafetensorsFormatTest, RejectsHeadersThatAreNotAnObjectOfEntries) {
  const std::string d16 = filler(16);
  expect_rejected(file_with("{\"a\":", d16), ErrorCode::kDataLoss, {"not valid JSON"});
  expect_rejected(file_with("", ""), ErrorCode::kDataLoss, {"not valid JSON"});
  expect_rejected(file_with(std::string("{}\0\0", 4), ""), ErrorCode::kDataLoss,
                  {"not valid JSON"});
  expect_rejected(file_with("[1,2]", ""), ErrorCode::kDataLoss, {"not a JSON object"});
  expect_rejected(file_with("\"s\"", ""), ErrorCode::kDataLoss, {"not a JSON object"});
  expect_rejected(file_with(R"({"a":5})", ""), ErrorCode::kDataLoss,
                  {"tensor 'a'", "expected an object"});
  expect_rejected(file_with(R"({"a":[1]})", ""), ErrorCode::kDataLoss,
                  {"tensor 'a'", "expected an object"});
  expect_rejected(
      file_with("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}} \xff", ""),
      ErrorCode::kDataLoss, {"not valid JSON"});
}

TEST(SafetensorsFormatTest, RejectsEntriesWithMissingOrMistypedFields) {
  const auto entry = [](const std::string& fields) {
    return file_with("{\"w\":{" + fields + "}}", filler(16));
  };
  const std::string dtype = R"("dtype":"F32")", shape = R"("shape":[4])",
                    offsets = R"("data_offsets":[0,16])";
  expect_rejected(entry(shape + "," + offsets), ErrorCode::kDataLoss,
                  {"tensor 'w'", "missing \"dtype\""});
  expect_rejected(entry(dtype + "," + offsets), ErrorCode::kDataLoss,
                  {"tensor 'w'", "missing \"shape\""});
  expect_rejected(entry(dtype + "," + shape), ErrorCode::kDataLoss,
                  {"tensor 'w'", "missing \"data_offsets\""});
  expect_rejected(entry(R"("dtype":4,)" + shape + "," + offsets), ErrorCode::kDataLoss,
                  {"tensor 'w'", "dtype must be a string"});
  expect_rejected(entry(dtype + R"(,"shape":4,)" + offsets), ErrorCode::kDataLoss,
                  {"tensor 'w'", "shape must be a list"});
  expect_rejected(entry(dtype + R"(,"shape":{},)" + offsets), ErrorCode::kDataLoss,
                  {"tensor 'w'", "shape must be a list"});
  expect_rejected(entry(dtype + R"(,"shape":[-4],)" + offsets), ErrorCode::kDataLoss,
                  {"tensor 'w'", "non-negative integers"});
  expect_rejected(entry(dtype + R"(,"shape":[4.0],)" + offsets), ErrorCode::kDataLoss,
                  {"tensor 'w'", "non-negative integers"});
  expect_rejected(entry(dtype + R"(,"shape":[[4]],)" + offsets), ErrorCode::kDataLoss,
                  {"tensor 'w'", "non-negative integers"});
  expect_rejected(entry(dtype + R"(,"shape":[1,1,1,1,1,1,4],)" + offsets), ErrorCode::kDataLoss,
                  {"tensor 'w'", "more than 6 dimensions"});
  expect_rejected(entry(dtype + "," + shape + R"(,"data_offsets":[0,16,16])"), ErrorCode::kDataLoss,
                  {"tensor 'w'", "more than 2"});
  expect_rejected(entry(dtype + "," + shape + R"(,"data_offsets":[16])"), ErrorCode::kDataLoss,
                  {"tensor 'w'", "2 numbers"});
  expect_rejected(entry(dtype + "," + shape + R"(,"data_offsets":"0-16")"), ErrorCode::kDataLoss,
                  {"tensor 'w'", "data_offsets must be a list"});
  expect_rejected(entry(dtype + "," + shape + R"(,"data_offsets":[16,0])"), ErrorCode::kDataLoss,
                  {"tensor 'w'", "end before they begin"});
  expect_rejected(entry(dtype + "," + dtype + "," + shape + "," + offsets), ErrorCode::kDataLoss,
                  {"tensor 'w'", "'dtype' appears twice"});
}

TEST(SafetensorsFormatTest, UnsupportedDtypeIsUnimplementedAndSaysWhatIsSupported) {
  const std::string json = R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})";
  expect_rejected(file_with(json, filler(4)), ErrorCode::kUnimplemented,
                  {"tensor 'w'", "F16", "F32, BF16, I32 and U8"});
  const std::string f64 = R"({"w":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})";
  expect_rejected(file_with(f64, filler(16)), ErrorCode::kUnimplemented, {"tensor 'w'", "F64"});
  const std::string bogus = R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,1]}})";
  expect_rejected(file_with(bogus, filler(1)), ErrorCode::kDataLoss,
                  {"tensor 'w'", "unknown dtype 'Q4'"});
}

TEST(SafetensorsFormatTest, RejectsSizesThatDoNotMatchTheShape) {
  const std::string json = R"({"w":{"dtype":"I32","shape":[2,2],"data_offsets":[0,12]}})";
  expect_rejected(file_with(json, filler(12)), ErrorCode::kDataLoss,
                  {"tensor 'w'", "hold 12 bytes", "shape [2, 2] of I32 needs 16"});
  const std::string huge =
      R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})";
  expect_rejected(file_with(huge, ""), ErrorCode::kDataLoss, {"tensor 'w'", "too many elements"});
  const std::string big_dim =
      R"({"w":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,1]}})";
  expect_rejected(file_with(big_dim, filler(1)), ErrorCode::kDataLoss,
                  {"tensor 'w'", "too many elements"});
  const std::string beyond_u64 = R"({"w":{"dtype":"U8","shape":[1e30],"data_offsets":[0,1]}})";
  expect_rejected(file_with(beyond_u64, filler(1)), ErrorCode::kDataLoss, {"tensor 'w'"});
}

TEST(SafetensorsFormatTest, RejectsOverlapsGapsAndTrailingBytes) {
  const auto two = [](const std::string& a, const std::string& b) {
    return R"({"a":{"dtype":"U8","shape":[8],"data_offsets":)" + a +
           R"(},"b":{"dtype":"U8","shape":[8],"data_offsets":)" + b + "}}";
  };
  expect_rejected(file_with(two("[0,8]", "[4,12]"), filler(12)), ErrorCode::kDataLoss,
                  {"'a' [0, 8) and 'b' [4, 12) overlap"});
  expect_rejected(file_with(two("[0,8]", "[0,8]"), filler(8)), ErrorCode::kDataLoss, {"overlap"});
  expect_rejected(
      file_with(two("[0,8]", "[12,20]"), filler(20)), ErrorCode::kDataLoss,
      {"bytes [8, 12) of the tensor data belong to no tensor", "after 'a'", "before 'b'"});
  expect_rejected(file_with(two("[4,12]", "[12,20]"), filler(20)), ErrorCode::kDataLoss,
                  {"bytes [0, 4) of the tensor data belong to no tensor"});
  expect_rejected(file_with(two("[0,8]", "[8,16]"), filler(17)), ErrorCode::kDataLoss,
                  {"1 bytes follow the last tensor"});
  expect_rejected(file_with("{}", filler(3)), ErrorCode::kDataLoss,
                  {"3 bytes follow the last tensor"});
}

TEST(SafetensorsFormatTest, RejectsDuplicateNamesAndNonStringMetadata) {
  const std::string entry = R"({"dtype":"U8","shape":[0],"data_offsets":[0,0]})";
  expect_rejected(file_with("{\"a\":" + entry + ",\"a\":" + entry + "}", ""), ErrorCode::kDataLoss,
                  {"tensor 'a' appears twice"});
  expect_rejected(file_with(R"({"__metadata__":{},"__metadata__":{}})", ""), ErrorCode::kDataLoss,
                  {"__metadata__ appears twice"});
  expect_rejected(file_with(R"({"__metadata__":{"k":1}})", ""), ErrorCode::kDataLoss,
                  {"__metadata__", "'k' must be a string"});
  expect_rejected(file_with(R"({"__metadata__":{"k":{"x":"y"}}})", ""), ErrorCode::kDataLoss,
                  {"'k' must be a string"});
  expect_rejected(file_with(R"({"__metadata__":{"k":"v","k":"w"}})", ""), ErrorCode::kDataLoss,
                  {"'k' appears twice"});
  expect_rejected(file_with(R"({"__metadata__":"v"})", ""), ErrorCode::kDataLoss,
                  {"__metadata__ must be an object"});
}

TEST(SafetensorsFormatTest, SurvivesDeepNestingWithoutRecursion) {
  const size_t depth = 200'000;
  // Inside an unknown field: skipped without building anything.
  const std::string skipped = R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":)" +
                              std::string(depth, '[') + std::string(depth, ']') + "}}";
  EXPECT_EQ(parse_safetensors(file_with(skipped, filler(1)), "f").tensors().size(), 1u);
  // As the header itself: refused at the first bracket.
  expect_rejected(file_with(std::string(depth, '['), ""), ErrorCode::kDataLoss,
                  {"not a JSON object"});
}

TEST(SafetensorsFormatTest, LooksUpByNameAndListsNamesWhenMissing) {
  const Mixed m;
  const SafetensorsFile file = parse_safetensors(encode_safetensors(m.views), "m.safetensors");
  EXPECT_EQ(file.find("nope"), nullptr);
  EXPECT_EQ(file.at("a/counts").shape, Shape({7}));
  const Error e = error_of([&] { (void)file.at("dense/kernel"); });
  EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  EXPECT_NE(std::string(e.what()).find("m.safetensors: no tensor called 'dense/kernel'"),
            std::string::npos)
      << e.what();
  EXPECT_NE(std::string(e.what()).find("'z/kernel', 'b/half'"), std::string::npos) << e.what();
}

TEST(SafetensorsFormatTest, CopiesIntoAMatchingTensorOnly) {
  const Mixed m;
  const SafetensorsFile file = parse_safetensors(encode_safetensors(m.views), "m");
  std::vector<float> out(12, 0.0f);
  file.at("z/kernel").copy_to(TensorView(out.data(), Shape{3, 4}));
  EXPECT_EQ(out, m.kernel);
  const Error shape = error_of([&] {
    file.at("z/kernel").copy_to(TensorView(out.data(), Shape{4, 3}));
  });
  EXPECT_EQ(shape.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(shape.what()).find("'z/kernel' has shape (3, 4) in the file but (4, 3)"),
            std::string::npos)
      << shape.what();
  std::vector<int32_t> ints(12);
  const Error dtype = error_of([&] {
    file.at("z/kernel").copy_to(TensorView(ints.data(), Shape{3, 4}));
  });
  EXPECT_EQ(dtype.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(dtype.what()).find("F32 in the file but I32"), std::string::npos)
      << dtype.what();
}

TEST_F(SafetensorsTest, RefusesToWriteAmbiguousFilesAndKeepsTheOldOne) {
  const Mixed m;
  write_safetensors(path("w.safetensors"), m.views);
  const std::string before = read_file(path("w.safetensors"));
  float x = 1.0f;
  const std::vector<std::vector<NamedTensorView>> bad = {
      {{"a", TensorView(&x, Shape{})}, {"a", TensorView(&x, Shape{})}},
      {{"__metadata__", TensorView(&x, Shape{})}},
      {{"bad\xff", TensorView(&x, Shape{})}},
      {{"null", TensorView(static_cast<float*>(nullptr), Shape{2})}},
  };
  for (const auto& views : bad) {
    const Error e = error_of([&] { write_safetensors(path("w.safetensors"), views); });
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
  }
  EXPECT_EQ(error_of([&] {
              write_safetensors(path("w.safetensors"), {}, {{"k", "\xc3"}});
            }).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(read_file(path("w.safetensors")), before);
  EXPECT_EQ(error_of([&] { write_safetensors(path("no/dir/w.safetensors"), m.views); }).code(),
            ErrorCode::kIo);
  EXPECT_EQ(error_of([&] { read_safetensors(path("missing.safetensors")); }).code(),
            ErrorCode::kNotFound);
}

}  // namespace
}  // namespace leantrain::train

// parse_idx: the in-memory entry point of idx.cc (the fuzz target's way in). The file-based
// reader is tested in idx_test.cc; here the same bytes must give the same result from memory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "data/idx_files.h"
#include "leantrain/core/error.h"
#include "leantrain/data/idx.h"

namespace leantrain::data {
namespace {

using ::testing::HasSubstr;
using testing::idx_bytes;
using testing::read_bytes;
using testing::write_gz;

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

TEST(ParseIdxTest, ParsesPlainBytes) {
  const std::vector<uint8_t> payload = {1, 2, 3, 4, 5, 6};
  const IdxArray a = parse_idx(idx_bytes(0x08, {2, 3}, payload), "mem.idx");
  EXPECT_EQ(a.type_code, 0x08);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.bytes, payload);
  // Big-endian i16 elements come back in host order.
  const IdxArray b = parse_idx(idx_bytes(0x0B, {2}, {0x01, 0x02, 0xff, 0xfe}), "mem.idx");
  int16_t v[2];
  std::memcpy(v, b.bytes.data(), 4);
  EXPECT_EQ(v[0], 0x0102);
  EXPECT_EQ(v[1], -2);
}

TEST(ParseIdxTest, ParsesGzipBytesLikeTheFileReader) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("leantrain_parse_idx_" + std::to_string(::getpid()) + ".gz"))
                               .string();
  std::vector<uint8_t> payload(3 * 4 * 5);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7 + 1);
  write_gz(path, idx_bytes(0x08, {3, 4, 5}, payload));
  const std::vector<uint8_t> gz = read_bytes(path);
  const IdxArray from_memory = parse_idx(gz, "mem.gz");
  const IdxArray from_file = read_idx(path);
  std::filesystem::remove(path);
  EXPECT_EQ(from_memory.dims, from_file.dims);
  EXPECT_EQ(from_memory.bytes, payload);
  EXPECT_EQ(from_file.bytes, payload);
}

TEST(ParseIdxTest, ErrorsNameTheSource) {
  const std::vector<uint8_t> bytes = idx_bytes(0x08, {10}, {1, 2, 3});
  EXPECT_THAT(error_message([&] { parse_idx(bytes, "record 3"); }, ErrorCode::kDataLoss),
              HasSubstr("record 3: truncated IDX data (3 of 10 bytes)"));
  EXPECT_THAT(error_message([&] { parse_idx({}, "nothing"); }, ErrorCode::kDataLoss),
              HasSubstr("nothing: truncated IDX header"));
}

}  // namespace
}  // namespace leantrain::data

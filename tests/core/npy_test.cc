#include "leantrain/core/npy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/core/file.h"

namespace leantrain {
namespace {

// The bytes NumPy 1.x/2.x's numpy.save writes for np.zeros((3, 10), '<f4'), typed out from the
// format's specification: magic, version 1.0, header length 118 (0x76), the dict, spaces to
// byte 127, '\n' at byte 127.
TEST(NpyTest, HeaderIsNumpysForThreeRowsOfTen) {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 10), }";
  std::string expected("\x93NUMPY\x01\x00\x76\x00", 10);
  expected += dict + std::string(128 - 10 - dict.size() - 1, ' ') + "\n";
  ASSERT_EQ(expected.size(), 128u);
  EXPECT_EQ(npy_f32_header(3, 10), expected);
}

TEST(NpyTest, HeaderLengthIsAMultipleOf64AndEndsInNewline) {
  for (const int64_t rows : {0, 1, 9, 10, 12345, 1234567890}) {
    for (const int64_t cols : {1, 10, 1000}) {
      const std::string h = npy_f32_header(rows, cols);
      ASSERT_EQ(h.size() % 64, 0u) << rows << "x" << cols;
      EXPECT_EQ(h.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
      const size_t length = static_cast<unsigned char>(h[8]) |
                            static_cast<size_t>(static_cast<unsigned char>(h[9])) << 8;
      EXPECT_EQ(length + 10, h.size());
      EXPECT_EQ(h.back(), '\n');
      const std::string shape =
          "'shape': (" + std::to_string(rows) + ", " + std::to_string(cols) + "), }";
      EXPECT_NE(h.find(shape), std::string::npos) << h;
    }
  }
}

TEST(NpyTest, WritesHeaderThenRowMajorLittleEndianFloats) {
  const std::string path =
      ::testing::TempDir() + "leantrain_npy_test_" + std::to_string(::getpid()) + ".npy";
  const std::vector<float> values{0.25f, -1.5f, 3.0f, 1e-30f, 7.0f, 0.0f};
  write_npy_f32(path, values, 2, 3);
  const std::string bytes = read_file(path);
  std::filesystem::remove(path);
  const std::string header = npy_f32_header(2, 3);
  ASSERT_EQ(bytes.size(), header.size() + values.size() * sizeof(float));
  EXPECT_EQ(bytes.substr(0, header.size()), header);
  EXPECT_EQ(std::memcmp(bytes.data() + header.size(), values.data(), values.size() * 4), 0);
}

TEST(NpyTest, RefusesValuesThatAreNotTheShape) {
  const std::vector<float> values(5, 1.0f);
  try {
    write_npy_f32(::testing::TempDir() + "never.npy", values, 2, 3);
    FAIL() << "expected Error(kInvalidArgument)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("(2, 3)"), std::string::npos) << e.what();
  }
}

TEST(NpyTest, MissingDirectoryIsAnIoErrorNamingThePath) {
  const std::string path = ::testing::TempDir() + "no-such-dir-for-npy/out.npy";
  const std::vector<float> values(2, 1.0f);
  try {
    write_npy_f32(path, values, 1, 2);
    FAIL() << "expected Error(kIo)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace leantrain

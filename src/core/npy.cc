#include "leantrain/core/npy.h"

#include <bit>
#include <cstddef>

#include "leantrain/core/error.h"
#include "leantrain/core/file.h"

namespace leantrain {

static_assert(std::endian::native == std::endian::little, "'<f4' is written from memory as is");

std::string npy_f32_header(int64_t rows, int64_t cols) {
  LT_CHECK(rows >= 0 && cols >= 0, kInvalidArgument, "npy: shape (", rows, ", ", cols,
           ") has a negative size");
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) +
                     ", " + std::to_string(cols) + "), }";
  // 10 bytes before the dict (magic, version, length); the dict ends with '\n'.
  constexpr size_t kPrefixBytes = 10;
  const size_t unpadded = kPrefixBytes + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  const size_t length = dict.size();
  std::string header = "\x93NUMPY";
  header += '\x01';
  header += '\x00';
  header += static_cast<char>(length & 0xff);
  header += static_cast<char>(length >> 8);
  return header + dict;
}

void write_npy_f32(const std::string& path, std::span<const float> values, int64_t rows,
                   int64_t cols) {
  LT_CHECK(static_cast<int64_t>(values.size()) == rows * cols, kInvalidArgument, path, ": ",
           values.size(), " values do not make a (", rows, ", ", cols, ") array");
  AtomicFileWriter out(path);
  out.write(npy_f32_header(rows, cols));
  out.write(std::as_bytes(values));
  out.commit();
}

}  // namespace leantrain

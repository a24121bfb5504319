// NumPy's .npy format (version 1.0) for a matrix of f32, as numpy.save writes it and numpy.load
// reads it: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace leantrain {

// The header of a (rows, cols) little-endian f32 array in C order:
//   - the magic "\x93NUMPY", version bytes 1 and 0, the header length as u16 little-endian;
//   - the dict "{'descr': '<f4', 'fortran_order': False, 'shape': (rows, cols), }" padded with
//     spaces and ended by '\n' so that the whole header is a multiple of 64 bytes.
// Throws Error(kInvalidArgument) for a negative size.
std::string npy_f32_header(int64_t rows, int64_t cols);

// Writes `values` (rows * cols, row-major) to `path` as a .npy file, atomically
// (write_file_atomically: a temporary in the same directory, fsync, rename). Throws
// Error(kInvalidArgument) when values.size() != rows * cols, and what write_file_atomically
// throws (Error(kIo) naming the path). Requires a little-endian host (x86-64).
void write_npy_f32(const std::string& path, std::span<const float> values, int64_t rows,
                   int64_t cols);

}  // namespace leantrain

// Byte counts as users type them for budgets and limits ("512MiB", "1.5GiB", "2GB") and as the
// allocator prints them back in its messages, in units that parse_bytes reads unambiguously.
#pragma once

#include <cstdint>
#include <string>

namespace leantrain::memory {

// Parses a byte count. Accepted, with optional spaces around the text and between number and
// unit:
// - a non-negative integer: bytes ("1073741824");
// - a non-negative number, with an optional fraction, and a unit ("512MiB", "1.5 GiB", "2GB"),
//   units case-insensitive:
//     B                              1
//     KiB, MiB, GiB, TiB, PiB        1024^1 .. 1024^5   (binary, IEC)
//     KB,  MB,  GB,  TB,  PB         1000^1 .. 1000^5   (decimal, SI)
//   This is the IEC 80000-13 convention that Kubernetes quantities ("Mi" vs "M"), GNU numfmt
//   (--from=auto), systemd-analyze and PyTorch's "GiB" messages follow: "GB" is 10^9 bytes,
//   "GiB" is 2^30. A bare K, M, G, T or P ("2G") is refused as ambiguous: docker reads it as
//   binary and Kubernetes as decimal. Note that readable_bytes() prints Keras-style binary
//   counts labelled "KB"/"MB"/"GB"; format_iec_bytes() prints what this function reads back.
//   A count that is not a whole number of bytes rounds down ("1.3KiB" is 1331 bytes): every
//   whole count under a limit of 1331.2 bytes is at most 1331.
// Throws Error(kInvalidArgument) naming the text and the accepted forms for anything else: an
// empty text, a sign, an exponent, an unknown unit, more than 18 digits after the point, or a
// count above the int64 range.
int64_t parse_bytes(const std::string& text);

// Prints `bytes` in binary units with two decimals that parse_bytes reads back to within 0.005
// of the unit: "100 B", "1.50 KiB", "512.00 MiB", "1.21 GiB" (up to PiB; the counts within
// 0.005 PiB of the int64 limit round down, to within 0.01 PiB, so that they read back).
// Negative counts print with a leading '-'.
std::string format_iec_bytes(int64_t bytes);

}  // namespace leantrain::memory

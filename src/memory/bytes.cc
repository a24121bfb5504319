// Parsing and printing byte counts for budgets and limits.
#include "leantrain/memory/bytes.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

#include "leantrain/core/error.h"

namespace leantrain::memory {
namespace {

// Exact arithmetic for value * unit / 10^digits: a 64-bit mantissa times 1024^5 needs more
// than 64 bits. __extension__ keeps -Wpedantic quiet about the GCC type.
__extension__ typedef unsigned __int128 Wide;

constexpr int kMaxFractionDigits = 18;
constexpr const char* kAccepted =
    "expected a byte count such as 1073741824, 512MiB, 1.5GiB or 2GB "
    "(B; KiB, MiB, GiB, TiB, PiB = powers of 1024; KB, MB, GB, TB, PB = powers of 1000)";

Error bad_bytes(const std::string& text, const std::string& why) {
  return Error(ErrorCode::kInvalidArgument,
               internal::str_cat("'", text, "' is not a byte count: ", why, "; ", kAccepted));
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The multiplier of a unit, or 0 if it is not one (an empty unit means bytes).
int64_t unit_bytes(const std::string& unit) {
  static constexpr char kPrefixes[] = {'k', 'm', 'g', 't', 'p'};
  const std::string u = lower(unit);
  if (u.empty() || u == "b") return 1;
  for (int i = 0; i < 5; ++i) {
    const std::string prefix(1, kPrefixes[i]);
    int64_t binary = 1, decimal = 1;
    for (int k = 0; k <= i; ++k) {
      binary *= 1024;
      decimal *= 1000;
    }
    if (u == prefix + "ib") return binary;
    if (u == prefix + "b") return decimal;
  }
  return 0;
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

// - skip spaces; read digits [ '.' digits ]; skip spaces; the rest (trimmed) is the unit;
// - bytes = whole * unit + floor(fraction * unit / 10^digits), computed in 128 bits.
int64_t parse_bytes(const std::string& text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n && is_space(text[i])) ++i;
  if (i == n) throw bad_bytes(text, "it is empty");
  if (text[i] == '-' || text[i] == '+') throw bad_bytes(text, "a sign is not allowed");
  if (!is_digit(text[i])) throw bad_bytes(text, "it does not start with a digit");

  constexpr Wide kMax = static_cast<Wide>(std::numeric_limits<int64_t>::max());
  Wide whole = 0;
  for (; i < n && is_digit(text[i]); ++i) {
    whole = whole * 10 + static_cast<Wide>(text[i] - '0');
    if (whole > kMax) throw bad_bytes(text, "it is larger than 9223372036854775807 bytes");
  }
  Wide fraction = 0, scale = 1;
  if (i < n && text[i] == '.') {
    ++i;
    if (i == n || !is_digit(text[i])) throw bad_bytes(text, "a digit must follow the point");
    int digits = 0;
    for (; i < n && is_digit(text[i]); ++i) {
      if (++digits > kMaxFractionDigits) {
        throw bad_bytes(text, "more than 18 digits after the point");
      }
      fraction = fraction * 10 + static_cast<Wide>(text[i] - '0');
      scale *= 10;
    }
  }
  while (i < n && is_space(text[i])) ++i;
  size_t end = n;
  while (end > i && is_space(text[end - 1])) --end;
  const std::string unit = text.substr(i, end - i);
  for (char c : unit) {
    if (!std::isalpha(static_cast<unsigned char>(c))) {
      throw bad_bytes(text, "unexpected '" + std::string(1, c) + "' after the number");
    }
  }
  const int64_t multiplier = unit_bytes(unit);
  if (multiplier == 0) {
    const std::string u = lower(unit);
    if (u.size() == 1 && std::string("kmgtp").find(u[0]) != std::string::npos) {
      throw bad_bytes(text, "the unit '" + unit + "' is ambiguous; write " + unit +
                                "iB for powers of 1024 or " + unit + "B for powers of 1000");
    }
    throw bad_bytes(text, "unknown unit '" + unit + "'");
  }
  const Wide bytes =
      whole * static_cast<Wide>(multiplier) + fraction * static_cast<Wide>(multiplier) / scale;
  if (bytes > kMax) throw bad_bytes(text, "it is larger than 9223372036854775807 bytes");
  return static_cast<int64_t>(bytes);
}

std::string format_iec_bytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  constexpr int kUnitCount = 6;
  double value = bytes < 0 ? -static_cast<double>(bytes) : static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit + 1 < kUnitCount) {
    value /= 1024.0;
    ++unit;
  }
  // Rounding up the largest counts (within 0.005 PiB of the int64 limit) would print a count
  // parse_bytes cannot hold: they round down instead. long double holds every int64 exactly.
  if (unit + 1 == kUnitCount) {
    const long double pib = static_cast<long double>(int64_t{1} << 50);
    const long double exact = std::fabs(static_cast<long double>(bytes)) / pib;
    long double hundredths = std::round(exact * 100);
    if (hundredths * pib / 100 > static_cast<long double>(std::numeric_limits<int64_t>::max())) {
      hundredths = std::floor(exact * 100);
    }
    value = static_cast<double>(hundredths / 100);
  }
  char text[64];
  if (unit == 0) {
    std::snprintf(text, sizeof(text), "%s%.0f B", bytes < 0 ? "-" : "", value);
  } else {
    std::snprintf(text, sizeof(text), "%s%.2f %s", bytes < 0 ? "-" : "", value, kUnits[unit]);
  }
  return text;
}

}  // namespace leantrain::memory

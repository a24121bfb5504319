#include "leantrain/memory/bytes.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "leantrain/core/error.h"

namespace leantrain::memory {
namespace {

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = kKiB * 1024;
constexpr int64_t kGiB = kMiB * 1024;
constexpr int64_t kTiB = kGiB * 1024;
constexpr int64_t kPiB = kTiB * 1024;

// Parses `text`, expecting Error(kInvalidArgument) whose message quotes the text; returns it.
std::string rejection(const std::string& text) {
  try {
    const int64_t bytes = parse_bytes(text);
    ADD_FAILURE() << "'" << text << "' parsed as " << bytes;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    const std::string message = e.what();
    EXPECT_NE(message.find("'" + text + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("512MiB"), std::string::npos) << "lists accepted forms: " << message;
    return message;
  }
  return "";
}

TEST(ParseBytesTest, PlainIntegersAreBytes) {
  EXPECT_EQ(parse_bytes("0"), 0);
  EXPECT_EQ(parse_bytes("1"), 1);
  EXPECT_EQ(parse_bytes("1073741824"), kGiB);
  EXPECT_EQ(parse_bytes("9223372036854775807"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(parse_bytes("100B"), 100);
}

TEST(ParseBytesTest, BinaryUnitsArePowersOf1024) {
  EXPECT_EQ(parse_bytes("1KiB"), kKiB);
  EXPECT_EQ(parse_bytes("512MiB"), 512 * kMiB);
  EXPECT_EQ(parse_bytes("1.5GiB"), 3 * kGiB / 2);
  EXPECT_EQ(parse_bytes("2TiB"), 2 * kTiB);
  EXPECT_EQ(parse_bytes("1PiB"), kPiB);
}

TEST(ParseBytesTest, DecimalUnitsArePowersOf1000) {
  EXPECT_EQ(parse_bytes("2GB"), 2'000'000'000);
  EXPECT_EQ(parse_bytes("1.5kB"), 1'500);
  EXPECT_EQ(parse_bytes("3MB"), 3'000'000);
  EXPECT_EQ(parse_bytes("1TB"), 1'000'000'000'000);
  EXPECT_EQ(parse_bytes("1PB"), 1'000'000'000'000'000);
}

TEST(ParseBytesTest, UnitsIgnoreCaseAndSpacesAreAllowed) {
  EXPECT_EQ(parse_bytes("512mib"), 512 * kMiB);
  EXPECT_EQ(parse_bytes("512MIB"), 512 * kMiB);
  EXPECT_EQ(parse_bytes("2gb"), 2'000'000'000);
  EXPECT_EQ(parse_bytes("  512 MiB  "), 512 * kMiB);
  EXPECT_EQ(parse_bytes("1.25\tGiB"), 5 * kGiB / 4);
}

TEST(ParseBytesTest, FractionalBytesRoundDown) {
  EXPECT_EQ(parse_bytes("1.3KiB"), 1331);  // 1331.2
  EXPECT_EQ(parse_bytes("0.5B"), 0);
  EXPECT_EQ(parse_bytes("0.0001KiB"), 0);  // 0.1024
  EXPECT_EQ(parse_bytes("0.999999999999999999KiB"), 1023);
  // 18 digits after the point are exact: 2^30 * (1 + 1e-18) is below 2^30 + 1.
  EXPECT_EQ(parse_bytes("1.000000000000000001GiB"), kGiB);
  // 8191.99... PiB is within int64; 8192 PiB = 2^63 is not.
  EXPECT_EQ(parse_bytes("8191.5PiB"), 8191 * kPiB + kPiB / 2);
}

TEST(ParseBytesTest, RefusesWhatIsNotAByteCount) {
  for (const std::string text :
       {"", "   ", "abc", "-1", "+5", "1e9", "1.", ".5GiB", "1.2.3", "12 MiBs", "5 M B", "8EiB",
        "1,000", "0x10", "1.0000000000000000001GiB"}) {
    rejection(text);
  }
}

TEST(ParseBytesTest, RefusesCountsBeyondInt64) {
  EXPECT_NE(rejection("9223372036854775808").find("larger than"), std::string::npos);
  EXPECT_NE(rejection("8192PiB").find("larger than"), std::string::npos);
  EXPECT_NE(rejection("99999999999999999999999").find("larger than"), std::string::npos);
}

TEST(ParseBytesTest, BareSingleLetterUnitsAreAmbiguous) {
  for (const std::string text : {"2G", "512M", "4k", "1T", "1P"}) {
    const std::string message = rejection(text);
    EXPECT_NE(message.find("ambiguous"), std::string::npos) << message;
  }
  const std::string message = rejection("2G");
  EXPECT_NE(message.find("GiB"), std::string::npos) << message;
  EXPECT_NE(message.find("GB"), std::string::npos) << message;
}

TEST(FormatIecBytesTest, PrintsBinaryUnitsWithTwoDecimals) {
  EXPECT_EQ(format_iec_bytes(0), "0 B");
  EXPECT_EQ(format_iec_bytes(100), "100 B");
  EXPECT_EQ(format_iec_bytes(1023), "1023 B");
  EXPECT_EQ(format_iec_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_iec_bytes(512 * kMiB), "512.00 MiB");
  EXPECT_EQ(format_iec_bytes(3 * kGiB / 2), "1.50 GiB");
  EXPECT_EQ(format_iec_bytes(2 * kPiB), "2.00 PiB");
  EXPECT_EQ(format_iec_bytes(4096 * kPiB), "4096.00 PiB");
  EXPECT_EQ(format_iec_bytes(-1536), "-1.50 KiB");
}

// Found by byte_size_fuzz: INT64_MAX printed as "8192.00 PiB" (2^63), which parse_bytes refused
// as above the int64 range.
TEST(FormatIecBytesTest, TheLargestCountsRoundDownAndParseBack) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(format_iec_bytes(max), "8191.99 PiB");
  for (const int64_t bytes : {max, max - kPiB / 300, 8191 * kPiB + 995 * kPiB / 1000}) {
    const int64_t back = parse_bytes(format_iec_bytes(bytes));
    EXPECT_LE(back, bytes);
    EXPECT_LE(bytes - back, kPiB / 100 + 1) << bytes << " printed as " << format_iec_bytes(bytes);
  }
  EXPECT_EQ(format_iec_bytes(8000 * kPiB), "8000.00 PiB");  // below the limit: as before
}

TEST(FormatIecBytesTest, ParsesBackWithinHalfAHundredthOfTheUnit) {
  for (const int64_t bytes : {int64_t{1}, int64_t{1000}, 5 * kKiB + 17, 123 * kMiB + 456789,
                              7 * kGiB + 3, 3 * kTiB + kGiB}) {
    const int64_t back = parse_bytes(format_iec_bytes(bytes));
    int64_t unit = 1;
    while (unit < kPiB && bytes >= unit * 1024) unit *= 1024;
    const int64_t tolerance = unit == 1 ? 0 : unit / 200 + 1;
    EXPECT_LE(back > bytes ? back - bytes : bytes - back, tolerance)
        << bytes << " printed as " << format_iec_bytes(bytes) << " read back as " << back;
  }
}

}  // namespace
}  // namespace leantrain::memory

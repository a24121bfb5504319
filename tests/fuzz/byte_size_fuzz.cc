// libFuzzer target for the byte-size parser behind --memory-budget, --memory-limit and the
// Python package's memory_budget= ("600MiB", "1.5GB", "512"): any text either parses to a
// non-negative count or throws leantrain::Error(kInvalidArgument) naming the text; a count
// printed by format_iec_bytes parses back to within half a hundredth of its unit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "leantrain/core/error.h"
#include "leantrain/memory/bytes.h"

namespace {

void require(bool cond) {
  if (!cond) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  int64_t bytes = 0;
  try {
    bytes = leantrain::memory::parse_bytes(text);
  } catch (const leantrain::Error& e) {
    require(e.code() == leantrain::ErrorCode::kInvalidArgument);
    return 0;
  }
  require(bytes >= 0);
  const std::string printed = leantrain::memory::format_iec_bytes(bytes);
  const int64_t back = leantrain::memory::parse_bytes(printed);
  // Two decimals of the unit: within 0.005 units, and the unit is at most bytes / 1 (B) ...
  // bytes * 1024 / 1000 (the next unit starts at 1024 of this one).
  const double unit_error = static_cast<double>(back > bytes ? back - bytes : bytes - back);
  require(unit_error <= 0.0051 * static_cast<double>(bytes) + 1.0);
  return 0;
}

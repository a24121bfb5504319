// libFuzzer target for the IDX reader (plain and gzip): any input either parses into an array
// whose bytes match its dims and type, or throws leantrain::Error with kDataLoss (corrupt,
// truncated, inconsistent) or kInvalidArgument (an unsupported type code). Anything else (a
// crash, a sanitizer report, a leak, another exception or error code, a broken invariant) is a
// finding. Run through scripts/fuzz.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "leantrain/core/error.h"
#include "leantrain/data/idx.h"

namespace {

void require(bool cond) {
  if (!cond) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace leantrain;
  try {
    const data::IdxArray array =
        data::parse_idx(std::span<const uint8_t>(data, size), "fuzz-input");
    const int64_t element = data::idx_element_size(array.type_code);
    require(element > 0 && !array.dims.empty());
    int64_t expected = element;
    for (int64_t d : array.dims) {
      require(d >= 0);
      if (__builtin_mul_overflow(expected, d, &expected)) expected = INT64_MAX;
    }
    require(static_cast<int64_t>(array.bytes.size()) == expected);
  } catch (const Error& e) {
    require(e.code() == ErrorCode::kDataLoss || e.code() == ErrorCode::kInvalidArgument);
  }
  return 0;
}

// Number formatting shared by messages and reports.
#pragma once

#include <cstdint>
#include <string>

namespace leantrain {

// Returns `n` with thousands separators, as Keras prints counts: 47040000 -> "47,040,000".
std::string with_commas(int64_t n);

}  // namespace leantrain

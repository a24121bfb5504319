#include "testing/kernel_testing.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace leantrain::testing {

double scaled_atol(const std::vector<float>& expected) {
  double largest = 0.0;
  for (float v : expected) largest = std::max(largest, static_cast<double>(std::fabs(v)));
  return std::max(1e-4 * largest, 1e-6);
}

::testing::AssertionResult matches_reference(const std::vector<float>& actual,
                                             const std::vector<float>& expected) {
  return all_close(actual, expected, 1e-4, scaled_atol(expected));
}

GuardedFloats::GuardedFloats(int64_t n) : buffer(n * 4), count(n) {
  std::fill_n(data(), n, std::numeric_limits<float>::quiet_NaN());
}

GuardedBuffer garbage_scratch(int64_t bytes) {
  GuardedBuffer scratch(bytes);
  std::memset(scratch.data(), 0xff, static_cast<size_t>(bytes));  // NaN floats
  return scratch;
}

}  // namespace leantrain::testing

// NumPy's bounded integers by masked rejection (numpy/random/src/distributions: random_interval).
#include "leantrain/data/numpy_random.h"

namespace leantrain::data {

uint64_t NumpyRandomState::random_interval(uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  uint64_t value;
  if (max <= 0xffffffffull) {
    while ((value = (next_uint32() & mask)) > max) {
    }
  } else {
    // NumPy's mt19937_next64: the first word is the high half.
    do {
      const uint64_t high = next_uint32();
      value = ((high << 32) | next_uint32()) & mask;
    } while (value > max);
  }
  return value;
}

}  // namespace leantrain::data

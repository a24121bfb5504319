// Shared helpers for kernel tests that hold a fast kernel to its reference: outputs and scratch
// inside guard bytes, prefilled so that an unwritten output or a read of unwritten scratch shows,
// the tolerance a fast kernel gets, and an environment variable set for one scope (kernels read
// their implementation choices from the environment).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "testing/testing.h"

namespace leantrain::testing {

// Returns atol for comparing against `expected`: 1e-4 of its largest magnitude (at least 1e-6).
double scaled_atol(const std::vector<float>& expected);

// Succeeds when `actual` is within rtol 1e-4 and atol scaled_atol(expected) of `expected` (the
// tolerance the oneDNN kernels are held to against the reference); fails as all_close() does.
::testing::AssertionResult matches_reference(const std::vector<float>& actual,
                                             const std::vector<float>& expected);

// An output or scratch span of `count` floats with guard bytes, prefilled with NaNs so that an
// element the kernel forgets to write fails the comparison. Owns its storage.
struct GuardedFloats {
  GuardedBuffer buffer;
  int64_t count;
  explicit GuardedFloats(int64_t n);
  float* data() { return static_cast<float*>(buffer.data()); }
  std::vector<float> values() { return {data(), data() + count}; }
};

// Returns `bytes` of scratch inside guard bytes, every byte 0xFF (NaN as floats), so that a kernel
// reading scratch it has not written goes visibly wrong.
GuardedBuffer garbage_scratch(int64_t bytes);

}  // namespace leantrain::testing

// Shared test helpers: seeded random tensors (never zeros), closeness checks that report the
// worst index, and a central-difference gradient checker in double.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "leantrain/core/shape.h"
#include "leantrain/core/tensor.h"

namespace leantrain::testing {

// Returns num_elements floats uniform in [low, high), fixed by `seed`.
std::vector<float> random_floats(int64_t num_elements, uint64_t seed, float low = -1.0f,
                                 float high = 1.0f);
// Returns num_elements ints uniform in [0, classes).
std::vector<int32_t> random_labels(int64_t num_elements, int32_t classes, uint64_t seed);

// A float tensor that owns its data, for tests.
struct OwnedTensor {
  Shape shape;
  std::vector<float> values;

  OwnedTensor() = default;
  explicit OwnedTensor(Shape s) : shape(s), values(static_cast<size_t>(s.num_elements()), 0.f) {}
  OwnedTensor(Shape s, uint64_t seed, float low = -1.0f, float high = 1.0f)
      : shape(s), values(random_floats(s.num_elements(), seed, low, high)) {}
  TensorView view() { return TensorView(values.data(), shape); }
  float* data() { return values.data(); }
};

// Succeeds when |actual[i] - expected[i]| <= atol + rtol * |expected[i]| for all i; otherwise
// the failure names the worst index, both values and the count of offending elements.
::testing::AssertionResult all_close(const std::vector<float>& actual,
                                     const std::vector<float>& expected, double rtol, double atol);
::testing::AssertionResult all_close(const float* actual, const float* expected, int64_t n,
                                     double rtol, double atol);

// Central-difference gradient check.
// `loss` evaluates a scalar function of the tensors in `inputs` (it reads their current values).
// `analytic` holds, for each input, the gradient computed by the code under test.
// Each element of each input is perturbed by +-eps; the numeric derivative (f(x+e)-f(x-e))/2e
// is accumulated in double. Fails naming the input, the worst index and both values when
// |numeric - analytic| > atol + rtol * max(|numeric|, |analytic|).
::testing::AssertionResult gradient_check(const std::function<double()>& loss,
                                          const std::vector<std::vector<float>*>& inputs,
                                          const std::vector<std::vector<float>>& analytic,
                                          double eps = 1e-2, double rtol = 2e-2,
                                          double atol = 2e-3);

// A weighted sum sum_i w_i * y_i with fixed random weights: turns a tensor output into a scalar
// loss whose gradient with respect to y is w (so backward kernels can be fed diff_dst = w).
std::vector<float> loss_weights(int64_t num_elements, uint64_t seed);
double weighted_sum(const std::vector<float>& y, const std::vector<float>& w);

// Fills `n` bytes before and after a span with a guard pattern and checks them later, to prove
// that a kernel's writes stay inside its scratch or output span.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(int64_t bytes, int64_t guard_bytes = 256);
  void* data() { return storage_.data() + guard_; }
  int64_t bytes() const { return bytes_; }
  // True when every guard byte still holds the pattern.
  bool guards_intact() const;

 private:
  int64_t bytes_;
  int64_t guard_;
  std::vector<unsigned char> storage_;
};

}  // namespace leantrain::testing

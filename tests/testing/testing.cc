#include "testing/testing.h"

#include <cmath>
#include <cstring>

#include "leantrain/core/rng.h"

namespace leantrain::testing {

std::vector<float> random_floats(int64_t num_elements, uint64_t seed, float low, float high) {
  Rng rng(seed);
  std::vector<float> out(static_cast<size_t>(num_elements));
  for (auto& v : out) v = rng.uniform(low, high);
  return out;
}

std::vector<int32_t> random_labels(int64_t num_elements, int32_t classes, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> out(static_cast<size_t>(num_elements));
  for (auto& v : out) v = static_cast<int32_t>(rng.below(static_cast<uint64_t>(classes)));
  return out;
}

::testing::AssertionResult all_close(const float* actual, const float* expected, int64_t n,
                                     double rtol, double atol) {
  int64_t worst = -1;
  int64_t bad = 0;
  double worst_excess = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = actual[i], e = expected[i];
    const double err = std::fabs(a - e);
    const double allowed = atol + rtol * std::fabs(e);
    if (!(err <= allowed)) {  // also catches NaN
      ++bad;
      const double excess = std::isnan(err) ? INFINITY : err - allowed;
      if (worst < 0 || excess > worst_excess) {
        worst = i;
        worst_excess = excess;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << n << " elements differ; worst at index " << worst << ": actual "
         << actual[worst] << ", expected " << expected[worst] << " (rtol " << rtol << ", atol "
         << atol << ")";
}

::testing::AssertionResult all_close(const std::vector<float>& actual,
                                     const std::vector<float>& expected, double rtol, double atol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure()
           << "sizes differ: " << actual.size() << " vs " << expected.size();
  }
  return all_close(actual.data(), expected.data(), static_cast<int64_t>(actual.size()), rtol, atol);
}

::testing::AssertionResult gradient_check(const std::function<double()>& loss,
                                          const std::vector<std::vector<float>*>& inputs,
                                          const std::vector<std::vector<float>>& analytic,
                                          double eps, double rtol, double atol) {
  if (inputs.size() != analytic.size()) {
    return ::testing::AssertionFailure() << "inputs and analytic gradients differ in count";
  }
  for (size_t k = 0; k < inputs.size(); ++k) {
    std::vector<float>& x = *inputs[k];
    if (x.size() != analytic[k].size()) {
      return ::testing::AssertionFailure() << "input " << k << ": gradient size mismatch";
    }
    for (size_t i = 0; i < x.size(); ++i) {
      const float saved = x[i];
      x[i] = static_cast<float>(saved + eps);
      const double up = loss();
      x[i] = static_cast<float>(saved - eps);
      const double down = loss();
      x[i] = saved;
      const double numeric = (up - down) / (2.0 * eps);
      const double a = analytic[k][i];
      const double allowed = atol + rtol * std::max(std::fabs(numeric), std::fabs(a));
      if (!(std::fabs(numeric - a) <= allowed)) {
        return ::testing::AssertionFailure()
               << "input " << k << ", index " << i << ": numeric " << numeric << ", analytic " << a;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

std::vector<float> loss_weights(int64_t num_elements, uint64_t seed) {
  return random_floats(num_elements, seed ^ 0x5eedull, -1.0f, 1.0f);
}

double weighted_sum(const std::vector<float>& y, const std::vector<float>& w) {
  double s = 0.0;
  for (size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * w[i];
  return s;
}

namespace {
unsigned char guard_byte(int64_t i) { return static_cast<unsigned char>(0xA5 ^ (i * 31)); }
}  // namespace

GuardedBuffer::GuardedBuffer(int64_t bytes, int64_t guard_bytes)
    : bytes_(bytes), guard_(guard_bytes), storage_(static_cast<size_t>(bytes + 2 * guard_bytes)) {
  for (int64_t i = 0; i < guard_; ++i) {
    storage_[static_cast<size_t>(i)] = guard_byte(i);
    storage_[static_cast<size_t>(guard_ + bytes_ + i)] = guard_byte(i + 7);
  }
}

bool GuardedBuffer::guards_intact() const {
  for (int64_t i = 0; i < guard_; ++i) {
    if (storage_[static_cast<size_t>(i)] != guard_byte(i)) return false;
    if (storage_[static_cast<size_t>(guard_ + bytes_ + i)] != guard_byte(i + 7)) return false;
  }
  return true;
}

}  // namespace leantrain::testing

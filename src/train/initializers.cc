#include "train/initializers.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "leantrain/nn/serialization.h"

namespace leantrain::train {
namespace {

// Keras' truncated-normal initializers divide the standard deviation by this to make the
// variance of the truncated distribution match.
constexpr double kTruncatedStddevCorrection = 0.87962566103423978;

void initialize(const nn::Variable& v, float* data, uint64_t seed) {
  const int64_t n = v.shape.num_elements();
  Rng rng(seed);
  const std::string& init = v.initializer;
  const double fan_in = static_cast<double>(std::max<int64_t>(v.fan_in, 1));
  const double fan_out = static_cast<double>(std::max<int64_t>(v.fan_out, 1));
  auto uniform = [&](double limit) {
    for (int64_t i = 0; i < n; ++i)
      data[i] = rng.uniform(static_cast<float>(-limit), static_cast<float>(limit));
  };
  auto truncated = [&](double stddev) {
    const double s = stddev / kTruncatedStddevCorrection;
    for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(s * rng.truncated_normal());
  };
  if (init == "zeros") {
    std::fill(data, data + n, 0.0f);
  } else if (init == "ones") {
    std::fill(data, data + n, 1.0f);
  } else if (init == "glorot_uniform") {
    uniform(std::sqrt(6.0 / (fan_in + fan_out)));
  } else if (init == "glorot_normal") {
    truncated(std::sqrt(2.0 / (fan_in + fan_out)));
  } else if (init == "he_uniform") {
    uniform(std::sqrt(6.0 / fan_in));
  } else if (init == "he_normal") {
    truncated(std::sqrt(2.0 / fan_in));
  } else if (init == "lecun_uniform") {
    uniform(std::sqrt(3.0 / fan_in));
  } else if (init == "lecun_normal") {
    truncated(std::sqrt(1.0 / fan_in));
  } else if (nn::VarianceScaling vs; nn::parse_variance_scaling(init, &vs)) {
    const double fan = vs.mode == "fan_in"    ? fan_in
                       : vs.mode == "fan_out" ? fan_out
                                              : (fan_in + fan_out) / 2;
    const double s = vs.scale / std::max(1.0, fan);
    if (vs.distribution == "uniform") {
      uniform(std::sqrt(3.0 * s));
    } else if (vs.distribution == "truncated_normal") {
      truncated(std::sqrt(s));
    } else {
      for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(std::sqrt(s) * rng.normal());
    }
  } else {
    throw Error(ErrorCode::kUnimplemented,
                "initializer '" + init +
                    "' is not supported; use glorot_uniform, glorot_normal, he_uniform, "
                    "he_normal, lecun_uniform, lecun_normal, zeros or ones");
  }
}

}  // namespace

void initialize_variables(const nn::Model& model, runtime::PersistentStore& store, uint64_t seed) {
  const std::vector<nn::ModelVariable> vars = model.variables();
  for (size_t i = 0; i < vars.size(); ++i) {
    const TensorView view = store.view(vars[i].full_name());
    initialize(vars[i].variable, view.f32(), mix64(seed ^ mix64(i + 1)));
  }
}

}  // namespace leantrain::train

#include "leantrain/train/probabilities.h"

#include <algorithm>
#include <cmath>

#include "leantrain/core/error.h"

namespace leantrain::train {

void as_probabilities(const nn::Model& model, std::span<float> outputs) {
  const int64_t width = model.output_shape().num_elements();
  LT_CHECK(width > 0 && static_cast<int64_t>(outputs.size()) % width == 0, kInvalidArgument,
           "as_probabilities: ", outputs.size(), " values are not rows of the model's ", width,
           " outputs");
  if (nn::outputs_probabilities(model)) return;
  const auto w = static_cast<size_t>(width);
  for (size_t start = 0; start < outputs.size(); start += w) {
    const std::span<float> row = outputs.subspan(start, w);
    if (w == 1) {
      row[0] = 1.0f / (1.0f + std::exp(-row[0]));
      continue;
    }
    const float max = *std::max_element(row.begin(), row.end());
    double sum = 0;
    for (float& v : row) {
      v = std::exp(v - max);
      sum += v;
    }
    for (float& v : row) v = static_cast<float>(v / sum);
  }
}

}  // namespace leantrain::train

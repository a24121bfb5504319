#include <ostream>
#include <sstream>

#include "cli/commands.h"
#include "leantrain/core/error.h"
#include "leantrain/memory/arena.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/train/trainer.h"

namespace leantrain::cli {

Shape parse_shape(const std::string& text) {
  std::vector<int64_t> dims;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, 'x')) {
    try {
      size_t used = 0;
      const long long d = std::stoll(part, &used);
      if (used != part.size() || d <= 0) throw std::invalid_argument(part);
      dims.push_back(d);
    } catch (const std::exception&) {
      throw Error(ErrorCode::kInvalidArgument,
                  "bad shape '" + text + "': expected positive sizes like 28x28x1");
    }
  }
  LT_CHECK(!dims.empty(), kInvalidArgument, "bad shape '", text, "': expected e.g. 28x28x1");
  return Shape(dims);
}

std::string shape_arg(const Shape& shape) {
  std::string text;
  for (const int64_t d : shape.dims()) text += (text.empty() ? "" : "x") + std::to_string(d);
  return text;
}

train::ModelRequest model_request(const std::string& input, int64_t classes) {
  train::ModelRequest request;
  if (!input.empty()) request.input_shape = parse_shape(input);
  if (classes > 0) request.classes = classes;
  return request;
}

train::Optimizer make_optimizer(const std::string& name, float learning_rate, float momentum,
                                bool nesterov) {
  if (name == "adam") {
    train::AdamOptions o;
    if (learning_rate > 0) o.learning_rate = learning_rate;
    return train::Adam(o);
  }
  if (name == "adamw") {
    train::AdamWOptions o;
    if (learning_rate > 0) o.learning_rate = learning_rate;
    return train::AdamW(o);
  }
  if (name == "sgd") {
    train::SGDOptions o;
    if (learning_rate > 0) o.learning_rate = learning_rate;
    o.momentum = momentum;
    o.nesterov = nesterov;
    return train::SGD(o);
  }
  throw Error(ErrorCode::kInvalidArgument,
              "unknown optimizer '" + name + "'; use adam, adamw or sgd");
}

train::Loss make_loss(const nn::Model& model) {
  return train::SparseCategoricalCrossentropy({.from_logits = !nn::outputs_probabilities(model)});
}

int64_t model_budget_bytes(const std::string& memory_budget, int64_t pipeline_bytes) {
  const int64_t whole = memory::parse_bytes(memory_budget);
  LT_CHECK(whole > pipeline_bytes, kOutOfBudget, "--memory-budget ", memory_budget,
           " leaves nothing for the model: the input pipeline's buffers alone take ",
           memory::format_iec_bytes(pipeline_bytes));
  return whole - pipeline_bytes;
}

void print_predicted_peak(const train::MemoryReport& plan, std::ostream& out) {
  out << "Predicted peak memory: " << memory::readable_bytes(plan.predicted_peak_bytes)
      << " (persistent " << memory::readable_bytes(plan.persistent_bytes) << " + arena "
      << memory::readable_bytes(plan.arena_bytes) << " + input pipeline "
      << (plan.pipeline_bytes >= 0 ? memory::readable_bytes(plan.pipeline_bytes)
                                   : std::string("unknown"))
      << (plan.staging_bytes > 0
              ? " + micro-batch staging " + memory::readable_bytes(plan.staging_bytes)
              : std::string())
      << " + programs and kernels " << memory::readable_bytes(plan.runtime_bytes) << ")\n";
}

}  // namespace leantrain::cli

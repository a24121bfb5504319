// Trainer's weights: to and from safetensors files, and as arrays (Keras' get/set_weights).
#include <algorithm>

#include "leantrain/core/error.h"
#include "leantrain/nn/serialization.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/safetensors.h"
#include "leantrain/train/trainer.h"

namespace leantrain::train {

std::vector<std::vector<float>> Trainer::get_weights() const {
  std::vector<std::vector<float>> out;
  for (const nn::ModelVariable& v : model_.variables()) {
    const TensorView t = store_->view(v.full_name());
    out.emplace_back(t.f32(), t.f32() + t.num_elements());
  }
  return out;
}

void Trainer::set_weights(const std::vector<std::vector<float>>& weights) {
  const std::vector<nn::ModelVariable> vars = model_.variables();
  LT_CHECK(weights.size() == vars.size(), kInvalidArgument, "set_weights: the model has ",
           vars.size(), " variables, got ", weights.size(), " arrays");
  for (size_t i = 0; i < vars.size(); ++i) {
    LT_CHECK(static_cast<int64_t>(weights[i].size()) == vars[i].variable.shape.num_elements(),
             kInvalidArgument, "set_weights: '", vars[i].full_name(), "' has ",
             vars[i].variable.shape.num_elements(), " elements, got ", weights[i].size());
  }
  for (size_t i = 0; i < vars.size(); ++i) {
    std::copy(weights[i].begin(), weights[i].end(), store_->view(vars[i].full_name()).f32());
  }
}

void Trainer::save_weights(const std::string& path) const {
  std::vector<NamedTensorView> tensors;
  for (const nn::ModelVariable& v : model_.variables()) {
    tensors.push_back({v.full_name(), store_->view(v.full_name())});
  }
  write_safetensors(
      path, tensors,
      {{"format", "leantrain"}, {"model", model_.name()}, {"keras_config", nn::to_json(model_)}});
}

void Trainer::load_weights(const std::string& path) {
  const SafetensorsFile file = read_safetensors(path);
  const std::vector<nn::ModelVariable> vars = model_.variables();
  // Check everything before changing anything.
  for (const nn::ModelVariable& v : vars) {
    const StoredTensor* t = file.find(v.full_name());
    LT_CHECK(t != nullptr, kInvalidArgument, path, ": no tensor '", v.full_name(),
             "' for the model's variable of that name (model '", model_.name(),
             "'); the file was saved from a different model");
    LT_CHECK(t->dtype == DType::kF32 && t->shape == v.variable.shape, kInvalidArgument, path,
             ": tensor '", v.full_name(), "' is ", dtype_name(t->dtype), " ", t->shape.to_string(),
             " but the model's variable is f32 ", v.variable.shape.to_string());
  }
  for (const StoredTensor& t : file.tensors()) {
    const bool known = std::any_of(vars.begin(), vars.end(), [&](const nn::ModelVariable& v) {
      return v.full_name() == t.name;
    });
    LT_CHECK(known, kInvalidArgument, path, ": tensor '", t.name, "' is not a variable of model '",
             model_.name(), "'; the file was saved from a different model");
  }
  for (const nn::ModelVariable& v : vars) {
    file.at(v.full_name()).copy_to(store_->view(v.full_name()));
  }
}

}  // namespace leantrain::train

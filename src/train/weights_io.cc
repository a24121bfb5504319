// Trainer's weights: to and from safetensors files, and as arrays (Keras' get/set_weights).
#include <algorithm>
#include <cstring>

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

void Trainer::copy_training_state(const Trainer& from) {
  const auto carried = [](const runtime::PersistentStore& store) {
    std::vector<std::string> names;
    for (const std::string& name : store.names()) {
      if (store.kind(name) != graph::ValueKind::kGradient) names.push_back(name);
    }
    return names;
  };
  const std::vector<std::string> names = carried(*store_);
  const std::vector<std::string> from_names = carried(*from.store_);
  for (const std::string& name : from_names) {
    LT_CHECK(store_->contains(name) && store_->kind(name) == from.store_->kind(name),
             kInvalidArgument, "copy_training_state: '", name, "' (",
             graph::value_kind_name(from.store_->kind(name)), ") of model '", from.model_.name(),
             "' has no counterpart in model '", model_.name(),
             "'; the state carries over only between trainers of one model and "
             "optimizer");
    const TensorView src = from.store_->view(name), dst = store_->view(name);
    LT_CHECK(src.dtype == dst.dtype && src.shape == dst.shape, kInvalidArgument,
             "copy_training_state: '", name, "' is ", dtype_name(src.dtype), src.shape.to_string(),
             " in the source but ", dtype_name(dst.dtype), dst.shape.to_string(), " here");
  }
  LT_CHECK(names.size() == from_names.size(), kInvalidArgument, "copy_training_state: model '",
           model_.name(), "' holds ", names.size(),
           " persistent tensors besides gradients, the "
           "source ",
           from_names.size(),
           "; the state carries over only between trainers of one "
           "model and optimizer");
  for (const std::string& name : from_names) {
    const TensorView src = from.store_->view(name);
    std::memcpy(store_->view(name).data, src.data, static_cast<size_t>(src.bytes()));
  }
  iteration_ = from.iteration_;
  learning_rate_ = from.learning_rate_;
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

namespace {

// The stored tensor of each variable: by name; or, when the names differ (the same
// architecture built again, its layers numbered on: conv2d_1 for conv2d), by position when the
// file holds exactly the model's shapes in its order, as Keras matches a .weights.h5 file.
std::vector<const StoredTensor*> match_weights(const SafetensorsFile& file,
                                               const std::vector<nn::ModelVariable>& vars,
                                               const std::string& path, const nn::Model& model) {
  std::vector<const StoredTensor*> found;
  for (const nn::ModelVariable& v : vars) found.push_back(file.find(v.full_name()));
  const bool by_name = std::all_of(found.begin(), found.end(), [](auto* t) { return t; });
  const std::vector<StoredTensor>& stored = file.tensors();
  if (!by_name && stored.size() == vars.size()) {
    bool same_shapes = true;
    for (size_t i = 0; i < vars.size(); ++i) {
      same_shapes = same_shapes && stored[i].shape == vars[i].variable.shape;
    }
    if (same_shapes) {
      for (size_t i = 0; i < vars.size(); ++i) found[i] = &stored[i];
    }
  }
  // Check everything before changing anything.
  for (size_t i = 0; i < vars.size(); ++i) {
    const nn::ModelVariable& v = vars[i];
    LT_CHECK(found[i] != nullptr, kInvalidArgument, path, ": no tensor '", v.full_name(),
             "' for the model's variable of that name (model '", model.name(),
             "'), nor the model's shapes in its order; the file was saved from a different "
             "model");
    const StoredTensor& t = *found[i];
    LT_CHECK(t.dtype == DType::kF32 && t.shape == v.variable.shape, kInvalidArgument, path,
             ": tensor '", t.name, "' is ", dtype_name(t.dtype), " ", t.shape.to_string(),
             " but the model's variable ", v.full_name(), " is f32 ", v.variable.shape.to_string());
  }
  LT_CHECK(stored.size() == vars.size(), kInvalidArgument, path, ": the file holds ", stored.size(),
           " tensors but model '", model.name(), "' has ", vars.size(),
           " variables; the file was saved from a different model");
  return found;
}

}  // namespace

void Trainer::load_weights(const std::string& path) {
  const SafetensorsFile file = read_safetensors(path);
  const std::vector<nn::ModelVariable> vars = model_.variables();
  const std::vector<const StoredTensor*> found = match_weights(file, vars, path, model_);
  for (size_t i = 0; i < vars.size(); ++i) {
    found[i]->copy_to(store_->view(vars[i].full_name()));
  }
}

}  // namespace leantrain::train

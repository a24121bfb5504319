#include "leantrain/train/model_file.h"

#include <filesystem>

#include "leantrain/core/error.h"
#include "leantrain/core/file.h"
#include "leantrain/nn/serialization.h"
#include "leantrain/train/safetensors.h"

namespace leantrain::train {
namespace {

bool is_json(const std::string& path) { return std::filesystem::path(path).extension() == ".json"; }

bool is_model_file(const std::string& model) {
  const std::filesystem::path extension = std::filesystem::path(model).extension();
  return extension == ".json" || extension == ".safetensors" || std::filesystem::exists(model);
}

}  // namespace

nn::Model load_model_architecture(const std::string& path) {
  if (is_json(path)) return nn::model_from_json(read_file(path));
  const SafetensorsFile file = read_safetensors(path);
  auto it = file.metadata().find("keras_config");
  LT_CHECK(it != file.metadata().end(), kInvalidArgument, path,
           ": holds weights but no architecture (no \"keras_config\" metadata); build the model "
           "in code and call load_weights, or pass a Keras model.to_json() file");
  return nn::model_from_json(it->second);
}

std::unique_ptr<Trainer> load_model(const std::string& path, CompileOptions options) {
  auto trainer = std::make_unique<Trainer>(load_model_architecture(path), std::move(options));
  if (!is_json(path)) trainer->load_weights(path);
  return trainer;
}

nn::Model resolve_model(const std::string& model, const ModelRequest& request) {
  if (is_model_file(model)) return load_model_architecture(model);
  const nn::ZooDefaults defaults = nn::zoo_defaults(model);
  return nn::make_model(model, request.input_shape.value_or(defaults.input_shape),
                        request.classes.value_or(defaults.classes), request.seed, request.zoo);
}

}  // namespace leantrain::train

// Model files: the architecture and the weights in one file. Trainer::save_weights writes
// safetensors whose metadata holds the architecture as Keras 3 JSON ("keras_config", as
// model.to_json() writes it), so every weights file leantrain writes is also a model file.
#pragma once

#include <memory>
#include <string>

#include "leantrain/nn/model.h"
#include "leantrain/train/trainer.h"

namespace leantrain::train {

// Returns the architecture in `path`: a leantrain weights file (.safetensors with
// "keras_config" metadata) or a Keras 3 `model.to_json()` file (.json). Throws
// Error(kNotFound) for a missing file, Error(kInvalidArgument) for a safetensors file without
// an architecture, and what nn::model_from_json throws for an unsupported one.
nn::Model load_model_architecture(const std::string& path);

// Keras' load_model: the architecture from `path`, compiled with `options`, with the weights of
// `path` loaded when it is a safetensors file (a .json file gives freshly initialized weights).
std::unique_ptr<Trainer> load_model(const std::string& path, CompileOptions options = {});

}  // namespace leantrain::train

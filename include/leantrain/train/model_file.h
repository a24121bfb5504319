// Model files: the architecture and the weights in one file. Trainer::save_weights writes
// safetensors whose metadata holds the architecture as Keras 3 JSON ("keras_config", as
// model.to_json() writes it), so every weights file leantrain writes is also a model file.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "leantrain/core/shape.h"
#include "leantrain/nn/model.h"
#include "leantrain/nn/zoo.h"
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

// How resolve_model builds a zoo model; a model file carries its own architecture and ignores
// these.
struct ModelRequest {
  std::optional<Shape> input_shape;  // unset: the model's nn::zoo_defaults
  std::optional<int64_t> classes;    // unset: the model's nn::zoo_defaults
  uint64_t seed = 0;                 // see nn::make_model
  nn::ZooOptions zoo = {};
};

// Returns the model a --model argument names: the architecture of a model file
// (load_model_architecture) when `model` is an existing path or ends in .json or .safetensors,
// else the zoo model of that name (nn::make_model, logits) built with the request's input shape
// and classes, or the model's defaults where unset. Throws what load_model_architecture throws
// (Error(kNotFound) naming a missing file), and what nn::zoo_defaults and nn::make_model throw
// (Error(kNotFound) listing the zoo names for an unknown one).
nn::Model resolve_model(const std::string& model, const ModelRequest& request = {});

}  // namespace leantrain::train

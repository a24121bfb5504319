// Model architecture as Keras JSON: Keras 3's model.to_json() and keras.models.model_from_json()
// for leantrain models, so that a Keras user can bring a model over and take it back.
//
// Written (keras/src/models/{functional,sequential}.py, keras/src/saving/serialization_lib.py):
//   Sequential: {"module": "keras", "class_name": "Sequential", "config": {"name", "trainable",
//     "dtype", "layers": [InputLayer, ...each layer's {module, class_name, config,
//     registered_name[, build_config]}], "build_input_shape"}, "registered_name": null,
//     "build_config": {"input_shape": [null, ...]}, "compile_config": {}}
//   any other Model: {"module": "keras.src.models.functional", "class_name": "Functional",
//     "config": {"name", "trainable", "layers": [{module, class_name, config, registered_name,
//     [build_config], name, inbound_nodes: [{"args": [...__keras_tensor__...], "kwargs": {}}]}],
//     "input_layers", "output_layers"}, "registered_name": "Functional", "build_config":
//     {"input_shape": null}, "compile_config": {}}
//   input_layers / output_layers are [name, node_index, tensor_index] for a model with one input
//   (one output), as Keras writes keras.Model(x, y), and a list of them otherwise.
// Each layer's config has the keys of keras@3.16 in its order, including those added since 3.0
// (InputLayer optional, Dense quantization_config: 3.13; BatchNormalization renorm: 3.14;
// VarianceScaling input_axes / output_axes: 3.15): a Keras 3 older than 3.15 may refuse keys it
// does not know yet. Floats print as the shortest decimal of their float32 value (0.99, not
// 0.9900000095367432).
//
// Read: Keras 3 output as above, and the older Keras 2 / tf.keras 2 layout where cheap
// (inbound_nodes as [[["name", 0, 0, {}]]], class_name "Model", "batch_input_shape" on the
// InputLayer or on a Sequential's first layer, dtype as a string, initializers as
// {"class_name", "config"} or strings such as "glorot_uniform", VarianceScaling as the named
// initializer it equals or any other VarianceScaling (as variance_scaling_name()), L1L2 with l1 =
// 0, Dropout noise_shape (None, 1, 1, 1)). Ignored because they do not change the model: module,
// registered_name, build_config, compile_config, keras_version, backend, shared_object_id,
// trainable=true, a float32 dtype or dtype policy, data_format channels_last, initializer
// seeds, an InputLayer's fixed batch size, and unknown arguments whose value is null or false.
// Layers called several times (shared layers) are supported; they share their variables.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "leantrain/nn/model.h"

namespace leantrain::nn {

// Keras 3's serialize_keras_object(model), keys in Keras' order. Throws Error(kUnimplemented)
// naming the first layer, or initializer, that has no Keras form.
nlohmann::ordered_json to_keras_config(const Model& model);

// Keras 3's model.to_json(): to_keras_config() printed as Python's json.dumps prints it
// (", " and ": " separators, non-ASCII escaped). Throws what to_keras_config throws.
std::string to_json(const Model& model);

// keras.models.model_from_json(): the model `json` describes, its layers named as in the JSON,
// a Sequential for class_name "Sequential". Throws Error, every message starting with
// "Keras JSON: ":
//   kDataLoss        malformed JSON, naming the line, column and byte offset;
//   kUnimplemented   a layer class leantrain does not have (naming the layer and the classes
//                    it has), or an argument it cannot honour (naming the layer, the argument,
//                    its value and what would work): data_format channels_first, a non-null
//                    constraint, an activity or bias regularizer, trainable=false, a dtype
//                    other than float32, a call keyword other than training (true, false or
//                    null: as Keras records it) with a non-null value, nested models, ...;
//   kInvalidArgument a config that is not a model: missing or mistyped keys, duplicate layer
//                    names, an inbound node reading a layer or node that does not exist (a
//                    dangling node), shapes that do not fit (naming the layer).
Model model_from_json(const std::string& json);
// As model_from_json, for a parsed config; throws the same except kDataLoss.
Model model_from_keras_config(const nlohmann::json& config);

}  // namespace leantrain::nn

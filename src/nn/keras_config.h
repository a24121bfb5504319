// Keras 3 layer configs (layer.get_config()) for the layer files: each layer's get_config()
// override passes its fields to one of these, which write Keras' keys in Keras' order with
// Keras' defaults (keras/src/layers/**: get_config of each layer, keras/src/initializers,
// keras/src/regularizers). Model-level JSON: to_json in keras_json_writer.cc, model_from_json in
// serialization.cc.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "leantrain/nn/layers.h"
#include "ops/ops.h"

namespace leantrain::nn::keras {

using Json = nlohmann::ordered_json;

// {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
//  "registered_name": null}: every leantrain layer computes and keeps float32.
Json dtype_policy();
// Layer.get_config(): {"name", "trainable": true, "dtype": dtype_policy()}.
Json base_config(const Layer& layer);
// A Python tuple of two ints as JSON writes it: [h, w].
Json pair(int64_t h, int64_t w);
inline Json pair(Size2 s) { return pair(s.h, s.w); }
// The shortest decimal that reads back as `value` (0.99f -> 0.99), as Python writes the float
// the user typed; float32 options would otherwise print as 0.9900000095367432.
double decimal(float value);
// initializers.serialize(): {"module": "keras.initializers", "class_name": "GlorotUniform",
// "config": {"seed": null}, "registered_name": null}. Accepts Keras' snake-case names and class
// names ("glorot_uniform", "GlorotUniform", "zeros", "ones", ...) and variance_scaling_name()s
// (written as VarianceScaling); throws Error(kUnimplemented) naming the initializer for one
// leantrain does not have.
Json initializer(const std::string& name);
// regularizers.serialize(): null for l2 == 0, else {"module": "keras.regularizers",
// "class_name": "L2", "config": {"l2": l2}, "registered_name": null}.
Json regularizer(float l2);
// activations.serialize(): the Keras function name ("" -> "linear", "swish" -> "silu").
std::string activation_name(const std::string& activation);
// "valid" or "same".
const char* padding_name(ops::Padding padding);

// The configs of layers whose options are spread over fields (the rest take their options
// struct).
Json input_config(const Layer& layer, const Shape& shape);
Json conv_config(const Layer& layer, bool depthwise, int64_t filters_or_multiplier,
                 const ops::ConvAttrs& attrs, const std::string& activation, bool use_bias,
                 const std::string& kernel_initializer, const std::string& bias_initializer,
                 const Regularizer& kernel_regularizer);
Json separable_conv_config(const Layer& layer, const SeparableConv2DOptions& o);
Json dense_config(const Layer& layer, const DenseOptions& o);
Json batch_norm_config(const Layer& layer, const BatchNormalizationOptions& o);
// Activation, ReLU (activation "relu" or "relu6") and Softmax, by class name.
Json activation_config(const Layer& layer, const std::string& class_name,
                       const std::string& activation);
Json pool_config(const Layer& layer, const ops::PoolAttrs& attrs);
Json global_pool_config(const Layer& layer, bool keepdims);
// Flatten for an empty target, else Reshape.
Json reshape_config(const Layer& layer, const Shape& target_shape);
Json dropout_config(const Layer& layer, const DropoutOptions& o);
Json merge_config(const Layer& layer);  // Add, Multiply
Json concatenate_config(const Layer& layer, int axis);
Json zero_padding_config(const Layer& layer, int64_t top, int64_t bottom, int64_t left,
                         int64_t right);
Json rescaling_config(const Layer& layer, float scale, float offset);
Json resizing_config(const Layer& layer, int64_t height, int64_t width,
                     const std::string& interpolation);

}  // namespace leantrain::nn::keras

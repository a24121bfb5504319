// Keras 3 layer configs: the keys, their order and the defaults of each layer's get_config() in
// keras@HEAD (3.16). Keys a Keras layer writes for features leantrain does not have are written
// with their off values (constraints null, renorm false, ...).
#include "nn/keras_config.h"

#include <cstdio>
#include <cstdlib>
#include <map>

#include "leantrain/core/error.h"

namespace leantrain::nn::keras {

Json dtype_policy() {
  return Json{{"module", "keras"},
              {"class_name", "DTypePolicy"},
              {"config", Json{{"name", "float32"}}},
              {"registered_name", nullptr}};
}

Json base_config(const Layer& layer) {
  return Json{{"name", layer.name()}, {"trainable", true}, {"dtype", dtype_policy()}};
}

Json pair(int64_t h, int64_t w) { return Json::array({h, w}); }

double decimal(float value) {
  char text[32];
  for (int precision = 1; precision <= 9; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, static_cast<double>(value));
    if (std::strtof(text, nullptr) == value) return std::strtod(text, nullptr);
  }
  return static_cast<double>(value);  // 9 significant digits always read back; not reached
}

namespace {

// Keras' snake-case initializer names -> class names (keras/src/initializers/__init__.py).
const std::map<std::string, std::string>& initializer_classes() {
  static const std::map<std::string, std::string> classes{{"glorot_uniform", "GlorotUniform"},
                                                          {"glorot_normal", "GlorotNormal"},
                                                          {"he_uniform", "HeUniform"},
                                                          {"he_normal", "HeNormal"},
                                                          {"lecun_uniform", "LecunUniform"},
                                                          {"lecun_normal", "LecunNormal"},
                                                          {"zeros", "Zeros"},
                                                          {"ones", "Ones"}};
  return classes;
}

}  // namespace

Json initializer(const std::string& name) {
  if (VarianceScaling v; parse_variance_scaling(name, &v)) {
    // random_initializers.py VarianceScaling.get_config (input_axes, output_axes: Keras 3.15+).
    return Json{{"module", "keras.initializers"},
                {"class_name", "VarianceScaling"},
                {"config", Json{{"seed", nullptr},
                                {"scale", v.scale},
                                {"mode", v.mode},
                                {"distribution", v.distribution},
                                {"input_axes", nullptr},
                                {"output_axes", nullptr}}},
                {"registered_name", nullptr}};
  }
  std::string class_name;
  for (const auto& [snake, cls] : initializer_classes()) {
    if (name == snake || name == cls) class_name = cls;
  }
  LT_CHECK(!class_name.empty(), kUnimplemented, "initializer '", name,
           "' has no Keras form in leantrain; use glorot_uniform, glorot_normal, he_uniform, "
           "he_normal, lecun_uniform, lecun_normal, zeros, ones or a variance_scaling_name()");
  const bool seeded = class_name != "Zeros" && class_name != "Ones";
  return Json{{"module", "keras.initializers"},
              {"class_name", class_name},
              {"config", seeded ? Json{{"seed", nullptr}} : Json::object()},
              {"registered_name", nullptr}};
}

Json regularizer(float l2) {
  if (l2 == 0.0f) return nullptr;
  return Json{{"module", "keras.regularizers"},
              {"class_name", "L2"},
              {"config", Json{{"l2", decimal(l2)}}},
              {"registered_name", nullptr}};
}

std::string activation_name(const std::string& activation) {
  if (activation.empty()) return "linear";
  if (activation == "swish") return "silu";
  return activation;
}

const char* padding_name(ops::Padding padding) {
  return padding == ops::Padding::kSame ? "same" : "valid";
}

Json input_config(const Layer& layer, const Shape& shape) {
  Json batch_shape = Json::array({nullptr});
  for (int64_t d : shape.dims()) batch_shape.push_back(d);
  return Json{
      {"batch_shape", batch_shape}, {"dtype", "float32"}, {"sparse", false}, {"ragged", false},
      {"name", layer.name()},       {"optional", false}};
}

Json conv_config(const Layer& layer, bool depthwise, int64_t filters_or_multiplier,
                 const ops::ConvAttrs& a, const std::string& activation, bool use_bias,
                 const std::string& kernel_initializer, const std::string& bias_initializer,
                 const Regularizer& kernel_regularizer) {
  // base_conv.py / base_depthwise_conv.py get_config.
  const std::string kernel = depthwise ? "depthwise" : "kernel";
  Json c = base_config(layer);
  c[depthwise ? "depth_multiplier" : "filters"] = filters_or_multiplier;
  c["kernel_size"] = pair(a.kernel_h, a.kernel_w);
  c["strides"] = pair(a.stride_h, a.stride_w);
  c["padding"] = padding_name(a.padding);
  c["data_format"] = "channels_last";
  c["dilation_rate"] = pair(a.dilation_h, a.dilation_w);
  if (!depthwise) c["groups"] = a.groups;
  c["activation"] = activation_name(activation);
  c["use_bias"] = use_bias;
  c[kernel + "_initializer"] = initializer(kernel_initializer);
  c["bias_initializer"] = initializer(bias_initializer);
  c[kernel + "_regularizer"] = regularizer(kernel_regularizer.l2);
  c["bias_regularizer"] = nullptr;
  c["activity_regularizer"] = nullptr;
  c[kernel + "_constraint"] = nullptr;
  c["bias_constraint"] = nullptr;
  return c;
}

Json separable_conv_config(const Layer& layer, const SeparableConv2DOptions& o) {
  // base_separable_conv.py get_config.
  Json c = base_config(layer);
  c["depth_multiplier"] = o.depth_multiplier;
  c["filters"] = o.filters;
  c["kernel_size"] = pair(o.kernel_size);
  c["strides"] = pair(o.strides);
  c["padding"] = padding_name(ops::parse_padding(o.padding));
  c["data_format"] = "channels_last";
  c["dilation_rate"] = pair(o.dilation_rate);
  c["activation"] = activation_name(o.activation);
  c["use_bias"] = o.use_bias;
  c["depthwise_initializer"] = initializer(o.depthwise_initializer);
  c["pointwise_initializer"] = initializer(o.pointwise_initializer);
  c["bias_initializer"] = initializer(o.bias_initializer);
  c["depthwise_regularizer"] = regularizer(o.depthwise_regularizer.l2);
  c["pointwise_regularizer"] = regularizer(o.pointwise_regularizer.l2);
  c["bias_regularizer"] = nullptr;
  c["activity_regularizer"] = nullptr;
  c["depthwise_constraint"] = nullptr;
  c["pointwise_constraint"] = nullptr;
  c["bias_constraint"] = nullptr;
  return c;
}

Json dense_config(const Layer& layer, const DenseOptions& o) {
  // core/dense.py get_config; quantization_config since Keras 3.13.
  Json c = base_config(layer);
  c["units"] = o.units;
  c["activation"] = activation_name(o.activation);
  c["use_bias"] = o.use_bias;
  c["kernel_initializer"] = initializer(o.kernel_initializer);
  c["bias_initializer"] = initializer(o.bias_initializer);
  c["kernel_regularizer"] = regularizer(o.kernel_regularizer.l2);
  c["bias_regularizer"] = nullptr;
  c["kernel_constraint"] = nullptr;
  c["bias_constraint"] = nullptr;
  c["quantization_config"] = nullptr;
  return c;
}

Json batch_norm_config(const Layer& layer, const BatchNormalizationOptions& o) {
  // normalization/batch_normalization.py get_config.
  Json c = base_config(layer);
  c["axis"] = o.axis;
  c["momentum"] = decimal(o.momentum);
  c["epsilon"] = decimal(o.epsilon);
  c["center"] = true;
  c["scale"] = true;
  c["beta_initializer"] = initializer("zeros");
  c["gamma_initializer"] = initializer("ones");
  c["moving_mean_initializer"] = initializer("zeros");
  c["moving_variance_initializer"] = initializer("ones");
  c["beta_regularizer"] = nullptr;
  c["gamma_regularizer"] = nullptr;
  c["beta_constraint"] = nullptr;
  c["gamma_constraint"] = nullptr;
  c["synchronized"] = false;
  c["renorm"] = false;
  c["renorm_clipping"] = nullptr;
  c["renorm_momentum"] = 0.99;
  return c;
}

Json activation_config(const Layer& layer, const std::string& class_name,
                       const std::string& activation) {
  Json c = base_config(layer);
  if (class_name == "ReLU") {
    // activations/relu.py: max_value None or the float given.
    c["max_value"] = activation == "relu6" ? Json(6.0) : Json(nullptr);
    c["negative_slope"] = 0.0;
    c["threshold"] = 0.0;
  } else if (class_name == "Softmax") {
    c["axis"] = -1;
  } else {
    c["activation"] = activation_name(activation);
  }
  return c;
}

Json pool_config(const Layer& layer, const ops::PoolAttrs& a) {
  // pooling/base_pooling.py: strides None is stored as the pool size.
  Json c = base_config(layer);
  c["pool_size"] = pair(a.pool_h, a.pool_w);
  c["padding"] = padding_name(a.padding);
  c["strides"] = pair(a.stride_h, a.stride_w);
  c["data_format"] = "channels_last";
  return c;
}

Json global_pool_config(const Layer& layer, bool keepdims) {
  Json c = base_config(layer);
  c["data_format"] = "channels_last";
  c["keepdims"] = keepdims;
  return c;
}

Json reshape_config(const Layer& layer, const Shape& target_shape) {
  Json c = base_config(layer);
  if (target_shape.rank() == 0) {
    c["data_format"] = "channels_last";
  } else {
    Json dims = Json::array();
    for (int64_t d : target_shape.dims()) dims.push_back(d);
    c["target_shape"] = dims;
  }
  return c;
}

Json dropout_config(const Layer& layer, const DropoutOptions& o) {
  // regularization/dropout.py; leantrain's seed 0 means none.
  Json c = base_config(layer);
  c["rate"] = decimal(o.rate);
  c["seed"] = o.seed == 0 ? Json(nullptr) : Json(o.seed);
  c["noise_shape"] = nullptr;
  return c;
}

Json merge_config(const Layer& layer) { return base_config(layer); }

Json concatenate_config(const Layer& layer, int axis) {
  Json c = base_config(layer);
  c["axis"] = axis;
  return c;
}

Json zero_padding_config(const Layer& layer, int64_t top, int64_t bottom, int64_t left,
                         int64_t right) {
  Json c = base_config(layer);
  c["padding"] = Json::array({pair(top, bottom), pair(left, right)});
  c["data_format"] = "channels_last";
  return c;
}

Json rescaling_config(const Layer& layer, float scale, float offset) {
  Json c = base_config(layer);
  c["scale"] = decimal(scale);
  c["offset"] = decimal(offset);
  return c;
}

Json resizing_config(const Layer& layer, int64_t height, int64_t width,
                     const std::string& interpolation) {
  // image_preprocessing/resizing.py: data_format comes first, from the base class's config.
  Json c = base_config(layer);
  c["data_format"] = "channels_last";
  c["height"] = height;
  c["width"] = width;
  c["interpolation"] = interpolation;
  c["crop_to_aspect_ratio"] = false;
  c["pad_to_aspect_ratio"] = false;
  c["fill_mode"] = "constant";
  c["fill_value"] = 0.0;
  c["antialias"] = false;
  return c;
}

}  // namespace leantrain::nn::keras

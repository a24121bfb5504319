// Keras layer configs (layer.get_config()) to leantrain layers: one parser per supported
// class, each reading its keys through a ConfigReader that refuses what it did not read.
#include <map>
#include <string>

#include "nn/keras_json_reader.h"

namespace leantrain::nn::keras_json {
namespace {

constexpr const char* kNoConstraints = "leantrain has no weight constraints";
constexpr const char* kKernelRegularizerOnly =
    "leantrain regularizes kernels only (kernel_regularizer L2)";

LayerPtr parse_conv2d(ConfigReader& r, const std::string& name) {
  Conv2DOptions o;
  o.filters = r.integer("filters");
  o.kernel_size = r.size2("kernel_size");
  o.strides = r.size2("strides", Size2(1));
  o.padding = r.padding();
  r.channels_last();
  o.dilation_rate = r.size2("dilation_rate", Size2(1));
  o.groups = r.integer("groups", 1);
  o.activation = r.activation();
  o.use_bias = r.boolean("use_bias", true);
  o.kernel_initializer = r.initializer("kernel_initializer", "glorot_uniform");
  o.bias_initializer = r.initializer("bias_initializer", "zeros");
  o.kernel_regularizer = Regularizer{r.regularizer("kernel_regularizer")};
  r.none("bias_regularizer", kKernelRegularizerOnly);
  r.none("kernel_constraint", kNoConstraints);
  r.none("bias_constraint", kNoConstraints);
  o.name = name;
  return Conv2D(o);
}

LayerPtr parse_depthwise_conv2d(ConfigReader& r, const std::string& name) {
  DepthwiseConv2DOptions o;
  o.kernel_size = r.size2("kernel_size");
  o.strides = r.size2("strides", Size2(1));
  o.padding = r.padding();
  o.depth_multiplier = r.integer("depth_multiplier", 1);
  r.channels_last();
  o.dilation_rate = r.size2("dilation_rate", Size2(1));
  o.activation = r.activation();
  o.use_bias = r.boolean("use_bias", true);
  o.depthwise_initializer = r.initializer("depthwise_initializer", "glorot_uniform");
  o.bias_initializer = r.initializer("bias_initializer", "zeros");
  o.depthwise_regularizer = Regularizer{r.regularizer("depthwise_regularizer")};
  r.none("bias_regularizer", kKernelRegularizerOnly);
  r.none("depthwise_constraint", kNoConstraints);
  r.none("bias_constraint", kNoConstraints);
  o.name = name;
  return DepthwiseConv2D(o);
}

LayerPtr parse_separable_conv2d(ConfigReader& r, const std::string& name) {
  SeparableConv2DOptions o;
  o.filters = r.integer("filters");
  o.kernel_size = r.size2("kernel_size");
  o.strides = r.size2("strides", Size2(1));
  o.padding = r.padding();
  r.channels_last();
  o.dilation_rate = r.size2("dilation_rate", Size2(1));
  o.depth_multiplier = r.integer("depth_multiplier", 1);
  o.activation = r.activation();
  o.use_bias = r.boolean("use_bias", true);
  o.depthwise_initializer = r.initializer("depthwise_initializer", "glorot_uniform");
  o.pointwise_initializer = r.initializer("pointwise_initializer", "glorot_uniform");
  o.bias_initializer = r.initializer("bias_initializer", "zeros");
  o.depthwise_regularizer = Regularizer{r.regularizer("depthwise_regularizer")};
  o.pointwise_regularizer = Regularizer{r.regularizer("pointwise_regularizer")};
  r.none("bias_regularizer", kKernelRegularizerOnly);
  r.none("depthwise_constraint", kNoConstraints);
  r.none("pointwise_constraint", kNoConstraints);
  r.none("bias_constraint", kNoConstraints);
  o.name = name;
  return SeparableConv2D(o);
}

LayerPtr parse_dense(ConfigReader& r, const std::string& name) {
  DenseOptions o;
  o.units = r.integer("units");
  o.activation = r.activation();
  o.use_bias = r.boolean("use_bias", true);
  o.kernel_initializer = r.initializer("kernel_initializer", "glorot_uniform");
  o.bias_initializer = r.initializer("bias_initializer", "zeros");
  o.kernel_regularizer = Regularizer{r.regularizer("kernel_regularizer")};
  r.none("bias_regularizer", kKernelRegularizerOnly);
  r.none("kernel_constraint", kNoConstraints);
  r.none("bias_constraint", kNoConstraints);
  o.name = name;
  return Dense(o);
}

LayerPtr parse_batch_norm(ConfigReader& r, const std::string& name) {
  BatchNormalizationOptions o;
  if (const Json* axis = r.get("axis")) {
    // Keras 3 writes an int; tf.keras 2 a list of one.
    const Json& a = axis->is_array() && axis->size() == 1 ? (*axis)[0] : *axis;
    const std::optional<int64_t> v = as_integer(a);
    if (!v) r.invalid("axis", "an integer", *axis);
    o.axis = static_cast<int>(*v);
  }
  o.momentum = static_cast<float>(r.number("momentum", 0.99));
  o.epsilon = static_cast<float>(r.number("epsilon", 1e-3));
  r.expect("center", true, "leantrain's BatchNormalization always has beta (center=true)");
  r.expect("scale", true, "leantrain's BatchNormalization always has gamma (scale=true)");
  const char* fixed =
      "leantrain's BatchNormalization starts beta and moving_mean at zeros, "
      "gamma and moving_variance at ones";
  const std::pair<const char*, const char*> inits[] = {{"beta_initializer", "zeros"},
                                                       {"gamma_initializer", "ones"},
                                                       {"moving_mean_initializer", "zeros"},
                                                       {"moving_variance_initializer", "ones"}};
  for (const auto& [key, init] : inits) {
    if (r.initializer(key, init) != init) r.unsupported(key, *r.get(key), fixed);
  }
  r.none("beta_regularizer", kKernelRegularizerOnly);
  r.none("gamma_regularizer", kKernelRegularizerOnly);
  r.none("beta_constraint", kNoConstraints);
  r.none("gamma_constraint", kNoConstraints);
  r.expect("synchronized", false,
           "leantrain's data-parallel training keeps batch statistics per process");
  r.expect("renorm", false, "leantrain has no batch renormalization");
  r.ignore("renorm_clipping");  // only read with renorm
  r.ignore("renorm_momentum");
  o.name = name;
  return BatchNormalization(o);
}

LayerPtr parse_activation(ConfigReader& r, const std::string& name) {
  const Json* j = r.get("activation");
  if (j == nullptr) r.invalid("activation", "an activation name", Json());
  return Activation(r.activation(), name);
}

LayerPtr parse_relu(ConfigReader& r, const std::string& name) {
  ReLUOptions o;
  if (const Json* max = r.get("max_value")) {
    if (!max->is_number() || max->get<double>() != 6.0) {
      r.unsupported("max_value", *max, "leantrain's ReLU takes max_value None or 6");
    }
    o.max_value = 6.0f;
  }
  r.expect("negative_slope", 0, "leantrain's ReLU has negative_slope 0");
  r.expect("threshold", 0, "leantrain's ReLU has threshold 0");
  o.name = name;
  return ReLU(o);
}

LayerPtr parse_softmax(ConfigReader& r, const std::string& name) {
  SoftmaxOptions o;
  o.axis = static_cast<int>(r.integer("axis", -1));
  o.name = name;
  return Softmax(o);
}

Pooling2DOptions pooling_options(ConfigReader& r, const std::string& name) {
  Pooling2DOptions o;
  o.pool_size = r.size2("pool_size", Size2(2));
  o.strides = r.size2("strides", Size2(0, 0));  // None: the pool size
  o.padding = r.padding();
  r.channels_last();
  o.name = name;
  return o;
}
LayerPtr parse_max_pool(ConfigReader& r, const std::string& name) {
  return MaxPooling2D(pooling_options(r, name));
}
LayerPtr parse_avg_pool(ConfigReader& r, const std::string& name) {
  return AveragePooling2D(pooling_options(r, name));
}

LayerPtr parse_global_avg_pool(ConfigReader& r, const std::string& name) {
  r.channels_last();
  return GlobalAveragePooling2D({.keepdims = r.boolean("keepdims", false), .name = name});
}

LayerPtr parse_global_max_pool(ConfigReader& r, const std::string& name) {
  r.channels_last();
  return GlobalMaxPooling2D({.keepdims = r.boolean("keepdims", false), .name = name});
}

LayerPtr parse_flatten(ConfigReader& r, const std::string& name) {
  r.channels_last();
  return Flatten({.name = name});
}

LayerPtr parse_reshape(ConfigReader& r, const std::string& name) {
  const Json* t = r.get("target_shape");
  if (t == nullptr || !t->is_array() || t->empty()) {
    r.invalid("target_shape", "a list of dimensions", t ? *t : Json());
  }
  std::vector<int64_t> dims;
  for (const Json& d : *t) {
    const std::optional<int64_t> v = as_integer(d);
    if (!v) r.invalid("target_shape", std::string("a list of ") + kIntegerText, *t);
    if (*v <= 0) r.unsupported("target_shape", *t, "write every dimension out (no -1)");
    dims.push_back(*v);
  }
  if (dims.size() > static_cast<size_t>(Shape::kMaxRank)) {
    r.unsupported("target_shape", *t, "leantrain tensors have at most 6 dimensions");
  }
  if (!bounded_product(dims)) r.invalid("target_shape", "at most 2^40 elements", *t);
  return Reshape({.target_shape = Shape(std::span<const int64_t>(dims)), .name = name});
}

LayerPtr parse_dropout(ConfigReader& r, const std::string& name) {
  DropoutOptions o;
  o.rate = static_cast<float>(r.number("rate"));
  if (const Json* seed = r.get("seed")) {
    if (!seed->is_number_unsigned()) r.invalid("seed", "null or a non-negative integer", *seed);
    o.seed = seed->get<uint64_t>();
  }
  o.name = name;
  const Json* noise = r.get("noise_shape");
  if (noise == nullptr) return Dropout(o);
  // One draw per example (None, 1, ..., 1) or the input's shape; others fail when called.
  if (!noise->is_array()) r.invalid("noise_shape", "null or a list of sizes", *noise);
  std::vector<int64_t> noise_shape;
  for (const Json& d : *noise) {
    const std::optional<int64_t> v = d.is_null() ? std::optional<int64_t>(kNoneDim) : as_integer(d);
    if (!v || (*v != kNoneDim && *v < 1)) {
      r.invalid("noise_shape", std::string("a list of None or positive ") + kIntegerText, *noise);
    }
    noise_shape.push_back(*v);
  }
  return Dropout(o, noise_shape);
}

LayerPtr parse_normalization(ConfigReader& r, const std::string& name) {
  NormalizationOptions o;
  if (const Json* axis = r.get("axis")) {
    // Keras 3 writes a tuple, (-1,); an int is accepted as Keras' constructor accepts it.
    const Json& a = axis->is_array() && axis->size() == 1 ? (*axis)[0] : *axis;
    const std::optional<int64_t> v = as_integer(a);
    if (!v) {
      r.unsupported("axis", *axis, "leantrain's Normalization takes the channel axis only (-1)");
    }
    o.axis = static_cast<int>(*v);
  }
  r.expect("invert", false, "leantrain's Normalization does not invert");
  const char* hint =
      "leantrain's Normalization reads mean and variance as weights; leave them out of the "
      "config and load them with the weights";
  r.none("mean", hint);
  r.none("variance", hint);
  o.name = name;
  return Normalization(o);
}

LayerPtr parse_zero_padding(ConfigReader& r, const std::string& name) {
  ZeroPadding2DOptions o;
  o.name = name;
  const Json* p = r.get("padding");
  if (p == nullptr) return ZeroPadding2D(o);    // Keras' default (1, 1)
  auto pair_of = [&](const Json& j) -> Size2 {  // an int or (before, after)
    if (const std::optional<int64_t> v = as_integer(j)) return Size2(*v, *v);
    if (j.is_array() && j.size() == 2) {
      const std::optional<int64_t> a = as_integer(j[0]), b = as_integer(j[1]);
      if (a && b) return Size2(*a, *b);
    }
    r.invalid("padding", std::string(kIntegerText) + ", a pair or ((top, bottom), (left, right))",
              *p);
  };
  if (const std::optional<int64_t> v = as_integer(*p)) {
    o.top_bottom = Size2(*v, *v);
    o.left_right = Size2(*v, *v);
  } else if (p->is_array() && p->size() == 2) {
    o.top_bottom = pair_of((*p)[0]);
    o.left_right = pair_of((*p)[1]);
  } else {
    r.invalid("padding", std::string(kIntegerText) + ", a pair or ((top, bottom), (left, right))",
              *p);
  }
  if (o.top_bottom.h < 0 || o.top_bottom.w < 0 || o.left_right.h < 0 || o.left_right.w < 0) {
    r.invalid("padding", "non-negative", *p);
  }
  r.channels_last();
  return ZeroPadding2D(o);
}

LayerPtr parse_rescaling(ConfigReader& r, const std::string& name) {
  for (const char* key : {"scale", "offset"}) {
    const Json* j = r.get(key);
    if (j != nullptr && !j->is_number()) {
      r.unsupported(key, *j, "leantrain's Rescaling takes one number (no per-channel arrays)");
    }
  }
  return Rescaling({.scale = static_cast<float>(r.number("scale")),
                    .offset = static_cast<float>(r.number("offset", 0.0)),
                    .name = name});
}

LayerPtr parse_resizing(ConfigReader& r, const std::string& name) {
  ResizingOptions o;
  o.height = r.integer("height");
  o.width = r.integer("width");
  o.interpolation = r.string("interpolation", "bilinear");
  r.expect("crop_to_aspect_ratio", false, "leantrain's Resizing stretches the whole image");
  r.expect("pad_to_aspect_ratio", false, "leantrain's Resizing stretches the whole image");
  r.ignore("fill_mode");  // only read with pad_to_aspect_ratio
  r.ignore("fill_value");
  r.expect("antialias", false, "leantrain's Resizing does not antialias");
  r.channels_last();
  o.name = name;
  return Resizing(o);
}

LayerPtr parse_add(ConfigReader&, const std::string& name) { return Add({.name = name}); }
LayerPtr parse_multiply(ConfigReader&, const std::string& name) { return Multiply({.name = name}); }
LayerPtr parse_concatenate(ConfigReader& r, const std::string& name) {
  return Concatenate({.axis = static_cast<int>(r.integer("axis", -1)), .name = name});
}

using LayerParser = LayerPtr (*)(ConfigReader&, const std::string&);

const std::map<std::string, LayerParser>& layer_parsers() {
  static const std::map<std::string, LayerParser> parsers{
      {"Activation", parse_activation},
      {"Add", parse_add},
      {"AveragePooling2D", parse_avg_pool},
      {"BatchNormalization", parse_batch_norm},
      {"Concatenate", parse_concatenate},
      {"Conv2D", parse_conv2d},
      {"Dense", parse_dense},
      {"DepthwiseConv2D", parse_depthwise_conv2d},
      {"Dropout", parse_dropout},
      {"Flatten", parse_flatten},
      {"GlobalAveragePooling2D", parse_global_avg_pool},
      {"GlobalMaxPooling2D", parse_global_max_pool},
      {"MaxPooling2D", parse_max_pool},
      {"Multiply", parse_multiply},
      {"Normalization", parse_normalization},
      {"ReLU", parse_relu},
      {"Rescaling", parse_rescaling},
      {"Reshape", parse_reshape},
      {"Resizing", parse_resizing},
      {"SeparableConv2D", parse_separable_conv2d},
      {"Softmax", parse_softmax},
      {"ZeroPadding2D", parse_zero_padding},
  };
  return parsers;
}

std::string supported_classes() {
  std::string out = "InputLayer";
  for (const auto& [name, parser] : layer_parsers()) out += ", " + name;
  return out;
}

// Reads the keys every layer shares: name, trainable, dtype, activity_regularizer, and the
// input-shape keys Keras 2 puts on a Sequential's first layer (read by the Sequential loader).
void read_common(ConfigReader& r) {
  r.ignore("name");
  r.expect("trainable", true,
           "leantrain trains every layer; freezing (trainable=false) is not supported");
  r.dtype();
  r.none("activity_regularizer", "leantrain has no activity regularization");
  for (const char* key :
       {"batch_input_shape", "batch_shape", "input_shape", "batch_size", "input_dim"}) {
    r.ignore(key);
  }
}

}  // namespace

LayerPtr parse_layer(const Json& entry, const EntryId& id) {
  const std::string where = "layer '" + id.name + "' (" + id.class_name + ")";
  if (id.class_name == "Functional" || id.class_name == "Sequential" || id.class_name == "Model") {
    fail(ErrorCode::kUnimplemented,
         where +
             ": nested models are not supported; rebuild the model with the inner model's "
             "layers in line");
  }
  const auto& parsers = layer_parsers();
  auto it = parsers.find(id.class_name);
  if (it == parsers.end()) {
    fail(ErrorCode::kUnimplemented, where + ": layer class " + id.class_name +
                                        " is not supported by leantrain; it has " +
                                        supported_classes());
  }
  ConfigReader r(entry_config(entry, id), where);
  read_common(r);
  try {
    LayerPtr layer = it->second(r, id.name);
    r.finish();
    return layer;
  } catch (const Error& e) {
    rethrow(e, where);
  }
}

}  // namespace leantrain::nn::keras_json

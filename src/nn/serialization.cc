// Keras JSON for models (nn/serialization.h). The writer walks the model's calls and asks each
// layer for its Keras config; the reader builds each layer from its config with the layer
// factories, then replays the layer calls as Keras' functional_from_config does
// (keras/src/models/functional.py): layers in file order, each layer's inbound nodes in order,
// a node waiting until the nodes it reads exist.
#include "leantrain/nn/serialization.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "leantrain/core/error.h"
#include "leantrain/nn/sequential.h"
#include "nn/keras_config.h"

namespace leantrain::nn {
namespace {

using OJson = nlohmann::ordered_json;
using Json = nlohmann::json;
using Call = Tensor::Call;

// ================================================================ writing

// Keras layers that override build() and therefore carry a build_config; the others are built
// when constructed (pooling, activations, Dropout, Reshape, InputLayer: Layer._build_at_init or
// built = True in __init__) and have none. Layers that do not override build() but are not
// built at construction (Flatten, ZeroPadding2D, Rescaling, Resizing) get one from the default
// build() that their first call runs.
bool has_build_config(const std::string& class_name) {
  static const std::set<std::string> kinds{
      "Conv2D",    "DepthwiseConv2D", "SeparableConv2D", "Dense",   "BatchNormalization",
      "Add",       "Multiply",        "Concatenate",     "Flatten", "ZeroPadding2D",
      "Rescaling", "Resizing",        "Normalization"};
  return kinds.count(class_name) > 0;
}

// A shape with Keras' batch dimension in front: [null, d0, d1, ...].
OJson batch_shape(const Shape& s) {
  OJson out = OJson::array({nullptr});
  for (int64_t d : s.dims()) out.push_back(d);
  return out;
}

OJson object_entry(const std::string& class_name, OJson config) {
  return OJson{{"module", "keras.layers"},
               {"class_name", class_name},
               {"config", std::move(config)},
               {"registered_name", nullptr}};
}

// serialize_keras_object(layer): module, class_name, config, registered_name, build_config.
OJson layer_entry(const Layer& layer, const Call* first_call) {
  const std::string class_name = layer.class_name();
  OJson entry = object_entry(class_name, layer.get_config());
  if (first_call != nullptr && has_build_config(class_name)) {
    OJson input_shape;
    if (layer.arity() < 0) {  // merging layers: build(input_shape) gets the list of shapes
      input_shape = OJson::array();
      for (const Tensor& in : first_call->inputs) input_shape.push_back(batch_shape(in.shape()));
    } else {
      input_shape = batch_shape(first_call->inputs.at(0).shape());
    }
    entry["build_config"] = OJson{{"input_shape", std::move(input_shape)}};
  }
  return entry;
}

// Each call's node index among its layer's calls in the model (Keras re-indexes a layer's nodes
// to those of the model being saved).
std::map<const Call*, int> node_indices(const Model& model) {
  std::map<const Layer*, int> count;
  std::map<const Call*, int> index;
  for (const Tensor& t : model.calls()) index[t.call_ptr().get()] = count[t.call().layer.get()]++;
  return index;
}

// [layer name, node index, tensor index] of a tensor (every leantrain layer has one output).
OJson history(const Tensor& t, const std::map<const Call*, int>& nodes) {
  return OJson::array({t.call().layer->name(), nodes.at(t.call_ptr().get()), 0});
}

// serialize_keras_object(KerasTensor).
OJson keras_tensor(const Tensor& t, const std::map<const Call*, int>& nodes) {
  return OJson{{"class_name", "__keras_tensor__"},
               {"config", OJson{{"shape", batch_shape(t.shape())},
                                {"dtype", "float32"},
                                {"keras_history", history(t, nodes)}}}};
}

// input_layers / output_layers: one [name, node, tensor] for a single tensor, else a list.
OJson endpoints(const std::vector<Tensor>& tensors, const std::map<const Call*, int>& nodes) {
  if (tensors.size() == 1) return history(tensors[0], nodes);
  OJson out = OJson::array();
  for (const Tensor& t : tensors) out.push_back(history(t, nodes));
  return out;
}

OJson sequential_config(const Model& model) {
  const Tensor& input = model.inputs().at(0);
  OJson layers = OJson::array();
  layers.push_back(object_entry("InputLayer", input.call().layer->get_config()));
  for (const Tensor& t : model.calls()) {
    if (t.call().layer->arity() == 0) continue;
    layers.push_back(layer_entry(*t.call().layer, &t.call()));
  }
  OJson config{{"name", model.name()},
               {"trainable", true},
               {"dtype", keras::dtype_policy()},
               {"layers", std::move(layers)},
               {"build_input_shape", batch_shape(input.shape())}};
  return OJson{{"module", "keras"},
               {"class_name", "Sequential"},
               {"config", std::move(config)},
               {"registered_name", nullptr},
               {"build_config", OJson{{"input_shape", batch_shape(input.shape())}}},
               {"compile_config", OJson::object()}};
}

OJson functional_config(const Model& model) {
  const std::map<const Call*, int> nodes = node_indices(model);
  std::map<const Layer*, std::vector<const Call*>> calls_of;
  for (const Tensor& t : model.calls()) calls_of[t.call().layer.get()].push_back(&t.call());
  OJson layers = OJson::array();
  for (const LayerPtr& layer : model.layers()) {
    const std::vector<const Call*>& calls = calls_of[layer.get()];
    const bool input = layer->arity() == 0;
    OJson entry = layer_entry(*layer, input ? nullptr : calls.at(0));
    entry["name"] = layer->name();
    OJson inbound = OJson::array();
    for (const Call* call : input ? std::vector<const Call*>{} : calls) {
      OJson arg;
      if (layer->arity() < 0) {  // called on a list of tensors
        arg = OJson::array();
        for (const Tensor& in : call->inputs) arg.push_back(keras_tensor(in, nodes));
      } else {
        arg = keras_tensor(call->inputs.at(0), nodes);
      }
      inbound.push_back(
          OJson{{"args", OJson::array({std::move(arg)})}, {"kwargs", OJson::object()}});
    }
    entry["inbound_nodes"] = std::move(inbound);
    layers.push_back(std::move(entry));
  }
  OJson config{{"name", model.name()},
               {"trainable", true},
               {"layers", std::move(layers)},
               {"input_layers", endpoints(model.inputs(), nodes)},
               {"output_layers", endpoints(model.outputs(), nodes)}};
  return OJson{{"module", "keras.src.models.functional"},
               {"class_name", "Functional"},
               {"config", std::move(config)},
               {"registered_name", "Functional"},
               {"build_config", OJson{{"input_shape", nullptr}}},
               {"compile_config", OJson::object()}};
}

// json.dumps(obj): ", " between items, ": " after keys, non-ASCII escaped.
void dump_python(const OJson& j, std::string& out) {
  if (j.is_object()) {
    out += '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!first) out += ", ";
      first = false;
      out += OJson(it.key()).dump(-1, ' ', true, OJson::error_handler_t::replace);
      out += ": ";
      dump_python(it.value(), out);
    }
    out += '}';
  } else if (j.is_array()) {
    out += '[';
    for (size_t i = 0; i < j.size(); ++i) {
      if (i > 0) out += ", ";
      dump_python(j[i], out);
    }
    out += ']';
  } else {
    out += j.dump(-1, ' ', true, OJson::error_handler_t::replace);
  }
}

// ================================================================ reading

[[noreturn]] void fail(ErrorCode code, const std::string& message) {
  throw Error(code, "Keras JSON: " + message);
}

// Rethrows an error from a layer or model constructor as a Keras JSON error, `context` first.
[[noreturn]] void rethrow(const Error& e, const std::string& context = "") {
  const std::string message = e.what();
  if (message.rfind("Keras JSON: ", 0) == 0) throw e;
  fail(e.code(), context.empty() ? message : context + ": " + message);
}

// A JSON value for a message, shortened.
std::string show(const Json& j) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

// obj[key], or null when `obj` is not an object or has no such key.
const Json* member(const Json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// Sizes, axes and indices read from a config are at most this in magnitude: more than any real
// model needs, and few enough bits that shape arithmetic on them cannot overflow.
constexpr int64_t kMaxInteger = int64_t{1} << 20;
constexpr const char* kIntegerText = "an integer in [-2^20, 2^20]";
// A tensor or variable holds at most this many elements (4 TiB of float32).
constexpr int64_t kMaxElements = int64_t{1} << 40;

// An integer (or an integral float) in [-kMaxInteger, kMaxInteger].
std::optional<int64_t> as_integer(const Json& j) {
  double v = 0;
  if (j.is_number_unsigned()) {
    if (j.get<uint64_t>() > static_cast<uint64_t>(kMaxInteger)) return std::nullopt;
    return j.get<int64_t>();
  }
  if (j.is_number_integer()) {
    v = static_cast<double>(j.get<int64_t>());
  } else if (j.is_number_float()) {
    v = j.get<double>();
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(v) || v != std::floor(v) || std::abs(v) > static_cast<double>(kMaxInteger)) {
    return std::nullopt;
  }
  return static_cast<int64_t>(v);
}

// The product of `dims` when it is at most kMaxElements.
std::optional<int64_t> bounded_product(std::span<const int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || (d > 0 && n > kMaxElements / d)) return std::nullopt;
    n *= d;
  }
  return n;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One layer's (or model's) config while it is read: every key read is marked, and finish()
// refuses the keys left over unless their value is null or false (a feature switched off).
class ConfigReader {
 public:
  ConfigReader(const Json& config, std::string where) : where_(std::move(where)) {
    if (!config.is_object()) {
      fail(ErrorCode::kInvalidArgument, where_ + ": config must be an object, got " + show(config));
    }
    config_ = &config;
  }
  const std::string& where() const { return where_; }

  // The value of `key`, marked as read; null when absent.
  const Json* get(const std::string& key) {
    used_.insert(key);
    const Json* j = member(*config_, key);
    return j != nullptr && !j->is_null() ? j : nullptr;
  }
  void ignore(const std::string& key) { used_.insert(key); }

  [[noreturn]] void invalid(const std::string& key, const std::string& expected, const Json& got) {
    fail(ErrorCode::kInvalidArgument,
         where_ + ": " + key + " must be " + expected + ", got " + show(got));
  }
  [[noreturn]] void unsupported(const std::string& key, const Json& got, const std::string& hint) {
    fail(ErrorCode::kUnimplemented,
         where_ + ": " + key + "=" + show(got) + " is not supported; " + hint);
  }

  int64_t integer(const std::string& key, std::optional<int64_t> fallback = std::nullopt) {
    const Json* j = get(key);
    if (j == nullptr) return required(key, fallback);
    const std::optional<int64_t> v = as_integer(*j);
    if (!v) invalid(key, kIntegerText, *j);
    return *v;
  }
  double number(const std::string& key, std::optional<double> fallback = std::nullopt) {
    const Json* j = get(key);
    if (j == nullptr) return required(key, fallback);
    if (!j->is_number()) invalid(key, "a number", *j);
    return j->get<double>();
  }
  bool boolean(const std::string& key, bool fallback) {
    const Json* j = get(key);
    if (j == nullptr) return fallback;
    if (!j->is_boolean()) invalid(key, "true or false", *j);
    return j->get<bool>();
  }
  std::string string(const std::string& key, std::optional<std::string> fallback = std::nullopt) {
    const Json* j = get(key);
    if (j == nullptr) return required(key, fallback);
    if (!j->is_string()) invalid(key, "a string", *j);
    return j->get<std::string>();
  }
  // An int or a pair of ints, as Keras' standardize_tuple.
  Size2 size2(const std::string& key, std::optional<Size2> fallback = std::nullopt) {
    const Json* j = get(key);
    if (j == nullptr) return required(key, fallback);
    if (const std::optional<int64_t> v = as_integer(*j)) return Size2(*v);
    if (j->is_array() && j->size() == 2) {
      const std::optional<int64_t> h = as_integer((*j)[0]), w = as_integer((*j)[1]);
      if (h && w) return Size2(*h, *w);
    }
    invalid(key, std::string(kIntegerText) + " or a list of two", *j);
  }

  // The key must be absent, null, or `allowed`.
  void expect(const std::string& key, const Json& allowed, const std::string& hint) {
    const Json* j = get(key);
    if (j != nullptr && *j != allowed) unsupported(key, *j, hint);
  }
  void none(const std::string& key, const std::string& hint) {
    if (const Json* j = get(key)) unsupported(key, *j, hint);
  }
  void channels_last() {
    const Json* j = get("data_format");
    if (j != nullptr && *j != "channels_last") {
      unsupported("data_format", *j,
                  "leantrain keeps images channels_last (NHWC); rebuild the model with "
                  "data_format=\"channels_last\"");
    }
  }
  std::string padding(const std::string& key = "padding") {
    const std::string p = lower(string(key, "valid"));
    if (p != "valid" && p != "same") unsupported(key, p, "use \"valid\" or \"same\"");
    return p;
  }
  std::string activation(const std::string& key = "activation") {
    const Json* j = get(key);
    if (j == nullptr) return "linear";
    if (!j->is_string()) {
      unsupported(key, *j,
                  "use a built-in activation by name (relu, relu6, sigmoid, tanh, silu/swish, "
                  "softmax, linear)");
    }
    return j->get<std::string>();
  }
  // The dtype or dtype policy: float32 only.
  void dtype() {
    const Json* j = get("dtype");
    if (j == nullptr) return;
    std::string name;
    if (j->is_string()) {
      name = j->get<std::string>();
    } else if (const Json* c = member(*j, "config")) {
      if (const Json* n = member(*c, "name"); n != nullptr && n->is_string()) name = *n;
    }
    if (name != "float32") {
      unsupported("dtype", *j, "leantrain layers compute and keep float32; use dtype \"float32\"");
    }
  }
  std::string initializer(const std::string& key, const std::string& fallback);
  float regularizer(const std::string& key);

  // Refuses keys nobody read whose value is not null or false.
  void finish() {
    for (auto it = config_->begin(); it != config_->end(); ++it) {
      if (used_.count(it.key()) > 0) continue;
      const Json& v = it.value();
      if (v.is_null() || (v.is_boolean() && !v.get<bool>())) continue;
      fail(ErrorCode::kUnimplemented, where_ + ": argument " + it.key() + "=" + show(v) +
                                          " is not supported by leantrain; remove it or set it "
                                          "to its default");
    }
  }

 private:
  template <typename T>
  T required(const std::string& key, const std::optional<T>& fallback) {
    if (!fallback) fail(ErrorCode::kInvalidArgument, where_ + ": missing argument " + key);
    return *fallback;
  }

  const Json* config_ = nullptr;
  std::string where_;
  std::set<std::string> used_;
};

// Keras' initializer names (class names, snake-case names and aliases) -> leantrain's names.
// leantrain's name of a Keras initializer given by class name, snake-case name or alias.
std::optional<std::string> initializer_name(const std::string& name) {
  static const char* const kNames[][2] = {{"GlorotUniform", "glorot_uniform"},
                                          {"GlorotNormal", "glorot_normal"},
                                          {"HeUniform", "he_uniform"},
                                          {"HeNormal", "he_normal"},
                                          {"LecunUniform", "lecun_uniform"},
                                          {"LecunNormal", "lecun_normal"},
                                          {"Zeros", "zeros"},
                                          {"Ones", "ones"}};
  if (name == "zero") return "zeros";  // keras/src/initializers/__init__.py aliases
  if (name == "one") return "ones";
  for (const auto& [class_name, snake] : kNames) {
    if (name == class_name || name == snake) return snake;
  }
  return std::nullopt;
}

constexpr const char* kInitializerHint =
    "use GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Zeros, "
    "Ones, or a VarianceScaling (scale > 0, mode fan_in, fan_out or fan_avg, distribution "
    "truncated_normal, untruncated_normal or uniform, no input_axes or output_axes)";

std::string ConfigReader::initializer(const std::string& key, const std::string& fallback) {
  const Json* j = get(key);
  if (j == nullptr) return fallback;
  std::string class_name;
  const Json* config = nullptr;
  if (j->is_string()) {
    class_name = j->get<std::string>();
  } else if (const Json* c = member(*j, "class_name"); c != nullptr && c->is_string()) {
    class_name = c->get<std::string>();
    config = member(*j, "config");
  } else {
    invalid(key, "an initializer name or {\"class_name\", \"config\"}", *j);
  }
  if (std::optional<std::string> known = initializer_name(class_name)) return *known;
  const Json empty = Json::object();
  const Json& cfg = config != nullptr && config->is_object() ? *config : empty;
  if (class_name == "VarianceScaling") {
    // keras/src/initializers/random_initializers.py: "normal" means truncated_normal.
    const Json* scale = member(cfg, "scale");
    const Json* mode = member(cfg, "mode");
    const Json* dist = member(cfg, "distribution");
    const double s = scale != nullptr && scale->is_number() ? scale->get<double>() : 1.0;
    const std::string m =
        mode != nullptr && mode->is_string() ? mode->get<std::string>() : "fan_in";
    std::string d =
        dist != nullptr && dist->is_string() ? lower(dist->get<std::string>()) : "truncated_normal";
    if (d == "normal") d = "truncated_normal";
    const Json* in_axes = member(cfg, "input_axes");
    const Json* out_axes = member(cfg, "output_axes");
    const bool axes = (in_axes != nullptr && !in_axes->is_null()) ||
                      (out_axes != nullptr && !out_axes->is_null());
    const std::string family = s == 1.0 && m == "fan_avg"  ? "glorot"
                               : s == 1.0 && m == "fan_in" ? "lecun"
                               : s == 2.0 && m == "fan_in" ? "he"
                                                           : "";
    const bool typed = (scale == nullptr || scale->is_number()) &&
                       (mode == nullptr || mode->is_string()) &&
                       (dist == nullptr || dist->is_string());
    if (typed && !family.empty() && !axes && (d == "uniform" || d == "truncated_normal")) {
      return family + (d == "uniform" ? "_uniform" : "_normal");
    }
    // Any other VarianceScaling leantrain draws from as well (nn/layers.h).
    const bool valid_mode = m == "fan_in" || m == "fan_out" || m == "fan_avg";
    const bool valid_dist = d == "uniform" || d == "truncated_normal" || d == "untruncated_normal";
    if (typed && !axes && valid_mode && valid_dist && std::isfinite(s) && s > 0) {
      return variance_scaling_name(VarianceScaling{s, m, d});
    }
    unsupported(key, *j, kInitializerHint);
  }
  if (class_name == "Constant") {
    const Json* v = member(cfg, "value");
    if (v != nullptr && v->is_number() && (v->get<double>() == 0.0 || v->get<double>() == 1.0)) {
      return v->get<double>() == 0.0 ? "zeros" : "ones";
    }
  }
  unsupported(key, *j, kInitializerHint);
}

float ConfigReader::regularizer(const std::string& key) {
  const Json* j = get(key);
  if (j == nullptr) return 0.0f;
  constexpr const char* kHint = "leantrain has L2 regularization only (keras.regularizers.L2)";
  if (j->is_string()) {
    if (lower(j->get<std::string>()) == "l2") return 0.01f;  // keras.regularizers.get("l2")
    unsupported(key, *j, kHint);
  }
  const Json* c = member(*j, "class_name");
  if (c == nullptr || !c->is_string())
    invalid(key, "a regularizer {\"class_name\", \"config\"}", *j);
  const Json* config = member(*j, "config");
  auto value = [&](const char* name, double fallback) {
    const Json* v = config != nullptr ? member(*config, name) : nullptr;
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_number())
      invalid(key, std::string("a regularizer whose ") + name + " is a number", *j);
    return v->get<double>();
  };
  const std::string cls = c->get<std::string>();
  if (cls == "L2" || cls == "l2") return static_cast<float>(value("l2", 0.01));
  if ((cls == "L1L2" || cls == "l1_l2") && value("l1", 0.0) == 0.0) {
    return static_cast<float>(value("l2", 0.0));
  }
  unsupported(key, *j, kHint);
}

// ---- layers

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

// A layer entry's class name and name (the entry's "name", else its config's).
struct EntryId {
  std::string class_name, name;
};

EntryId entry_id(const Json& entry, size_t index) {
  const std::string where = "layer #" + std::to_string(index);
  if (!entry.is_object()) {
    fail(ErrorCode::kInvalidArgument, where + " must be an object, got " + show(entry));
  }
  const Json* cls = member(entry, "class_name");
  if (cls == nullptr || !cls->is_string()) {
    fail(ErrorCode::kInvalidArgument, where + " has no class_name");
  }
  const Json* name = member(entry, "name");
  if (name == nullptr || !name->is_string()) {
    if (const Json* config = member(entry, "config")) name = member(*config, "name");
  }
  if (name == nullptr || !name->is_string() || name->get<std::string>().empty()) {
    fail(ErrorCode::kInvalidArgument, where + " (" + cls->get<std::string>() + ") has no name");
  }
  return {cls->get<std::string>(), name->get<std::string>()};
}

const Json& entry_config(const Json& entry, const EntryId& id) {
  const Json* config = member(entry, "config");
  if (config == nullptr) {
    fail(ErrorCode::kInvalidArgument,
         "layer '" + id.name + "' (" + id.class_name + ") has no config");
  }
  return *config;
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

// Builds the layer of a (non-input) entry.
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

// An input shape from [None, d0, d1, ...] (`with_batch`) or (d0, d1, ...).
Shape input_shape(const Json& j, bool with_batch, const std::string& where,
                  const std::string& key) {
  if (!j.is_array() || j.size() < (with_batch ? 2u : 1u)) {
    fail(ErrorCode::kInvalidArgument,
         where + ": " + key + " must be a list of dimensions, got " + show(j));
  }
  std::vector<int64_t> dims;
  for (size_t i = with_batch ? 1 : 0; i < j.size(); ++i) {
    if (j[i].is_null()) {
      fail(ErrorCode::kUnimplemented,
           where + ": " + key + "=" + show(j) + " has an unknown (None) dimension at axis " +
               std::to_string(i) +
               "; leantrain plans memory for fixed input shapes, so give "
               "every dimension but the batch");
    }
    const std::optional<int64_t> v = as_integer(j[i]);
    if (!v || *v <= 0) {
      fail(ErrorCode::kInvalidArgument,
           where + ": " + key + " must hold dimensions in [1, 2^20], got " + show(j));
    }
    dims.push_back(*v);
  }
  if (dims.size() > static_cast<size_t>(Shape::kMaxRank)) {
    fail(ErrorCode::kUnimplemented,
         where + ": " + key + "=" + show(j) + " has more than 6 dimensions");
  }
  if (!bounded_product(dims)) {
    fail(ErrorCode::kInvalidArgument,
         where + ": " + key + "=" + show(j) + " has more than 2^40 elements");
  }
  return Shape(std::span<const int64_t>(dims));
}

// An InputLayer's shape (without batch) from batch_shape (Keras 3), batch_input_shape
// (Keras 2) or shape.
Shape read_input_layer(const Json& entry, const EntryId& id) {
  const std::string where = "layer '" + id.name + "' (InputLayer)";
  ConfigReader r(entry_config(entry, id), where);
  r.ignore("name");
  r.dtype();
  r.expect("sparse", false, "leantrain inputs are dense");
  r.expect("ragged", false, "leantrain inputs are dense");
  r.expect("optional", false, "every leantrain input is required");
  r.ignore("batch_size");  // leantrain picks the batch size when it compiles
  Shape shape;
  if (const Json* j = r.get("batch_shape")) {
    shape = input_shape(*j, true, where, "batch_shape");
  } else if (const Json* k = r.get("batch_input_shape")) {
    shape = input_shape(*k, true, where, "batch_input_shape");
  } else if (const Json* s = r.get("shape")) {
    shape = input_shape(*s, false, where, "shape");
  } else {
    fail(ErrorCode::kInvalidArgument, where + ": missing batch_shape");
  }
  r.finish();
  return shape;
}

// The config object of the model and its reader, with the model-level keys checked.
ConfigReader model_reader(const Json& config, const std::string& class_name) {
  const Json* name = member(config, "name");
  const std::string shown = name != nullptr && name->is_string() ? name->get<std::string>() : "";
  ConfigReader r(config, "model '" + shown + "' (" + class_name + ")");
  r.expect("trainable", true,
           "leantrain trains every layer; freezing (trainable=false) is not supported");
  r.dtype();
  return r;
}

const Json& layer_list(ConfigReader& r) {
  const Json* layers = r.get("layers");
  if (layers == nullptr || !layers->is_array()) {
    r.invalid("layers", "a list of layers", layers ? *layers : Json());
  }
  return *layers;
}

// "(None, d0, d1, ...)", as Keras prints a shape.
std::string batch_text(const Shape& shape) {
  std::string out = "(None";
  for (int64_t d : shape.dims()) out += ", " + std::to_string(d);
  return out + ")";
}

// Refuses an output of more than kMaxElements, before a later layer computes with its size.
void check_output(const Layer& layer, const Shape& shape) {
  if (!bounded_product(shape.dims())) {
    fail(ErrorCode::kInvalidArgument, "layer '" + layer.name() + "' (" + layer.class_name() +
                                          "): its output " + batch_text(shape) +
                                          " has more than 2^40 elements");
  }
}

// Refuses a model with a variable of more than kMaxElements.
void check_variables(const Model& model) {
  for (const ModelVariable& v : model.variables()) {
    if (!bounded_product(v.variable.shape.dims())) {
      fail(ErrorCode::kInvalidArgument, "layer '" + v.layer + "': variable " + v.variable.name +
                                            " " + v.variable.shape.to_string() +
                                            " has more than 2^40 elements");
    }
  }
}

Model load_sequential(const Json& config) {
  ConfigReader r = model_reader(config, "Sequential");
  const std::string name = r.string("name", "sequential");
  const Json& entries = layer_list(r);
  const Json* build_shape = r.get("build_input_shape");
  r.finish();
  std::optional<Shape> shape;
  std::string input_name;
  size_t first = 0;
  if (!entries.empty() && entry_id(entries[0], 0).class_name == "InputLayer") {
    const EntryId id = entry_id(entries[0], 0);
    shape = read_input_layer(entries[0], id);
    input_name = id.name;
    first = 1;
  } else if (build_shape != nullptr) {
    shape = input_shape(*build_shape, true, r.where(), "build_input_shape");
  } else if (!entries.empty()) {
    // Keras 2 puts the input shape on the first layer.
    const EntryId id = entry_id(entries[0], 0);
    const Json& c = entry_config(entries[0], id);
    const std::string where = "layer '" + id.name + "' (" + id.class_name + ")";
    if (const Json* b = member(c, "batch_input_shape"); b != nullptr && !b->is_null()) {
      shape = input_shape(*b, true, where, "batch_input_shape");
    } else if (const Json* s = member(c, "batch_shape"); s != nullptr && !s->is_null()) {
      shape = input_shape(*s, true, where, "batch_shape");
    }
  }
  if (!shape) {
    fail(ErrorCode::kInvalidArgument,
         r.where() +
             " has no input shape (no InputLayer, build_input_shape or "
             "batch_input_shape); build the model in Keras before calling to_json()");
  }
  std::vector<LayerPtr> layers;
  for (size_t i = first; i < entries.size(); ++i) {
    const EntryId id = entry_id(entries[i], i);
    if (id.class_name == "InputLayer") {
      fail(ErrorCode::kInvalidArgument,
           r.where() + ": InputLayer '" + id.name + "' is not the first layer");
    }
    layers.push_back(parse_layer(entries[i], id));
  }
  if (layers.empty()) fail(ErrorCode::kInvalidArgument, r.where() + " has no layers");
  try {
    // The shapes first, without calling the layers, so that no layer sees an input too large.
    Shape x = *shape;
    for (const LayerPtr& layer : layers) {
      x = layer->output_shape(std::span<const Shape>(&x, 1));
      check_output(*layer, x);
    }
    Sequential model(*shape, layers, name);
    check_variables(model);
    if (!input_name.empty()) {
      for (const LayerPtr& layer : model.layers()) {
        if (layer->arity() != 0 && layer->name() == input_name) {
          fail(ErrorCode::kInvalidArgument,
               r.where() + ": two layers are named '" + input_name + "'");
        }
      }
      model.inputs().at(0).call().layer->set_name(input_name, /*by_user=*/true);
    }
    return model;
  } catch (const Error& e) {
    rethrow(e);
  }
}

// A tensor a node reads: [layer name, node index, tensor index].
struct TensorRef {
  std::string layer;
  int64_t node = 0, tensor = 0;
};

TensorRef tensor_ref(const Json& h, const std::string& where) {
  // Keras 2 entries carry a fourth item, the call's kwargs.
  if (!h.is_array() || h.size() < 3 || h.size() > 4 || !h[0].is_string() || !as_integer(h[1]) ||
      !as_integer(h[2])) {
    fail(ErrorCode::kInvalidArgument,
         where + ": a tensor reference must be [layer name, node index, tensor index], got " +
             show(h));
  }
  if (h.size() == 4) {
    for (auto it = h[3].begin(); h[3].is_object() && it != h[3].end(); ++it) {
      if (!it.value().is_null()) {
        fail(ErrorCode::kUnimplemented, where + " is called with " + it.key() + "=" +
                                            show(it.value()) +
                                            ", which leantrain does not support; leantrain "
                                            "chooses training or inference per step");
      }
    }
  }
  return {h[0].get<std::string>(), *as_integer(h[1]), *as_integer(h[2])};
}

// Every tensor in a Keras 3 call argument, in order.
void collect_tensors(const Json& arg, std::vector<TensorRef>& out, const std::string& where,
                     int depth = 0) {
  if (depth > 8) {
    fail(ErrorCode::kInvalidArgument, where + ": call arguments are nested too deeply");
  }
  if (const Json* cls = member(arg, "class_name"); cls != nullptr && *cls == "__keras_tensor__") {
    const Json* config = member(arg, "config");
    const Json* h = config != nullptr ? member(*config, "keras_history") : nullptr;
    if (h == nullptr) fail(ErrorCode::kInvalidArgument, where + ": a tensor has no keras_history");
    out.push_back(tensor_ref(*h, where));
    return;
  }
  if (arg.is_array()) {
    for (const Json& a : arg) collect_tensors(a, out, where, depth + 1);
    return;
  }
  fail(ErrorCode::kUnimplemented, where + " is called with the non-tensor argument " + show(arg) +
                                      "; leantrain layers take tensors only");
}

// The tensors one inbound node reads, from Keras 3's {"args", "kwargs"} or Keras 2's
// [["name", node, tensor, {kwargs}], ...].
std::vector<TensorRef> node_inputs(const Json& node, const std::string& where) {
  std::vector<TensorRef> refs;
  if (node.is_object()) {
    const Json* args = member(node, "args");
    if (args == nullptr || !args->is_array()) {
      fail(ErrorCode::kInvalidArgument, where + ": an inbound node has no \"args\" list");
    }
    collect_tensors(*args, refs, where);
    if (const Json* kwargs = member(node, "kwargs")) {
      for (auto it = kwargs->begin(); kwargs->is_object() && it != kwargs->end(); ++it) {
        if (!it.value().is_null()) {
          fail(ErrorCode::kUnimplemented, where + " is called with " + it.key() + "=" +
                                              show(it.value()) +
                                              ", which leantrain does not support; leantrain "
                                              "chooses training or inference per step");
        }
      }
    }
  } else if (node.is_array()) {
    for (const Json& h : node) refs.push_back(tensor_ref(h, where));
  } else {
    fail(ErrorCode::kInvalidArgument, where + ": malformed inbound node " + show(node));
  }
  if (refs.empty()) fail(ErrorCode::kInvalidArgument, where + ": an inbound node reads no tensor");
  return refs;
}

// input_layers / output_layers: one [name, node, tensor] or a list of them.
std::vector<TensorRef> endpoint_refs(ConfigReader& r, const std::string& key) {
  const Json* j = r.get(key);
  if (j != nullptr && j->is_object()) {
    r.unsupported(key, *j, "leantrain models take and return a list of tensors, not a dict");
  }
  if (j == nullptr || !j->is_array() || j->empty()) {
    r.invalid(key, "[name, node, tensor] or a list of them", j ? *j : Json());
  }
  const std::string where = r.where() + ": " + key;
  if ((*j)[0].is_string()) return {tensor_ref(*j, where)};
  std::vector<TensorRef> refs;
  for (const Json& h : *j) refs.push_back(tensor_ref(h, where));
  return refs;
}

struct LoadedLayer {
  EntryId id;
  LayerPtr layer;                    // null for an InputLayer
  std::optional<Shape> input_shape;  // an InputLayer's, until its Input() is made
  std::vector<Tensor> outputs;       // one per node called so far
  std::vector<std::vector<TensorRef>> nodes;
  size_t next = 0;  // the first node not yet called
};

Model load_functional(const Json& config, const std::string& class_name) {
  ConfigReader r = model_reader(config, class_name);
  const std::string name = r.string("name", "functional");
  const Json& entries = layer_list(r);
  const std::vector<TensorRef> input_refs = endpoint_refs(r, "input_layers");
  const std::vector<TensorRef> output_refs = endpoint_refs(r, "output_layers");
  r.finish();

  std::vector<LoadedLayer> loaded;
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < entries.size(); ++i) {
    LoadedLayer l{entry_id(entries[i], i), {}, {}, {}, {}, 0};
    const std::string where = "layer '" + l.id.name + "' (" + l.id.class_name + ")";
    if (!by_name.emplace(l.id.name, loaded.size()).second) {
      fail(ErrorCode::kInvalidArgument, "two layers are named '" + l.id.name + "'");
    }
    const Json* inbound = member(entries[i], "inbound_nodes");
    if (inbound != nullptr && !inbound->is_null() && !inbound->is_array()) {
      fail(ErrorCode::kInvalidArgument, where + ": inbound_nodes must be a list");
    }
    if (l.id.class_name == "InputLayer") {
      if (inbound != nullptr && inbound->is_array() && !inbound->empty()) {
        fail(ErrorCode::kInvalidArgument, where + " has inbound nodes; an input reads none");
      }
      l.input_shape = read_input_layer(entries[i], l.id);
    } else {
      l.layer = parse_layer(entries[i], l.id);
      if (inbound != nullptr && inbound->is_array()) {
        for (size_t n = 0; n < inbound->size(); ++n) {
          l.nodes.push_back(
              node_inputs((*inbound)[n], where + " (inbound node " + std::to_string(n) + ")"));
        }
      }
    }
    loaded.push_back(std::move(l));
  }

  // Every reference must name a layer of the model, and a tensor it makes.
  auto check = [&](const TensorRef& ref, const std::string& where) {
    if (by_name.count(ref.layer) == 0) {
      fail(ErrorCode::kInvalidArgument, where + " reads layer '" + ref.layer +
                                            "', which the model does not have (a dangling "
                                            "inbound node)");
    }
    if (ref.tensor != 0 || ref.node < 0) {
      fail(ErrorCode::kInvalidArgument, where + " reads output " + std::to_string(ref.tensor) +
                                            " of node " + std::to_string(ref.node) + " of layer '" +
                                            ref.layer + "'; leantrain layers have one output");
    }
  };
  for (const LoadedLayer& l : loaded) {
    for (size_t n = 0; n < l.nodes.size(); ++n) {
      for (const TensorRef& ref : l.nodes[n]) {
        check(ref, "layer '" + l.id.name + "' (" + l.id.class_name + ") inbound node " +
                       std::to_string(n));
      }
    }
  }
  for (const TensorRef& ref : input_refs) check(ref, r.where() + ": input_layers");
  for (const TensorRef& ref : output_refs) check(ref, r.where() + ": output_layers");

  // Call the layers as their inputs become available (functional_from_config's loop). Inputs
  // are made in file order with the calls, so that the model lists its layers in file order.
  auto ready = [&](const TensorRef& ref) {
    return static_cast<size_t>(ref.node) < loaded[by_name.at(ref.layer)].outputs.size();
  };
  for (bool progress = true; progress;) {
    progress = false;
    for (LoadedLayer& l : loaded) {
      if (l.input_shape && l.outputs.empty()) {
        l.outputs.push_back(Input({.shape = *l.input_shape, .name = l.id.name}));
        progress = true;
      }
      while (l.next < l.nodes.size() &&
             std::all_of(l.nodes[l.next].begin(), l.nodes[l.next].end(), ready)) {
        std::vector<Tensor> inputs;
        for (const TensorRef& ref : l.nodes[l.next]) {
          inputs.push_back(loaded[by_name.at(ref.layer)].outputs[static_cast<size_t>(ref.node)]);
        }
        try {
          l.outputs.push_back(inputs.size() == 1 ? l.layer(inputs[0]) : l.layer(inputs));
          check_output(*l.layer, l.outputs.back().shape());
        } catch (const Error& e) {
          rethrow(e);
        }
        ++l.next;
        progress = true;
      }
    }
  }
  for (const LoadedLayer& l : loaded) {
    if (l.next == l.nodes.size()) continue;
    for (const TensorRef& ref : l.nodes[l.next]) {
      if (ready(ref)) continue;
      fail(ErrorCode::kInvalidArgument,
           "layer '" + l.id.name + "' (" + l.id.class_name + ") inbound node " +
               std::to_string(l.next) + " reads node " + std::to_string(ref.node) + " of layer '" +
               ref.layer + "', which is never made (the layer has " +
               std::to_string(loaded[by_name.at(ref.layer)].outputs.size()) +
               " node(s)): a dangling inbound node or a cycle");
    }
  }
  auto resolve = [&](const std::vector<TensorRef>& refs, const std::string& key) {
    std::vector<Tensor> tensors;
    for (const TensorRef& ref : refs) {
      if (!ready(ref)) {
        fail(ErrorCode::kInvalidArgument, r.where() + ": " + key + " reads node " +
                                              std::to_string(ref.node) + " of layer '" + ref.layer +
                                              "', which is never made");
      }
      tensors.push_back(loaded[by_name.at(ref.layer)].outputs[static_cast<size_t>(ref.node)]);
    }
    return tensors;
  };
  std::vector<Tensor> inputs = resolve(input_refs, "input_layers");
  std::vector<Tensor> outputs = resolve(output_refs, "output_layers");
  try {
    Model model(std::move(inputs), std::move(outputs), name);
    check_variables(model);
    return model;
  } catch (const Error& e) {
    rethrow(e);
  }
}

// "line L, column C (byte B)" of a byte offset into `text`.
std::string position(const std::string& text, size_t byte) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + " (byte " +
         std::to_string(byte) + ")";
}

}  // namespace

nlohmann::ordered_json to_keras_config(const Model& model) {
  return model.is_sequential() ? sequential_config(model) : functional_config(model);
}

std::string to_json(const Model& model) {
  std::string out;
  dump_python(to_keras_config(model), out);
  return out;
}

Model model_from_keras_config(const nlohmann::json& config) {
  if (!config.is_object()) {
    fail(ErrorCode::kInvalidArgument, "the model must be a JSON object, got " + show(config));
  }
  const Json* cls = member(config, "class_name");
  const Json* inner = member(config, "config");
  if (cls == nullptr || !cls->is_string() || inner == nullptr) {
    fail(ErrorCode::kInvalidArgument,
         "the model needs \"class_name\" and \"config\", as model.to_json() writes them");
  }
  const std::string class_name = cls->get<std::string>();
  if (class_name == "Sequential") return load_sequential(*inner);
  if (class_name == "Functional" || class_name == "Model") {
    return load_functional(*inner, class_name);
  }
  fail(ErrorCode::kUnimplemented,
       "model class " + class_name +
           " is not supported; leantrain reads Sequential and Functional models (a subclassed "
           "keras.Model has no JSON architecture to read)");
}

Model model_from_json(const std::string& json) {
  Json config;
  try {
    config = Json::parse(json);
  } catch (const Json::parse_error& e) {
    std::string detail = e.what();
    if (const size_t p = detail.find("syntax error"); p != std::string::npos) {
      detail = detail.substr(p);
    }
    fail(ErrorCode::kDataLoss,
         "malformed JSON at " + position(json, e.byte > 0 ? e.byte - 1 : 0) + ": " + detail);
  }
  return model_from_keras_config(config);
}

}  // namespace leantrain::nn

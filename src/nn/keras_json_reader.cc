// The shared checks of the Keras JSON reader (keras_json_reader.h): values, initializers,
// regularizers, layer entries and input shapes.
#include "nn/keras_json_reader.h"

#include <cctype>
#include <cmath>
#include <vector>

namespace leantrain::nn::keras_json {

[[noreturn]] void fail(ErrorCode code, const std::string& message) {
  throw Error(code, "Keras JSON: " + message);
}

[[noreturn]] void rethrow(const Error& e, const std::string& context) {
  const std::string message = e.what();
  if (message.rfind("Keras JSON: ", 0) == 0) throw e;
  fail(e.code(), context.empty() ? message : context + ": " + message);
}

std::string show(const Json& j) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

const Json* member(const Json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

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

}  // namespace leantrain::nn::keras_json

// Reading Keras JSON: the checks and the per-config reader that the layer parsers
// (keras_json_layers.cc) and the model loaders (serialization.cc) share. Every error is an
// Error whose message starts "Keras JSON: " and names the layer or model and the key.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "leantrain/core/error.h"
#include "leantrain/nn/layers.h"
#include "leantrain/nn/model.h"

namespace leantrain::nn::keras_json {

using Json = nlohmann::json;

// Sizes, axes and indices read from a config are at most this in magnitude: more than any real
// model needs, and few enough bits that shape arithmetic on them cannot overflow.
constexpr int64_t kMaxInteger = int64_t{1} << 20;
constexpr const char* kIntegerText = "an integer in [-2^20, 2^20]";
// A tensor or variable holds at most this many elements (4 TiB of float32).
constexpr int64_t kMaxElements = int64_t{1} << 40;

// Throws Error(code) with "Keras JSON: " before `message`.
[[noreturn]] void fail(ErrorCode code, const std::string& message);
// Rethrows an error from a layer or model constructor as a Keras JSON error, `context` first.
[[noreturn]] void rethrow(const Error& e, const std::string& context = "");
// A JSON value for a message, shortened.
std::string show(const Json& j);
// obj[key], or null when `obj` is not an object or has no such key.
const Json* member(const Json& obj, const std::string& key);
// An integer (or an integral float) in [-kMaxInteger, kMaxInteger].
std::optional<int64_t> as_integer(const Json& j);
// The product of `dims` when it is at most kMaxElements.
std::optional<int64_t> bounded_product(std::span<const int64_t> dims);
std::string lower(std::string s);

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

// A layer entry's class name and name (the entry's "name", else its config's).
struct EntryId {
  std::string class_name, name;
};

// The class name and name of entry `index` of a layer list; throws Error(kInvalidArgument)
// naming the entry when either is missing.
EntryId entry_id(const Json& entry, size_t index);
// The entry's "config"; throws Error(kInvalidArgument) naming the layer when it has none.
const Json& entry_config(const Json& entry, const EntryId& id);

// Builds the layer of a (non-input) entry from its config (keras_json_layers.cc). Throws
// Error(kUnimplemented) naming the layer for a class or argument leantrain does not have,
// Error(kInvalidArgument) for a malformed config.
LayerPtr parse_layer(const Json& entry, const EntryId& id);

// An input shape from [None, d0, d1, ...] (`with_batch`) or (d0, d1, ...); throws naming
// `where` and `key` for an unknown (None) dimension, a bad one or too many elements.
Shape input_shape(const Json& j, bool with_batch, const std::string& where, const std::string& key);
// An InputLayer's shape (without batch) from batch_shape (Keras 3), batch_input_shape
// (Keras 2) or shape.
Shape read_input_layer(const Json& entry, const EntryId& id);

}  // namespace leantrain::nn::keras_json

// Keras JSON for models (nn/serialization.h), read: Sequential and Functional configs. Each
// layer is built from its config (keras_json_layers.cc), then the layer calls are replayed as
// Keras' functional_from_config does
// (keras/src/models/functional.py): layers in file order, each layer's inbound nodes in order,
// a node waiting until the nodes it reads exist.
#include "leantrain/nn/serialization.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "leantrain/core/error.h"
#include "leantrain/nn/sequential.h"
#include "nn/keras_json_reader.h"

namespace leantrain::nn {
namespace {

using keras_json::as_integer;
using keras_json::bounded_product;
using keras_json::ConfigReader;
using keras_json::entry_config;
using keras_json::entry_id;
using keras_json::EntryId;
using keras_json::fail;
using keras_json::input_shape;
using keras_json::Json;
using keras_json::member;
using keras_json::parse_layer;
using keras_json::read_input_layer;
using keras_json::rethrow;
using keras_json::show;

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

// A call's keyword arguments: `training` as Keras records it (true, false or null: Keras 3
// writes Dropout's symbolic call as training=false; fit and predict override it with the
// model's mode, as leantrain's steps do) and anything else null.
void check_call_kwargs(const Json& kwargs, const std::string& where) {
  for (auto it = kwargs.begin(); kwargs.is_object() && it != kwargs.end(); ++it) {
    if (it.value().is_null() || (it.key() == "training" && it.value().is_boolean())) continue;
    fail(ErrorCode::kUnimplemented, where + " is called with " + it.key() + "=" + show(it.value()) +
                                        ", which leantrain does not support; leantrain "
                                        "chooses training or inference per step");
  }
}

TensorRef tensor_ref(const Json& h, const std::string& where) {
  // Keras 2 entries carry a fourth item, the call's kwargs.
  if (!h.is_array() || h.size() < 3 || h.size() > 4 || !h[0].is_string() || !as_integer(h[1]) ||
      !as_integer(h[2])) {
    fail(ErrorCode::kInvalidArgument,
         where + ": a tensor reference must be [layer name, node index, tensor index], got " +
             show(h));
  }
  if (h.size() == 4) check_call_kwargs(h[3], where);
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
    if (const Json* kwargs = member(node, "kwargs")) check_call_kwargs(*kwargs, where);
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

// The layers of a functional config, built but not yet called, with their names' indices.
struct LoadedLayers {
  std::vector<LoadedLayer> layers;
  std::map<std::string, size_t> by_name;

  LoadedLayer& at(const TensorRef& ref) { return layers[by_name.at(ref.layer)]; }
  // True once the node `ref` reads has been called.
  bool ready(const TensorRef& ref) const {
    return static_cast<size_t>(ref.node) < layers[by_name.at(ref.layer)].outputs.size();
  }
};

// Builds every entry's layer (or reads an InputLayer's shape) and its inbound nodes.
LoadedLayers load_layers(const Json& entries) {
  LoadedLayers loaded;
  for (size_t i = 0; i < entries.size(); ++i) {
    LoadedLayer l{entry_id(entries[i], i), {}, {}, {}, {}, 0};
    const std::string where = "layer '" + l.id.name + "' (" + l.id.class_name + ")";
    if (!loaded.by_name.emplace(l.id.name, loaded.layers.size()).second) {
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
    loaded.layers.push_back(std::move(l));
  }
  return loaded;
}

// Every reference must name a layer of the model, and a tensor it makes.
void check_references(const LoadedLayers& loaded, const std::vector<TensorRef>& input_refs,
                      const std::vector<TensorRef>& output_refs, const std::string& model) {
  auto check = [&](const TensorRef& ref, const std::string& where) {
    if (loaded.by_name.count(ref.layer) == 0) {
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
  for (const LoadedLayer& l : loaded.layers) {
    for (size_t n = 0; n < l.nodes.size(); ++n) {
      for (const TensorRef& ref : l.nodes[n]) {
        check(ref, "layer '" + l.id.name + "' (" + l.id.class_name + ") inbound node " +
                       std::to_string(n));
      }
    }
  }
  for (const TensorRef& ref : input_refs) check(ref, model + ": input_layers");
  for (const TensorRef& ref : output_refs) check(ref, model + ": output_layers");
}

// Calls the layers as their inputs become available (functional_from_config's loop). Inputs
// are made in file order with the calls, so that the model lists its layers in file order.
// Throws naming the first node never called (a dangling inbound node or a cycle).
void call_layers(LoadedLayers& loaded) {
  for (bool progress = true; progress;) {
    progress = false;
    for (LoadedLayer& l : loaded.layers) {
      if (l.input_shape && l.outputs.empty()) {
        l.outputs.push_back(Input({.shape = *l.input_shape, .name = l.id.name}));
        progress = true;
      }
      while (l.next < l.nodes.size() &&
             std::all_of(l.nodes[l.next].begin(), l.nodes[l.next].end(),
                         [&](const TensorRef& ref) { return loaded.ready(ref); })) {
        std::vector<Tensor> inputs;
        for (const TensorRef& ref : l.nodes[l.next]) {
          inputs.push_back(loaded.at(ref).outputs[static_cast<size_t>(ref.node)]);
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
  for (const LoadedLayer& l : loaded.layers) {
    if (l.next == l.nodes.size()) continue;
    for (const TensorRef& ref : l.nodes[l.next]) {
      if (loaded.ready(ref)) continue;
      fail(ErrorCode::kInvalidArgument,
           "layer '" + l.id.name + "' (" + l.id.class_name + ") inbound node " +
               std::to_string(l.next) + " reads node " + std::to_string(ref.node) + " of layer '" +
               ref.layer + "', which is never made (the layer has " +
               std::to_string(loaded.at(ref).outputs.size()) +
               " node(s)): a dangling inbound node or a cycle");
    }
  }
}

// The model's input_layers or output_layers (`key`) as tensors of the called layers.
std::vector<Tensor> endpoint_tensors(LoadedLayers& loaded, const std::vector<TensorRef>& refs,
                                     const std::string& model, const std::string& key) {
  std::vector<Tensor> tensors;
  for (const TensorRef& ref : refs) {
    if (!loaded.ready(ref)) {
      fail(ErrorCode::kInvalidArgument, model + ": " + key + " reads node " +
                                            std::to_string(ref.node) + " of layer '" + ref.layer +
                                            "', which is never made");
    }
    tensors.push_back(loaded.at(ref).outputs[static_cast<size_t>(ref.node)]);
  }
  return tensors;
}

Model load_functional(const Json& config, const std::string& class_name) {
  ConfigReader r = model_reader(config, class_name);
  const std::string name = r.string("name", "functional");
  const Json& entries = layer_list(r);
  const std::vector<TensorRef> input_refs = endpoint_refs(r, "input_layers");
  const std::vector<TensorRef> output_refs = endpoint_refs(r, "output_layers");
  r.finish();
  LoadedLayers loaded = load_layers(entries);
  check_references(loaded, input_refs, output_refs, r.where());
  call_layers(loaded);
  std::vector<Tensor> inputs = endpoint_tensors(loaded, input_refs, r.where(), "input_layers");
  std::vector<Tensor> outputs = endpoint_tensors(loaded, output_refs, r.where(), "output_layers");
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

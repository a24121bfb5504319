// Keras JSON for models, written: the model's calls walked and each layer asked for its Keras
// config (nn/keras_config.h), printed as Python's json.dumps prints model.to_json().
#include <map>
#include <set>
#include <string>

#include "leantrain/nn/serialization.h"
#include "nn/keras_config.h"

namespace leantrain::nn {
namespace {

using OJson = nlohmann::ordered_json;
using Call = Tensor::Call;

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

}  // namespace

nlohmann::ordered_json to_keras_config(const Model& model) {
  return model.is_sequential() ? sequential_config(model) : functional_config(model);
}

std::string to_json(const Model& model) {
  std::string out;
  dump_python(to_keras_config(model), out);
  return out;
}

}  // namespace leantrain::nn

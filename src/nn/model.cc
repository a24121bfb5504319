#include "leantrain/nn/model.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "leantrain/core/error.h"
#include "leantrain/nn/sequential.h"
#include "leantrain/passes/fold_zero_padding.h"
#include "ops/ops.h"

namespace leantrain::nn {
namespace {

using Call = Tensor::Call;

// Every call the outputs depend on, in creation order (a topological order: a call can only
// read tensors made before it).
std::vector<Tensor> reachable_calls(const std::vector<Tensor>& outputs) {
  std::map<const Call*, Tensor> seen;
  std::vector<Tensor> stack(outputs.begin(), outputs.end());
  while (!stack.empty()) {
    const Tensor t = stack.back();
    stack.pop_back();
    if (!seen.emplace(t.call_ptr().get(), t).second) continue;
    for (const Tensor& in : t.call().inputs) stack.push_back(in);
  }
  std::vector<Tensor> calls;
  for (auto& [ptr, t] : seen) calls.push_back(t);
  std::sort(calls.begin(), calls.end(),
            [](const Tensor& a, const Tensor& b) { return a.call().serial < b.call().serial; });
  return calls;
}

}  // namespace

Model::Model(std::vector<Tensor> inputs, std::vector<Tensor> outputs, std::string name)
    : name_(std::move(name)), inputs_(std::move(inputs)), outputs_(std::move(outputs)) {
  LT_CHECK(!inputs_.empty() && !outputs_.empty(), kInvalidArgument, "model '", name_,
           "' needs at least one input and one output");
  std::set<const Call*> input_calls;
  for (const Tensor& t : inputs_) {
    LT_CHECK(t.defined() && t.call().layer->arity() == 0, kInvalidArgument, "model '", name_,
             "': every input must come from Input(); got the output of '",
             t.defined() ? t.call().layer->name() : std::string("an undefined tensor"), "'");
    input_calls.insert(t.call_ptr().get());
  }
  for (const Tensor& t : outputs_) {
    LT_CHECK(t.defined(), kInvalidArgument, "model '", name_, "': an output is undefined");
  }
  calls_ = reachable_calls(outputs_);
  for (const Tensor& t : calls_) {
    const LayerPtr& layer = t.call().layer;
    if (layer->arity() == 0) {
      LT_CHECK(input_calls.count(t.call_ptr().get()) > 0, kInvalidArgument, "model '", name_,
               "': the outputs depend on input '",
               layer->name().empty() ? layer->default_name() : layer->name(),
               "', which is not among the model's inputs");
    }
    if (std::find(layers_.begin(), layers_.end(), layer) == layers_.end()) {
      layers_.push_back(layer);
    }
  }
  // Names: the user's first (they must be unique), then Keras' stems numbered in order.
  std::set<std::string> taken;
  for (const LayerPtr& layer : layers_) {
    if (!layer->named_by_user()) continue;
    LT_CHECK(taken.insert(layer->name()).second, kInvalidArgument, "model '", name_,
             "': two layers are named '", layer->name(), "'; layer names must be unique");
  }
  std::map<std::string, int> counts;
  for (const LayerPtr& layer : layers_) {
    if (layer->named_by_user()) continue;
    const std::string stem = layer->default_name();
    std::string candidate;
    do {
      const int k = counts[stem]++;
      candidate = k == 0 ? stem : stem + "_" + std::to_string(k);
    } while (taken.count(candidate) > 0);
    taken.insert(candidate);
    layer->set_name(candidate);
  }
  // Keras' "sequential-like": one input, one output, every layer called once on one tensor, each
  // call reading the one before it.
  sequential_like_ = inputs_.size() == 1 && outputs_.size() == 1 &&
                     calls_.back().call_ptr() == outputs_[0].call_ptr();
  for (size_t i = 1; i < calls_.size() && sequential_like_; ++i) {
    const Call& c = calls_[i].call();
    sequential_like_ = c.inputs.size() == 1 && c.inputs[0].call_ptr() == calls_[i - 1].call_ptr() &&
                       c.layer->calls() == 1;
  }
}

const Shape& Model::input_shape() const {
  LT_CHECK(inputs_.size() == 1, kInvalidArgument, "model '", name_, "' has ", inputs_.size(),
           " inputs; input_shape() needs exactly one");
  return inputs_[0].shape();
}

const Shape& Model::output_shape() const {
  LT_CHECK(outputs_.size() == 1, kInvalidArgument, "model '", name_, "' has ", outputs_.size(),
           " outputs; output_shape() needs exactly one");
  return outputs_[0].shape();
}

const LayerPtr& Model::get_layer(const std::string& name) const {
  for (const LayerPtr& layer : layers_) {
    if (layer->name() == name) return layer;
  }
  throw Error(ErrorCode::kNotFound, "model '" + name_ + "' has no layer named '" + name + "'");
}

namespace {

// The input shapes of a layer's first call in the model (its variables depend on them).
std::vector<Shape> first_call_inputs(const std::vector<Tensor>& calls, const LayerPtr& layer) {
  for (const Tensor& t : calls) {
    if (t.call().layer == layer) {
      std::vector<Shape> shapes;
      for (const Tensor& in : t.call().inputs) shapes.push_back(in.shape());
      return shapes;
    }
  }
  return {};
}

}  // namespace

std::vector<ModelVariable> Model::variables() const {
  std::vector<ModelVariable> out;
  for (const LayerPtr& layer : layers_) {
    for (Variable& v : layer->variables(first_call_inputs(calls_, layer))) {
      out.push_back(ModelVariable{layer->name(), std::move(v)});
    }
  }
  return out;
}

int64_t Model::count_params(bool trainable) const {
  int64_t n = 0;
  for (const ModelVariable& v : variables()) {
    if (v.variable.trainable == trainable) n += v.variable.shape.num_elements();
  }
  return n;
}

BuiltModel Model::build(graph::Graph& g, int64_t batch, bool training) const {
  LT_CHECK(batch > 0, kInvalidArgument, "batch size must be positive, got ", batch);
  BuildContext ctx{g, batch, training};
  std::map<const Call*, graph::ValueId> value_of;
  std::map<const Layer*, std::vector<graph::ValueId>> vars_of;
  for (const Tensor& t : calls_) {
    const Call& c = t.call();
    const Layer& layer = *c.layer;
    std::vector<graph::ValueId> in;
    std::vector<Shape> shapes;
    for (const Tensor& x : c.inputs) {
      in.push_back(value_of.at(x.call_ptr().get()));
      shapes.push_back(x.shape());
    }
    auto [it, first] = vars_of.try_emplace(&layer);
    if (first) {
      for (const Variable& v : layer.variables(shapes)) {
        it->second.push_back(g.add_value(
            layer.name() + "/" + v.name, {v.shape, DType::kF32},
            v.trainable ? graph::ValueKind::kParameter : graph::ValueKind::kState, layer.name()));
      }
    }
    value_of[t.call_ptr().get()] = layer.build(ctx, in, it->second);
  }
  BuiltModel built;
  for (const Tensor& t : inputs_) built.inputs.push_back(value_of.at(t.call_ptr().get()));
  for (const Tensor& t : outputs_) built.outputs.push_back(value_of.at(t.call_ptr().get()));
  std::vector<graph::ValueId> ids = built.inputs;
  ids.insert(ids.end(), built.outputs.begin(), built.outputs.end());
  g = passes::fold_zero_padding(g, {.ids = ids});
  const auto split = ids.begin() + static_cast<std::ptrdiff_t>(built.inputs.size());
  built.inputs.assign(ids.begin(), split);
  built.outputs.assign(split, ids.end());
  return built;
}

bool outputs_probabilities(const Model& model) {
  const Layer& last = *model.outputs().at(0).call().layer;
  if (last.class_name() == "Softmax") return true;
  try {
    const auto config = last.get_config();
    auto it = config.find("activation");
    return it != config.end() && it->is_string() && *it == "softmax";
  } catch (const Error&) {
    return false;  // a layer with no Keras config has no activation argument
  }
}

namespace {

// Names the layers (so that a misfit layer's error names it as the model will), then calls them
// one after another on a new input; returns (input, output).
std::pair<Tensor, Tensor> chain(const Shape& input_shape, const std::vector<LayerPtr>& layers,
                                const std::string& name) {
  std::map<std::string, int> counts;
  for (const LayerPtr& layer : layers) {
    LT_CHECK(layer, kInvalidArgument, "Sequential '", name, "': a layer is null");
    if (layer->named_by_user()) continue;
    const std::string stem = layer->default_name();
    const int k = counts[stem]++;
    layer->set_name(k == 0 ? stem : stem + "_" + std::to_string(k));
  }
  const Tensor input = Input({.shape = input_shape});
  Tensor x = input;
  for (const LayerPtr& layer : layers) x = layer(x);
  return {input, x};
}

}  // namespace

Sequential::Sequential(Shape input_shape, std::vector<LayerPtr> layers, std::string name)
    : Sequential(chain(input_shape, layers, name), std::move(name)) {}

Sequential::Sequential(std::pair<Tensor, Tensor> io, std::string name)
    : Model(std::move(io.first), std::move(io.second), std::move(name)) {
  mark_sequential();
}

}  // namespace leantrain::nn

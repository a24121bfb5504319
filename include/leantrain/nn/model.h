// Models: a graph of layer calls from symbolic inputs to outputs, as keras.Model(inputs, outputs);
// Sequential (sequential.h) is a model whose calls form a chain.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "leantrain/nn/layers.h"

namespace leantrain::nn {

// One variable of a model, named "<layer>/<variable>" as in the saved weights.
struct ModelVariable {
  std::string layer;
  Variable variable;
  std::string full_name() const { return layer + "/" + variable.name; }
};

// The graph values a model added for one batch size and mode.
struct BuiltModel {
  std::vector<graph::ValueId> inputs;   // (N, ...) f32, named after the input layers
  std::vector<graph::ValueId> outputs;  // the output tensors' values
};

// Memory figures per layer that a trainer computes for summary(): bytes its forward tensors keep
// for the backward pass at the compiled batch size, and its share of the planned peak.
struct LayerMemory {
  int64_t kept_for_backward_bytes = 0;
  double share_of_peak = 0;  // 0..1
};

// A model: layer calls in a topological order (creation order), from input layers to outputs.
// Unnamed layers get Keras' default names at construction, numbered per model in that order
// (conv2d, conv2d_1, ...; input_layer, input_layer_1). Immutable afterwards. A layer called
// more than once shares its variables. Copyable (layers are shared). Not thread-safe.
class Model {
 public:
  // Throws Error(kInvalidArgument) when an output does not depend only on `inputs`, when an input
  // is not an Input(), or when two layers share a name.
  Model(std::vector<Tensor> inputs, std::vector<Tensor> outputs, std::string name = "functional");
  Model(Tensor input, Tensor output, std::string name = "functional")
      : Model(std::vector<Tensor>{std::move(input)}, std::vector<Tensor>{std::move(output)},
              std::move(name)) {}
  virtual ~Model() = default;

  const std::string& name() const { return name_; }
  const std::vector<Tensor>& inputs() const { return inputs_; }
  const std::vector<Tensor>& outputs() const { return outputs_; }
  // Input and output shapes (without batch) of a single-input, single-output model; throws
  // Error(kInvalidArgument) for a model with several.
  const Shape& input_shape() const;
  const Shape& output_shape() const;
  // The distinct layers in order, input layers included (Keras' model.layers for a functional
  // model; Sequential's summary leaves the input layer out).
  const std::vector<LayerPtr>& layers() const { return layers_; }
  // Returns the layer called `name`; throws Error(kNotFound) naming it.
  const LayerPtr& get_layer(const std::string& name) const;
  // Every call in topological order.
  const std::vector<Tensor>& calls() const { return calls_; }
  // Every variable, layer by layer in Keras' order.
  std::vector<ModelVariable> variables() const;
  int64_t count_params(bool trainable) const;
  // True for Sequential, and for a functional model whose calls form one chain (Keras'
  // "sequential-like": the three-column summary).
  bool sequential_like() const { return sequential_like_; }
  bool is_sequential() const { return is_sequential_; }

  // Adds inputs (kInput values named after the input layers), variables (kParameter / kState
  // values named "<layer>/<variable>") and forward nodes for a batch of `batch` to `g`. A
  // ZeroPadding2D that feeds one 'valid' convolution runs inside it (passes::fold_zero_padding): it
  // has no node and no value of its own, so backward keeps no padded copy. The graph is rebuilt
  // when a pad is folded: ids of `g` taken before the call are not valid after it.
  BuiltModel build(graph::Graph& g, int64_t batch, bool training) const;

  // Keras 3's model.summary() table (rich box format): Layer (type), Output Shape, Param #, plus
  // Connected to for a model that is not sequential-like; then Total / Trainable / Non-trainable
  // params with their sizes. With `memory` (per layer name), two more columns: bytes kept for
  // backward and share of the planned peak.
  // With optimizer_params > 0 (the optimizer's variables, once built), Keras' "Optimizer
  // params" line too, counted in the total as Keras counts it.
  std::string summary(const std::map<std::string, LayerMemory>* memory = nullptr,
                      int64_t optimizer_params = 0) const;

 protected:
  // For Sequential: marks the model as one (summary leaves out its input layer).
  void mark_sequential() { is_sequential_ = true; }

 private:
  std::string name_;
  std::vector<Tensor> inputs_, outputs_;
  std::vector<Tensor> calls_;
  std::vector<LayerPtr> layers_;
  bool sequential_like_ = true;
  bool is_sequential_ = false;
};

// True when the model's (first) output comes out of a softmax: a Softmax layer, or a layer whose
// activation is "softmax" (the Keras Applications' default head). A trainer then reads it as
// probabilities (from_logits=false); otherwise as logits.
bool outputs_probabilities(const Model& model);

}  // namespace leantrain::nn

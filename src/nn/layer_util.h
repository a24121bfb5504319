// Helpers the layer files share: naming in errors, shape checks, and adding a layer's nodes.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "leantrain/nn/layers.h"
#include "ops/ops.h"

namespace leantrain::nn {

// The layer's name, or its default stem before a model has named it (for error messages).
std::string display_name(const Layer& layer);
// Throws Error(kUnimplemented) naming `activation` unless it is a supported Keras activation.
void check_activation(const std::string& activation);
// Throws Error(kInvalidArgument) naming the layer unless `input` is (height, width, channels).
void check_image(const Layer& layer, const Shape& input);
// (1, dims...).
Shape with_batch1(const Shape& s);
// Runs the op's shape rule on a batch of 1 and returns the output shape without batch; an op's
// error is rethrown with the layer's name in front.
Shape infer_one(const ops::OpPtr& op, std::vector<graph::TensorSpec> in, const Layer& layer);
// Adds a forward node of `layer` named "<layer><suffix>" (made unique).
graph::ValueId add_node(BuildContext& ctx, const Layer& layer, const ops::OpPtr& op,
                        std::vector<graph::ValueId> inputs, const std::string& suffix = "");
// Adds the activation's node after `x` (none for "linear"); `own_node` names it after the layer
// (an Activation layer) rather than "<layer>/<activation>".
graph::ValueId add_activation(BuildContext& ctx, const Layer& layer, graph::ValueId x,
                              const std::string& activation, bool own_node = false);

// Makes a layer; a non-empty `name` is the user's (options.name).
template <typename L, typename... Args>
LayerPtr make_layer(const std::string& name, Args&&... args) {
  auto layer = std::make_shared<L>(std::forward<Args>(args)...);
  if (!name.empty()) layer->set_name(name, /*by_user=*/true);
  return LayerPtr(std::move(layer));
}

}  // namespace leantrain::nn

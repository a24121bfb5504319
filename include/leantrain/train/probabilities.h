// A classifier's outputs as class probabilities, whether its head ends in a softmax or gives
// logits (the zoo's models, trained from_logits).
#pragma once

#include <cstdint>
#include <span>

#include "leantrain/nn/model.h"

namespace leantrain::train {

// Rewrites `outputs` (rows of the model's output width, as Trainer::predict returns them) into
// probabilities: unchanged when the model ends in a softmax (nn::outputs_probabilities);
// otherwise they are logits and each row becomes its softmax (max subtracted first, as
// keras.activations.softmax), or, for a single output unit, its logistic sigmoid (the
// probability of class 1, as a binary model's logit is read). Throws Error(kInvalidArgument)
// when outputs.size() is not a multiple of the output width. Models whose head ends in a
// sigmoid are read as logits too: give them a softmax head or read their outputs as they are.
void as_probabilities(const nn::Model& model, std::span<float> outputs);

}  // namespace leantrain::train

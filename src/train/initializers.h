// Keras' initializers: a variable's first values from its initializer name and a seed.
#pragma once

#include <cstdint>

#include "leantrain/nn/sequential.h"
#include "leantrain/runtime/program.h"

namespace leantrain::train {

// Writes every variable of `model` into `store` as its initializer says (zeros, ones,
// glorot_/he_/lecun_ uniform and normal, truncated as Keras, or a VarianceScaling config), each
// drawn from a seed mixed from `seed` and its index in the model's order. Throws
// Error(kUnimplemented) naming an initializer it does not know.
void initialize_variables(const nn::Model& model, runtime::PersistentStore& store, uint64_t seed);

}  // namespace leantrain::train

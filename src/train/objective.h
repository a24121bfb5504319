// The loss and metric nodes of a training or evaluation graph, from Keras' names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "leantrain/graph/graph.h"
#include "leantrain/train/loss.h"

namespace leantrain::train {

// How the labels input of a graph is laid out, from the loss.
enum class LabelLayout {
  kSparse,  // (N) i32 class ids
  kOneHot,  // (N, C) f32 one-hot rows
  kBinary,  // (N, K) f32: the class id itself when K == 1, one-hot rows otherwise
};

// A metric as it sits in a graph: an output value holding a count over the batch.
struct MetricNode {
  std::string name;         // the logs key, e.g. "accuracy"
  int64_t per_example = 1;  // counted units per example (binary accuracy counts every unit)
};

struct Objective {
  LabelLayout labels = LabelLayout::kSparse;
  std::vector<MetricNode> metrics;
};

// Checks that `loss` and `metrics` fit a model whose output (without batch) is `output_shape`;
// throws Error(kInvalidArgument) naming the loss or metric and what would work.
Objective resolve_objective(const Loss& loss, const std::vector<Metric>& metrics,
                            const Shape& output_shape);

// Adds to `g`: the "labels" input, the loss (value "loss": the data loss plus every L2 penalty
// of `l2_params`), and one output value per metric (named after it). Returns the loss value.
graph::ValueId add_objective(graph::Graph& g, graph::ValueId output, const Loss& loss,
                             const std::vector<Metric>& metrics,
                             const std::vector<std::pair<graph::ValueId, float>>& l2_params);

// Writes the labels input from class ids: as is (sparse), or one-hot / binary floats.
void encode_labels(LabelLayout layout, const int32_t* ids, int64_t n, int64_t width, void* labels);

}  // namespace leantrain::train

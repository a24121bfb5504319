// Zero-padding folding: ZeroPadding2D nodes folded into the convolutions that read them.
#pragma once

#include <span>

#include "leantrain/graph/graph.h"

namespace leantrain::passes {

struct FoldZeroPaddingOptions {
  // Ids of values of the input graph the caller holds (a model's inputs and outputs), none a
  // folded pad's output: the pass rewrites them to the returned graph's ids.
  std::span<graph::ValueId> ids;
};

// Returns `g` with each ZeroPadding2D whose output only one 'valid' Conv2D or DepthwiseConv2D
// reads (as its input, not a graph output, pads smaller than the window) folded into that
// convolution as explicit padding: the same results without the padded copy of the input, which
// backward would keep (MobileNetV2 at 224x224, batch 32: 242 MiB). The graph is rebuilt in its
// order with the pad nodes left out; values keep their names. `g` must hold forward nodes only
// (Error(kInvalidArgument) naming the first other node); Error(kInvalidArgument) also for an id
// in options.ids that is a folded pad's output.
graph::Graph fold_zero_padding(const graph::Graph& g, const FoldZeroPaddingOptions& options = {});

}  // namespace leantrain::passes

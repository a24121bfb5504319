// Zero-padding folding: ZeroPadding2D nodes folded into the convolutions that read them.
#pragma once

#include <span>

#include "leantrain/graph/graph.h"

namespace leantrain::passes {

// Folds each ZeroPadding2D whose output only one 'valid' Conv2D or DepthwiseConv2D reads (as its
// input, not a graph output, pads smaller than the window) into that convolution as explicit
// padding: the same results without the padded copy of the input, which backward would keep
// (MobileNetV2 at 224x224, batch 32: 242 MiB). The graph is rebuilt in its order with the pad
// nodes left out; values keep their names, `ids` (values of `g`, none a folded pad's output) are
// updated to the new graph's ids. Returns the number of pads folded. `g` must hold forward nodes
// only (Error(kInvalidArgument) naming the first other node).
int fold_zero_padding(graph::Graph& g, std::span<graph::ValueId> ids);

}  // namespace leantrain::passes

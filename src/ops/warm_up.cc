// Starts the kernel engine once per process, before any model exists.
#include <algorithm>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/dense.h"
#include "kernels/dnnl_context.h"
#include "ops/ops.h"

namespace leantrain::ops {

void warm_up_kernels() {
  // One tiny convolution (forward, backward data, backward weights) and one matrix product
  // (forward and backward): this creates oneDNN's engine and stream, starts the OpenMP threads
  // and makes oneDNN build the JIT kernels it keeps for the whole process (its GEMM kernels).
  kernels::Window2D w;
  w.kernel_h = w.kernel_w = 3;
  const kernels::ConvShapes conv{Shape{2, 8, 8, 8}, Shape{3, 3, 8, 16}, Shape{2, 6, 6, 16}, true,
                                 false};
  // The default variants: the JIT kernels most programs use.
  kernels::ConvFwdDnnl fwd(w, conv, kDefaultConvWeightsLayout);
  kernels::ConvBwdDataDnnl bwd_data(w, conv, kDefaultConvWeightsLayout);
  kernels::ConvBwdWeightsDnnl bwd_weights(w, conv, kDefaultConvWeightsLayout);
  kernels::DenseDnnl dense(4, 16, 16, true, kDefaultDenseImpl);
  const int64_t scratch_bytes =
      std::max({fwd.scratch_bytes(), bwd_data.scratch_bytes(), bwd_weights.scratch_bytes(),
                dense.fwd_scratch_bytes(), dense.bwd_data_scratch_bytes(),
                dense.bwd_weights_scratch_bytes(), int64_t{1}});
  std::vector<float> src(2 * 8 * 8 * 8, 0.5f), weights(3 * 3 * 8 * 16, 0.25f), bias(16, 0.0f),
      dst(2 * 6 * 6 * 16, 0.0f);
  std::vector<unsigned char> scratch(static_cast<size_t>(scratch_bytes));
  fwd.run(src.data(), weights.data(), bias.data(), dst.data(), scratch.data());
  bwd_data.run(dst.data(), weights.data(), src.data(), scratch.data());
  bwd_weights.run(src.data(), dst.data(), weights.data(), bias.data(), scratch.data());
  dense.fwd(src.data(), weights.data(), bias.data(), dst.data(), scratch.data());
  dense.bwd_data(dst.data(), weights.data(), src.data(), scratch.data());
  dense.bwd_weights(src.data(), dst.data(), weights.data(), bias.data(), scratch.data());
}

void release_unused_kernels() { kernels::drop_cached_primitives(); }

}  // namespace leantrain::ops

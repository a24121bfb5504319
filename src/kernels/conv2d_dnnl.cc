// Conv2D and DepthwiseConv2D through oneDNN 2.6 convolution primitives. Depthwise is a grouped
// convolution with groups = IC, whose weights (G=IC, M, 1, KH, KW) in format hwigo are exactly
// Keras' (KH, KW, IC, M) bytes. A grouped Conv2D (groups G > 1) has weights (G, OC/G, IC/G, KH,
// KW), also hwigo: Keras' (KH, KW, IC/G, OC) bytes, since output channel g*OC/G + o sits at
// g, o. Activations are always NHWC.
//
// Weights: a primitive either reads Keras' layout directly (hwio / hwigo), or lets oneDNN pick
// its layout (format_tag::any) and run() reorders Keras' weights into scratch first (backward
// weights: computes into scratch, then reorders out). Measured on the CNN's shapes, the second is
// faster on every pass (the default, ConvWeightsLayout::kAny); see reorder_weights() below.
//
// Every primitive is created with a user scratchpad. Scratch, from the caller's pointer rounded
// up to 64 bytes:
//   [0, weights_bytes)                     reordered weights, when reordering
//   [pad_offset, pad_offset + pad_bytes)   oneDNN scratchpad, shared by the reorder and the
//                                          convolution since they run one after the other
// run() binds the caller's pointers to memory objects made at construction and executes through
// the C API, so it neither allocates nor throws.
#include "kernels/conv2d.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "kernels/dnnl_context.h"
#include "leantrain/core/error.h"

namespace leantrain::kernels {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using DataType = memory::data_type;

int64_t align_up(int64_t bytes) {
  return (bytes + kScratchAlign - 1) / kScratchAlign * kScratchAlign;
}

// ConvWeightsLayout::kAny (the default): the primitive picks its weights layout
// (format_tag::any) and run() reorders Keras' weights to and from it; kPlain: the primitive
// reads Keras' layout. With Keras' layout oneDNN 2.6 on AVX2 falls back to im2col + GEMM
// (x64:gemm:jit); with its own blocked layout it runs the direct jit:avx2 / jit_dw:avx2 kernels,
// faster on every pass of the CNN's convolutions even counting the reorders, which take about
// 5 us (bench/kernels_conv_bench.cc, 2 threads, best of 9, ms): conv A forward 0.43 vs 1.20,
// backward weights 1.25 vs 2.92; conv B forward 3.41 vs 5.35, backward data 3.35 vs 4.09,
// backward weights 4.64 vs 5.08. Where oneDNN's choice is Keras' layout anyway, no reorder is
// made. kPlain is kept to re-measure on other CPUs.
bool reorder_weights(ConvWeightsLayout layout) { return layout == ConvWeightsLayout::kAny; }

// The convolution in oneDNN's terms.
struct ConvGeometry {
  memory::desc src, dst, bias;  // NHWC src and dst; bias (OC) or zero desc
  memory::dims weights_dims;    // (OC, IC, KH, KW) or grouped (G, OC/G, IC/G, KH, KW)
  Tag weights_tag;              // Keras' layout: hwio or hwigo
  memory::dims strides, dilates, pad_l, pad_r;
  bool has_bias;

  memory::desc keras_weights() const { return {weights_dims, DataType::f32, weights_tag}; }
  memory::desc weights(bool any) const {
    return any ? memory::desc(weights_dims, DataType::f32, Tag::any) : keras_weights();
  }
};

ConvGeometry make_geometry(const Window2D& w, const ConvShapes& s, const char* who) {
  detail::check_conv_shapes(w, s.src, s.weights, s.dst, s.depthwise, s.groups, who);
  ConvGeometry g;
  const int64_t n = s.src[0], ic = s.src[3], oc = s.dst[3];
  g.src = memory::desc({n, ic, s.src[1], s.src[2]}, DataType::f32, Tag::nhwc);
  g.dst = memory::desc({n, oc, s.dst[1], s.dst[2]}, DataType::f32, Tag::nhwc);
  g.has_bias = s.has_bias;
  if (s.has_bias) g.bias = memory::desc({oc}, DataType::f32, Tag::x);
  if (s.depthwise) {
    g.weights_dims = {ic, s.weights[3], 1, w.kernel_h, w.kernel_w};
    g.weights_tag = Tag::hwigo;
  } else if (s.groups > 1) {
    g.weights_dims = {s.groups, oc / s.groups, ic / s.groups, w.kernel_h, w.kernel_w};
    g.weights_tag = Tag::hwigo;
  } else {
    g.weights_dims = {oc, ic, w.kernel_h, w.kernel_w};
    g.weights_tag = Tag::hwio;
  }
  g.strides = {w.stride_h, w.stride_w};
  g.dilates = {w.dilation_h - 1, w.dilation_w - 1};
  g.pad_l = {w.pad_top, w.pad_left};
  g.pad_r = {w.pad_bottom, w.pad_right};
  return g;
}

dnnl::convolution_forward::primitive_desc fwd_pd(const ConvGeometry& g,
                                                 const memory::desc& weights) {
  using Fwd = dnnl::convolution_forward;
  const auto prop = dnnl::prop_kind::forward_training;
  const auto algo = dnnl::algorithm::convolution_direct;
  const Fwd::desc desc = g.has_bias ? Fwd::desc(prop, algo, g.src, weights, g.bias, g.dst,
                                                g.strides, g.dilates, g.pad_l, g.pad_r)
                                    : Fwd::desc(prop, algo, g.src, weights, g.dst, g.strides,
                                                g.dilates, g.pad_l, g.pad_r);
  return Fwd::primitive_desc(desc, user_scratchpad_attr(), cpu_engine());
}

// A reorder between two weight layouts, with its user scratchpad.
BoundPrimitive make_reorder(const memory::desc& from, const memory::desc& to,
                            int64_t* scratchpad_bytes) {
  const dnnl::reorder::primitive_desc pd(cpu_engine(), from, cpu_engine(), to,
                                         user_scratchpad_attr());
  BoundPrimitive r(dnnl::reorder(pd), "reorder");
  r.add(DNNL_ARG_FROM, from);
  r.add(DNNL_ARG_TO, to);
  r.add(DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc());
  *scratchpad_bytes = static_cast<int64_t>(pd.scratchpad_desc().get_size());
  return r;
}

// Runs `build`, turning oneDNN's refusal into Error(kUnimplemented) naming the shapes.
template <typename F>
void build_or_throw(const char* who, const ConvShapes& s, F&& build) {
  try {
    build();
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::kUnimplemented,
                internal::str_cat(who, ": oneDNN has no implementation for src ", s.src.to_string(),
                                  ", weights ", s.weights.to_string(), ", dst ", s.dst.to_string(),
                                  ": ", e.what()));
  }
}

// A convolution primitive, the reorder between Keras' weights and the primitive's own layout
// (empty when they agree), and where in the caller's scratch the reordered weights and the
// scratchpad (shared by reorder and convolution, which run one after the other) sit.
struct ConvPlan {
  BoundPrimitive conv;
  BoundPrimitive reorder;
  int64_t pad_offset = 0;
  int64_t scratch_bytes = 0;

  // Sets up the reorder Keras -> `weights` (or `weights` -> Keras when `to_keras`, for backward
  // weights) if the layouts differ, and the scratch layout.
  void plan_scratch(const memory::desc& keras, const memory::desc& weights, bool to_keras,
                    const memory::desc& conv_scratchpad) {
    int64_t weights_bytes = 0, reorder_pad = 0;
    if (weights != keras) {
      reorder = to_keras ? make_reorder(weights, keras, &reorder_pad)
                         : make_reorder(keras, weights, &reorder_pad);
      weights_bytes = static_cast<int64_t>(weights.get_size());
    }
    pad_offset = align_up(weights_bytes);
    const int64_t pad_bytes =
        std::max(static_cast<int64_t>(conv_scratchpad.get_size()), reorder_pad);
    scratch_bytes = with_alignment_slack(pad_offset + pad_bytes);
  }

  // Returns the weights the convolution reads: Keras' own, or their reorder into scratch.
  const void* weights_for_conv(const float* keras_weights, char* base) const {
    if (reorder.empty()) return keras_weights;
    reorder.bind(DNNL_ARG_FROM, keras_weights);
    reorder.bind(DNNL_ARG_TO, base);
    reorder.bind(DNNL_ARG_SCRATCHPAD, base + pad_offset);
    reorder.execute();
    return base;
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Forward.

struct ConvFwdDnnl::Impl : ConvPlan {};

ConvFwdDnnl::ConvFwdDnnl(const Window2D& w, const ConvShapes& shapes,
                         ConvWeightsLayout weights_layout)
    : impl_(std::make_unique<Impl>()) {
  const ConvGeometry g = make_geometry(w, shapes, "ConvFwdDnnl");
  build_or_throw("ConvFwdDnnl", shapes, [&] {
    const auto pd = fwd_pd(g, g.weights(reorder_weights(weights_layout)));
    impl_->plan_scratch(g.keras_weights(), pd.weights_desc(), false, pd.scratchpad_desc());
    impl_->conv = BoundPrimitive(dnnl::convolution_forward(pd), "convolution");
    impl_->conv.add(DNNL_ARG_SRC, g.src);
    impl_->conv.add(DNNL_ARG_WEIGHTS, pd.weights_desc());
    if (g.has_bias) impl_->conv.add(DNNL_ARG_BIAS, g.bias);
    impl_->conv.add(DNNL_ARG_DST, g.dst);
    impl_->conv.add(DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc());
  });
}

ConvFwdDnnl::~ConvFwdDnnl() = default;

int64_t ConvFwdDnnl::scratch_bytes() const { return impl_->scratch_bytes; }

void ConvFwdDnnl::run(const float* src, const float* weights, const float* bias, float* dst,
                      void* scratch) const {
  char* base = aligned_base(scratch);
  const void* conv_weights = impl_->weights_for_conv(weights, base);
  impl_->conv.bind(DNNL_ARG_SRC, src);
  impl_->conv.bind(DNNL_ARG_WEIGHTS, conv_weights);
  impl_->conv.bind(DNNL_ARG_BIAS, bias);
  impl_->conv.bind(DNNL_ARG_DST, dst);
  impl_->conv.bind(DNNL_ARG_SCRATCHPAD, base + impl_->pad_offset);
  impl_->conv.execute();
}

// ---------------------------------------------------------------------------------------------
// Backward data.

struct ConvBwdDataDnnl::Impl : ConvPlan {};

ConvBwdDataDnnl::ConvBwdDataDnnl(const Window2D& w, const ConvShapes& shapes,
                                 ConvWeightsLayout weights_layout)
    : impl_(std::make_unique<Impl>()) {
  const ConvGeometry g = make_geometry(w, shapes, "ConvBwdDataDnnl");
  build_or_throw("ConvBwdDataDnnl", shapes, [&] {
    using Bwd = dnnl::convolution_backward_data;
    const memory::desc weights = g.weights(reorder_weights(weights_layout));
    const auto hint = fwd_pd(g, weights);
    const Bwd::desc desc(dnnl::algorithm::convolution_direct, g.src, weights, g.dst, g.strides,
                         g.dilates, g.pad_l, g.pad_r);
    const Bwd::primitive_desc pd(desc, user_scratchpad_attr(), cpu_engine(), hint);
    impl_->plan_scratch(g.keras_weights(), pd.weights_desc(), false, pd.scratchpad_desc());
    impl_->conv = BoundPrimitive(Bwd(pd), "convolution");
    impl_->conv.add(DNNL_ARG_DIFF_DST, g.dst);
    impl_->conv.add(DNNL_ARG_WEIGHTS, pd.weights_desc());
    impl_->conv.add(DNNL_ARG_DIFF_SRC, g.src);
    impl_->conv.add(DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc());
  });
}

ConvBwdDataDnnl::~ConvBwdDataDnnl() = default;

int64_t ConvBwdDataDnnl::scratch_bytes() const { return impl_->scratch_bytes; }

void ConvBwdDataDnnl::run(const float* diff_dst, const float* weights, float* diff_src,
                          void* scratch) const {
  char* base = aligned_base(scratch);
  const void* conv_weights = impl_->weights_for_conv(weights, base);
  impl_->conv.bind(DNNL_ARG_DIFF_DST, diff_dst);
  impl_->conv.bind(DNNL_ARG_WEIGHTS, conv_weights);
  impl_->conv.bind(DNNL_ARG_DIFF_SRC, diff_src);
  impl_->conv.bind(DNNL_ARG_SCRATCHPAD, base + impl_->pad_offset);
  impl_->conv.execute();
}

// ---------------------------------------------------------------------------------------------
// Backward weights.

struct ConvBwdWeightsDnnl::Impl : ConvPlan {};

ConvBwdWeightsDnnl::ConvBwdWeightsDnnl(const Window2D& w, const ConvShapes& shapes,
                                       ConvWeightsLayout weights_layout)
    : impl_(std::make_unique<Impl>()) {
  const ConvGeometry g = make_geometry(w, shapes, "ConvBwdWeightsDnnl");
  build_or_throw("ConvBwdWeightsDnnl", shapes, [&] {
    using Bwd = dnnl::convolution_backward_weights;
    const memory::desc weights = g.weights(reorder_weights(weights_layout));
    const auto hint = fwd_pd(g, weights);
    const auto algo = dnnl::algorithm::convolution_direct;
    const Bwd::desc desc =
        g.has_bias
            ? Bwd::desc(algo, g.src, weights, g.bias, g.dst, g.strides, g.dilates, g.pad_l, g.pad_r)
            : Bwd::desc(algo, g.src, weights, g.dst, g.strides, g.dilates, g.pad_l, g.pad_r);
    const Bwd::primitive_desc pd(desc, user_scratchpad_attr(), cpu_engine(), hint);
    impl_->plan_scratch(g.keras_weights(), pd.diff_weights_desc(), true, pd.scratchpad_desc());
    impl_->conv = BoundPrimitive(Bwd(pd), "convolution");
    impl_->conv.add(DNNL_ARG_SRC, g.src);
    impl_->conv.add(DNNL_ARG_DIFF_DST, g.dst);
    impl_->conv.add(DNNL_ARG_DIFF_WEIGHTS, pd.diff_weights_desc());
    if (g.has_bias) impl_->conv.add(DNNL_ARG_DIFF_BIAS, g.bias);
    impl_->conv.add(DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc());
  });
}

ConvBwdWeightsDnnl::~ConvBwdWeightsDnnl() = default;

int64_t ConvBwdWeightsDnnl::scratch_bytes() const { return impl_->scratch_bytes; }

void ConvBwdWeightsDnnl::run(const float* src, const float* diff_dst, float* diff_weights,
                             float* diff_bias, void* scratch) const {
  char* base = aligned_base(scratch);
  const bool reorder = !impl_->reorder.empty();
  impl_->conv.bind(DNNL_ARG_SRC, src);
  impl_->conv.bind(DNNL_ARG_DIFF_DST, diff_dst);
  impl_->conv.bind(DNNL_ARG_DIFF_WEIGHTS, reorder ? static_cast<void*>(base) : diff_weights);
  impl_->conv.bind(DNNL_ARG_DIFF_BIAS, diff_bias);
  impl_->conv.bind(DNNL_ARG_SCRATCHPAD, base + impl_->pad_offset);
  impl_->conv.execute();
  if (reorder) {
    impl_->reorder.bind(DNNL_ARG_FROM, base);
    impl_->reorder.bind(DNNL_ARG_TO, diff_weights);
    impl_->reorder.bind(DNNL_ARG_SCRATCHPAD, base + impl_->pad_offset);
    impl_->reorder.execute();
  }
}

}  // namespace leantrain::kernels

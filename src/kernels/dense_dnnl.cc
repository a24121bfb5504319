// Dense through oneDNN 2.6. Keras' weights (IN, OUT) row-major are an inner-product weights
// tensor of dims (OUT, IN) in format io, and a plain matmul B. Both were measured on the CNN
// shapes (bench/kernels_conv_bench.cc): DenseImpl::kMatmul by default, see below.
//
//   inner product: fwd, bwd_data and bwd_weights (with diff_bias) primitives, weights io.
//   matmul:        fwd  dst = src (N, IN) x W (IN, OUT) + bias (1, OUT)
//                  bwd_data     diff_src = diff_dst (N, OUT) x W^T, W^T = (OUT, IN) in format ba
//                  bwd_weights  diff_W = src^T (IN, N), format ba, x diff_dst (N, OUT);
//                               diff_bias = column sums of diff_dst, a plain loop.
//
// Every primitive is created with a user scratchpad; the caller's scratch (rounded up to 64
// bytes) is its scratchpad. run() binds the caller's pointers to memory objects made at
// construction and executes through the C API, so it neither allocates nor throws.
#include "kernels/dense.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
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

int64_t scratchpad_bytes(const dnnl::primitive_desc_base& pd) {
  return static_cast<int64_t>(pd.scratchpad_desc().get_size());
}

}  // namespace

struct DenseDnnl::Impl {
  BoundPrimitive fwd, bwd_data, bwd_weights;
  int64_t fwd_scratch = 0, bwd_data_scratch = 0, bwd_weights_scratch = 0;
  bool matmul = false;
  bool has_bias = false;
  int64_t batch = 0, out = 0;
};

// Matmul (the default) or inner product: both run oneDNN's jit GEMM on AVX2 and tie on the
// 1600->128 layer (forward 0.29, backward data 0.28, backward weights 0.31 ms, 2 threads); on the
// 128->10 layer matmul's backward weights (with the bias loop) takes 6 us against 8-9 us
// (bench/kernels_conv_bench.cc). Inner product is kept to re-measure on other CPUs.
DenseDnnl::DenseDnnl(int64_t batch, int64_t in, int64_t out, bool has_bias, DenseImpl impl)
    : impl_(std::make_unique<Impl>()) {
  LT_CHECK(batch >= 1 && in >= 1 && out >= 1, kInvalidArgument, "DenseDnnl: batch ", batch, ", in ",
           in, ", out ", out, " must all be at least 1");
  Impl& m = *impl_;
  m.matmul = impl == DenseImpl::kMatmul;
  m.has_bias = has_bias;
  m.batch = batch;
  m.out = out;
  const auto attr = user_scratchpad_attr();
  auto& engine = cpu_engine();
  try {
    if (m.matmul) {
      const memory::desc x({batch, in}, DataType::f32, Tag::ab);
      const memory::desc x_t({in, batch}, DataType::f32, Tag::ba);
      const memory::desc w({in, out}, DataType::f32, Tag::ab);
      const memory::desc w_t({out, in}, DataType::f32, Tag::ba);
      const memory::desc b({1, out}, DataType::f32, Tag::ab);
      const memory::desc y({batch, out}, DataType::f32, Tag::ab);
      // dst = src x weights (+ bias), with its scratchpad size in *scratch.
      auto make_matmul = [&](const memory::desc& a, const memory::desc& bm,
                             const memory::desc* bias, const memory::desc& c, int64_t* scratch) {
        const dnnl::matmul::primitive_desc pd(
            bias ? dnnl::matmul::desc(a, bm, *bias, c) : dnnl::matmul::desc(a, bm, c), attr,
            engine);
        BoundPrimitive p(dnnl::matmul(pd), "matmul");
        p.add(DNNL_ARG_SRC, a);
        p.add(DNNL_ARG_WEIGHTS, bm);
        if (bias) p.add(DNNL_ARG_BIAS, *bias);
        p.add(DNNL_ARG_DST, c);
        p.add(DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc());
        *scratch = scratchpad_bytes(pd);
        return p;
      };
      m.fwd = make_matmul(x, w, has_bias ? &b : nullptr, y, &m.fwd_scratch);
      m.bwd_data = make_matmul(y, w_t, nullptr, x, &m.bwd_data_scratch);
      m.bwd_weights = make_matmul(x_t, y, nullptr, w, &m.bwd_weights_scratch);
    } else {
      using Fwd = dnnl::inner_product_forward;
      using BwdData = dnnl::inner_product_backward_data;
      using BwdWeights = dnnl::inner_product_backward_weights;
      const memory::desc x({batch, in}, DataType::f32, Tag::nc);
      const memory::desc w({out, in}, DataType::f32, Tag::io);
      const memory::desc b({out}, DataType::f32, Tag::x);
      const memory::desc y({batch, out}, DataType::f32, Tag::nc);
      const auto prop = dnnl::prop_kind::forward_training;
      const Fwd::primitive_desc fwd(
          has_bias ? Fwd::desc(prop, x, w, b, y) : Fwd::desc(prop, x, w, y), attr, engine);
      m.fwd = BoundPrimitive(Fwd(fwd), "inner product");
      m.fwd.add(DNNL_ARG_SRC, x);
      m.fwd.add(DNNL_ARG_WEIGHTS, w);
      if (has_bias) m.fwd.add(DNNL_ARG_BIAS, b);
      m.fwd.add(DNNL_ARG_DST, y);
      m.fwd.add(DNNL_ARG_SCRATCHPAD, fwd.scratchpad_desc());
      m.fwd_scratch = scratchpad_bytes(fwd);

      const BwdData::primitive_desc bwd_data(BwdData::desc(x, w, y), attr, engine, fwd);
      m.bwd_data = BoundPrimitive(BwdData(bwd_data), "inner product");
      m.bwd_data.add(DNNL_ARG_DIFF_DST, y);
      m.bwd_data.add(DNNL_ARG_WEIGHTS, w);
      m.bwd_data.add(DNNL_ARG_DIFF_SRC, x);
      m.bwd_data.add(DNNL_ARG_SCRATCHPAD, bwd_data.scratchpad_desc());
      m.bwd_data_scratch = scratchpad_bytes(bwd_data);

      const BwdWeights::primitive_desc bwd_weights(
          has_bias ? BwdWeights::desc(x, w, b, y) : BwdWeights::desc(x, w, y), attr, engine, fwd);
      m.bwd_weights = BoundPrimitive(BwdWeights(bwd_weights), "inner product");
      m.bwd_weights.add(DNNL_ARG_SRC, x);
      m.bwd_weights.add(DNNL_ARG_DIFF_DST, y);
      m.bwd_weights.add(DNNL_ARG_DIFF_WEIGHTS, w);
      if (has_bias) m.bwd_weights.add(DNNL_ARG_DIFF_BIAS, b);
      m.bwd_weights.add(DNNL_ARG_SCRATCHPAD, bwd_weights.scratchpad_desc());
      m.bwd_weights_scratch = scratchpad_bytes(bwd_weights);
    }
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::kUnimplemented,
                internal::str_cat("DenseDnnl: oneDNN has no implementation for batch ", batch,
                                  ", in ", in, ", out ", out, ": ", e.what()));
  }
  m.fwd_scratch = with_alignment_slack(m.fwd_scratch);
  m.bwd_data_scratch = with_alignment_slack(m.bwd_data_scratch);
  m.bwd_weights_scratch = with_alignment_slack(m.bwd_weights_scratch);
}

DenseDnnl::~DenseDnnl() = default;

int64_t DenseDnnl::fwd_scratch_bytes() const { return impl_->fwd_scratch; }
int64_t DenseDnnl::bwd_data_scratch_bytes() const { return impl_->bwd_data_scratch; }
int64_t DenseDnnl::bwd_weights_scratch_bytes() const { return impl_->bwd_weights_scratch; }

void DenseDnnl::fwd(const float* src, const float* weights, const float* bias, float* dst,
                    void* scratch) const {
  const BoundPrimitive& p = impl_->fwd;
  p.bind(DNNL_ARG_SRC, src);
  p.bind(DNNL_ARG_WEIGHTS, weights);
  p.bind(DNNL_ARG_BIAS, bias);
  p.bind(DNNL_ARG_DST, dst);
  p.bind(DNNL_ARG_SCRATCHPAD, aligned_base(scratch));
  p.execute();
}

void DenseDnnl::bwd_data(const float* diff_dst, const float* weights, float* diff_src,
                         void* scratch) const {
  const BoundPrimitive& p = impl_->bwd_data;
  if (impl_->matmul) {
    p.bind(DNNL_ARG_SRC, diff_dst);
    p.bind(DNNL_ARG_DST, diff_src);
  } else {
    p.bind(DNNL_ARG_DIFF_DST, diff_dst);
    p.bind(DNNL_ARG_DIFF_SRC, diff_src);
  }
  p.bind(DNNL_ARG_WEIGHTS, weights);
  p.bind(DNNL_ARG_SCRATCHPAD, aligned_base(scratch));
  p.execute();
}

void DenseDnnl::bwd_weights(const float* src, const float* diff_dst, float* diff_weights,
                            float* diff_bias, void* scratch) const {
  const BoundPrimitive& p = impl_->bwd_weights;
  if (impl_->matmul) {
    p.bind(DNNL_ARG_SRC, src);
    p.bind(DNNL_ARG_WEIGHTS, diff_dst);
    p.bind(DNNL_ARG_DST, diff_weights);
  } else {
    p.bind(DNNL_ARG_SRC, src);
    p.bind(DNNL_ARG_DIFF_DST, diff_dst);
    p.bind(DNNL_ARG_DIFF_WEIGHTS, diff_weights);
    p.bind(DNNL_ARG_DIFF_BIAS, diff_bias);
  }
  p.bind(DNNL_ARG_SCRATCHPAD, aligned_base(scratch));
  p.execute();
  if (impl_->matmul && impl_->has_bias) {
    // Row by row so the inner loop runs over contiguous OUT and vectorizes.
    const int64_t out = impl_->out;
    std::memcpy(diff_bias, diff_dst, static_cast<size_t>(out) * sizeof(float));
    for (int64_t n = 1; n < impl_->batch; ++n) {
      const float* row = diff_dst + n * out;
      for (int64_t o = 0; o < out; ++o) diff_bias[o] += row[o];
    }
  }
}

}  // namespace leantrain::kernels

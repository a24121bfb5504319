// Reference vs fast kernels for activations, pooling, dropout, softmax cross-entropy and Adam, on
// the shapes of a small Keras CNN (batch 128). Real time, since the fast kernels use OpenMP
// threads; run with OMP_NUM_THREADS set to the cores to use.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "kernels/batch_norm.h"
#include "kernels/dropout.h"
#include "kernels/eltwise.h"
#include "kernels/optimizers.h"
#include "kernels/pooling.h"
#include "kernels/softmax_xent.h"
#include "leantrain/core/rng.h"
#include "leantrain/core/tensor.h"

namespace leantrain::kernels {
namespace {

std::vector<float> random_vector(int64_t n, uint64_t seed, float low = -1.0f, float high = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = rng.uniform(low, high);
  return v;
}

void set_bytes(benchmark::State& state, int64_t bytes_per_iteration) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * bytes_per_iteration);
}

const Shape kConv1{128, 26, 26, 32};  // after a 3x3 conv on 28x28 MNIST
const Shape kConv2{128, 11, 11, 64};

using ActFwd = void (*)(Activation, const float*, float*, int64_t);
using ActBwd = void (*)(Activation, const float*, const float*, float*, int64_t);

void BM_ReluFwd(benchmark::State& state, ActFwd fwd) {
  const int64_t n = kConv1.num_elements();
  const std::vector<float> src = random_vector(n, 1);
  std::vector<float> dst(src.size());
  for (auto _ : state) {
    fwd(Activation::kRelu, src.data(), dst.data(), n);
    benchmark::DoNotOptimize(dst.data());
  }
  set_bytes(state, 2 * n * 4);
}
BENCHMARK_CAPTURE(BM_ReluFwd, ref_128x26x26x32, activation_fwd_ref)->UseRealTime();
BENCHMARK_CAPTURE(BM_ReluFwd, fast_128x26x26x32, activation_fwd_fast)->UseRealTime();

void BM_ReluBwd(benchmark::State& state, ActBwd bwd) {
  const int64_t n = kConv1.num_elements();
  const std::vector<float> dst = random_vector(n, 2), dd = random_vector(n, 3);
  std::vector<float> ds(dst.size());
  for (auto _ : state) {
    bwd(Activation::kRelu, dst.data(), dd.data(), ds.data(), n);
    benchmark::DoNotOptimize(ds.data());
  }
  set_bytes(state, 3 * n * 4);
}
BENCHMARK_CAPTURE(BM_ReluBwd, ref_128x26x26x32, activation_bwd_ref)->UseRealTime();
BENCHMARK_CAPTURE(BM_ReluBwd, fast_128x26x26x32, activation_bwd_fast)->UseRealTime();

void BM_SwishFwd(benchmark::State& state, ActFwd fwd) {
  const int64_t n = kConv1.num_elements();
  const std::vector<float> src = random_vector(n, 4, -6.0f, 6.0f);
  std::vector<float> dst(src.size());
  for (auto _ : state) {
    fwd(Activation::kSwish, src.data(), dst.data(), n);
    benchmark::DoNotOptimize(dst.data());
  }
  set_bytes(state, 2 * n * 4);
}
BENCHMARK_CAPTURE(BM_SwishFwd, ref_128x26x26x32, activation_fwd_ref)->UseRealTime();
BENCHMARK_CAPTURE(BM_SwishFwd, fast_128x26x26x32, activation_fwd_fast)->UseRealTime();

Window2D pool_2x2() {
  Window2D w;
  w.kernel_h = w.kernel_w = 2;
  w.stride_h = w.stride_w = 2;
  return w;
}

Shape pooled(const Shape& s) { return Shape{s[0], s[1] / 2, s[2] / 2, s[3]}; }

using PoolFwd = void (*)(const Window2D&, const TensorView&, const TensorView&);
using MaxPoolBwd = void (*)(const Window2D&, const TensorView&, const TensorView&,
                            const TensorView&);

void BM_MaxPoolFwd(benchmark::State& state, PoolFwd fwd, Shape shape) {
  std::vector<float> src = random_vector(shape.num_elements(), 5);
  std::vector<float> dst(static_cast<size_t>(pooled(shape).num_elements()));
  const TensorView src_view(src.data(), shape), dst_view(dst.data(), pooled(shape));
  for (auto _ : state) {
    fwd(pool_2x2(), src_view, dst_view);
    benchmark::DoNotOptimize(dst.data());
  }
  set_bytes(state, (src_view.bytes() + dst_view.bytes()));
}
BENCHMARK_CAPTURE(BM_MaxPoolFwd, ref_128x26x26x32, max_pool_fwd_ref, kConv1)->UseRealTime();
BENCHMARK_CAPTURE(BM_MaxPoolFwd, fast_128x26x26x32, max_pool_fwd_fast, kConv1)->UseRealTime();
BENCHMARK_CAPTURE(BM_MaxPoolFwd, ref_128x11x11x64, max_pool_fwd_ref, kConv2)->UseRealTime();
BENCHMARK_CAPTURE(BM_MaxPoolFwd, fast_128x11x11x64, max_pool_fwd_fast, kConv2)->UseRealTime();

void BM_MaxPoolBwd(benchmark::State& state, MaxPoolBwd bwd, Shape shape) {
  std::vector<float> src = random_vector(shape.num_elements(), 6);
  std::vector<float> dd = random_vector(pooled(shape).num_elements(), 7);
  std::vector<float> ds(src.size());
  const TensorView src_view(src.data(), shape), dd_view(dd.data(), pooled(shape));
  const TensorView ds_view(ds.data(), shape);
  for (auto _ : state) {
    bwd(pool_2x2(), src_view, dd_view, ds_view);
    benchmark::DoNotOptimize(ds.data());
  }
  set_bytes(state, 2 * src_view.bytes() + dd_view.bytes());
}
BENCHMARK_CAPTURE(BM_MaxPoolBwd, ref_128x26x26x32, max_pool_bwd_ref, kConv1)->UseRealTime();
BENCHMARK_CAPTURE(BM_MaxPoolBwd, fast_128x26x26x32, max_pool_bwd_fast, kConv1)->UseRealTime();
BENCHMARK_CAPTURE(BM_MaxPoolBwd, ref_128x11x11x64, max_pool_bwd_ref, kConv2)->UseRealTime();
BENCHMARK_CAPTURE(BM_MaxPoolBwd, fast_128x11x11x64, max_pool_bwd_fast, kConv2)->UseRealTime();

using DropoutFwd = void (*)(uint64_t, float, const float*, float*, int64_t);

void BM_DropoutFwd(benchmark::State& state, DropoutFwd fwd) {
  const int64_t n = kConv2.num_elements();
  const std::vector<float> src = random_vector(n, 8);
  std::vector<float> dst(src.size());
  for (auto _ : state) {
    fwd(42, 0.25f, src.data(), dst.data(), n);
    benchmark::DoNotOptimize(dst.data());
  }
  set_bytes(state, 2 * n * 4);
}
BENCHMARK_CAPTURE(BM_DropoutFwd, ref_128x11x11x64, dropout_fwd_ref)->UseRealTime();
BENCHMARK_CAPTURE(BM_DropoutFwd, fast_128x11x11x64, dropout_fwd_fast)->UseRealTime();

using XentFwd = void (*)(const float*, const int32_t*, int64_t, int64_t, float*);
using XentBwd = void (*)(const float*, const int32_t*, int64_t, int64_t, float, float*);

// Forward and backward together, as one training step runs them.
void BM_SoftmaxXent(benchmark::State& state, XentFwd fwd, XentBwd bwd, int64_t n, int64_t c) {
  const std::vector<float> logits = random_vector(n * c, 9, -5.0f, 5.0f);
  std::vector<int32_t> labels(static_cast<size_t>(n));
  Rng rng(10);
  for (int32_t& l : labels) l = static_cast<int32_t>(rng.below(static_cast<uint64_t>(c)));
  std::vector<float> diff(logits.size());
  float loss = 0.0f;
  for (auto _ : state) {
    fwd(logits.data(), labels.data(), n, c, &loss);
    bwd(logits.data(), labels.data(), n, c, 1.0f, diff.data());
    benchmark::DoNotOptimize(loss);
    benchmark::DoNotOptimize(diff.data());
  }
}
BENCHMARK_CAPTURE(BM_SoftmaxXent, ref_128x10, softmax_xent_fwd_ref, softmax_xent_bwd_ref, 128, 10)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SoftmaxXent, fast_128x10, softmax_xent_fwd_fast, softmax_xent_bwd_fast, 128,
                  10)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SoftmaxXent, ref_128x1000, softmax_xent_fwd_ref, softmax_xent_bwd_ref, 128,
                  1000)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SoftmaxXent, fast_128x1000, softmax_xent_fwd_fast, softmax_xent_bwd_fast, 128,
                  1000)
    ->UseRealTime();

using AdamUpdate = void (*)(const AdamHyper&, float*, const float*, float*, float*, int64_t);

void BM_Adam(benchmark::State& state, AdamUpdate update) {
  const int64_t n = 200000;
  std::vector<float> param = random_vector(n, 11), grad = random_vector(n, 12);
  std::vector<float> m = random_vector(n, 13), v = random_vector(n, 14, 1e-4f, 1e-2f);
  AdamHyper h;
  for (auto _ : state) {
    update(h, param.data(), grad.data(), m.data(), v.data(), n);
    benchmark::DoNotOptimize(param.data());
  }
  set_bytes(state, 7 * n * 4);  // read param, grad, m, v; write param, m, v
}
BENCHMARK_CAPTURE(BM_Adam, ref_200k, adam_update_ref)->UseRealTime();
BENCHMARK_CAPTURE(BM_Adam, fast_200k, adam_update_fast)->UseRealTime();

// BatchNormalization training forward + backward over (128, 26, 26, 32): reference vs oneDNN.
void BM_BatchNormRef(benchmark::State& state) {
  const Shape cs{kConv1[3]};
  std::vector<float> src = random_vector(kConv1.num_elements(), 15),
                     dd = random_vector(kConv1.num_elements(), 16);
  std::vector<float> gamma = random_vector(cs[0], 17, 0.5f, 1.5f), beta = random_vector(cs[0], 18);
  std::vector<float> dst(src.size()), ds(src.size()), mean(gamma.size()), var(gamma.size());
  std::vector<float> dg(gamma.size()), db(gamma.size());
  for (auto _ : state) {
    batch_norm_fwd_training_ref(TensorView(src.data(), kConv1), TensorView(gamma.data(), cs),
                                TensorView(beta.data(), cs), 1e-3f, TensorView(dst.data(), kConv1),
                                TensorView(mean.data(), cs), TensorView(var.data(), cs));
    batch_norm_bwd_ref(TensorView(src.data(), kConv1), TensorView(dd.data(), kConv1),
                       TensorView(gamma.data(), cs), TensorView(mean.data(), cs),
                       TensorView(var.data(), cs), 1e-3f, TensorView(ds.data(), kConv1),
                       TensorView(dg.data(), cs), TensorView(db.data(), cs));
    benchmark::DoNotOptimize(ds.data());
  }
}
BENCHMARK(BM_BatchNormRef)->Name("BM_BatchNorm/ref_128x26x26x32")->UseRealTime();

void BM_BatchNormDnnl(benchmark::State& state) {
  const int64_t channels = kConv1[3], rows = kConv1.num_elements() / channels;
  std::vector<float> src = random_vector(kConv1.num_elements(), 15),
                     dd = random_vector(kConv1.num_elements(), 16);
  std::vector<float> gamma = random_vector(channels, 17, 0.5f, 1.5f);
  std::vector<float> beta = random_vector(channels, 18);
  std::vector<float> dst(src.size()), ds(src.size()), mean(gamma.size()), var(gamma.size());
  std::vector<float> dg(gamma.size()), db(gamma.size());
  const BatchNormDnnl bn(rows, channels, 1e-3f);
  std::vector<char> fwd_scratch(static_cast<size_t>(bn.fwd_training_scratch_bytes()));
  std::vector<char> bwd_scratch(static_cast<size_t>(bn.bwd_scratch_bytes()));
  for (auto _ : state) {
    bn.fwd_training(src.data(), gamma.data(), beta.data(), dst.data(), mean.data(), var.data(),
                    fwd_scratch.data());
    bn.bwd(src.data(), dd.data(), gamma.data(), mean.data(), var.data(), ds.data(), dg.data(),
           db.data(), bwd_scratch.data());
    benchmark::DoNotOptimize(ds.data());
  }
}
BENCHMARK(BM_BatchNormDnnl)->Name("BM_BatchNorm/dnnl_128x26x26x32")->UseRealTime();

}  // namespace
}  // namespace leantrain::kernels

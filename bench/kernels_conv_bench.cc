// Micro-benchmarks of the oneDNN convolution and dense kernels on the small CNN's shapes
// (MNIST-sized: conv 3x3x1x32 -> pool -> conv 3x3x32x64 -> pool -> dense 1600x128 -> dense
// 128x10, batch 128). One call per iteration; the caller-side buffers are made once.
//
// Each kernel runs in each of its variants, a benchmark argument:
//   convolutions  plain:0 (ConvWeightsLayout::kAny, oneDNN's layout + reorder inside run())
//                 plain:1 (kPlain, Keras weights straight in)
//   dense         inner_product:0 (DenseImpl::kMatmul) or inner_product:1 (kInnerProduct)
// Run with OMP_NUM_THREADS set to the cores you train on; ONEDNN_VERBOSE=1 shows which
// implementation each primitive uses.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/dense.h"
#include "leantrain/core/rng.h"

namespace leantrain::kernels {
namespace {

std::vector<float> random_floats(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = rng.uniform(-1.0f, 1.0f);
  return v;
}

ConvWeightsLayout layout_of(const benchmark::State& state) {
  return state.range(0) == 0 ? ConvWeightsLayout::kAny : ConvWeightsLayout::kPlain;
}

// One convolution's shapes and buffers.
struct ConvCase {
  Window2D window;
  ConvShapes shapes;
  std::vector<float> src, weights, bias, dst;

  ConvCase(Shape src_shape, Shape weights_shape, Shape dst_shape) {
    window.kernel_h = weights_shape[0];
    window.kernel_w = weights_shape[1];
    shapes = {src_shape, weights_shape, dst_shape, /*has_bias=*/true, /*depthwise=*/false};
    src = random_floats(src_shape.num_elements(), 1);
    weights = random_floats(weights_shape.num_elements(), 2);
    bias = random_floats(dst_shape[3], 3);
    dst = random_floats(dst_shape.num_elements(), 4);
  }
};

// conv A: the first layer, (128, 28, 28, 1) * (3, 3, 1, 32) 'valid' -> (128, 26, 26, 32).
ConvCase conv_a() { return ConvCase({128, 28, 28, 1}, {3, 3, 1, 32}, {128, 26, 26, 32}); }
// conv B: the second layer, (128, 13, 13, 32) * (3, 3, 32, 64) 'valid' -> (128, 11, 11, 64).
ConvCase conv_b() { return ConvCase({128, 13, 13, 32}, {3, 3, 32, 64}, {128, 11, 11, 64}); }

template <ConvCase (*make)()>
void BM_ConvFwd(benchmark::State& state) {
  ConvCase c = make();
  const ConvFwdDnnl k(c.window, c.shapes, layout_of(state));
  std::vector<char> scratch(static_cast<size_t>(k.scratch_bytes()) + 1);
  for (auto _ : state) {
    k.run(c.src.data(), c.weights.data(), c.bias.data(), c.dst.data(), scratch.data());
    benchmark::DoNotOptimize(c.dst.data());
  }
  state.counters["scratch_bytes"] = static_cast<double>(k.scratch_bytes());
}

template <ConvCase (*make)()>
void BM_ConvBwdData(benchmark::State& state) {
  ConvCase c = make();
  const ConvBwdDataDnnl k(c.window, c.shapes, layout_of(state));
  std::vector<char> scratch(static_cast<size_t>(k.scratch_bytes()) + 1);
  for (auto _ : state) {
    k.run(c.dst.data(), c.weights.data(), c.src.data(), scratch.data());
    benchmark::DoNotOptimize(c.src.data());
  }
  state.counters["scratch_bytes"] = static_cast<double>(k.scratch_bytes());
}

template <ConvCase (*make)()>
void BM_ConvBwdWeights(benchmark::State& state) {
  ConvCase c = make();
  const ConvBwdWeightsDnnl k(c.window, c.shapes, layout_of(state));
  std::vector<char> scratch(static_cast<size_t>(k.scratch_bytes()) + 1);
  for (auto _ : state) {
    k.run(c.src.data(), c.dst.data(), c.weights.data(), c.bias.data(), scratch.data());
    benchmark::DoNotOptimize(c.weights.data());
  }
  state.counters["scratch_bytes"] = static_cast<double>(k.scratch_bytes());
}

// Dense (batch, in) -> (batch, out) with bias; pass 0 fwd, 1 bwd_data, 2 bwd_weights; impl 0
// matmul, 1 inner product.
void BM_Dense(benchmark::State& state) {
  const int64_t batch = state.range(0), in = state.range(1), out = state.range(2);
  const int64_t pass = state.range(3);
  const DenseImpl impl = state.range(4) == 0 ? DenseImpl::kMatmul : DenseImpl::kInnerProduct;
  const DenseDnnl k(batch, in, out, /*has_bias=*/true, impl);
  std::vector<float> x = random_floats(batch * in, 1), w = random_floats(in * out, 2),
                     b = random_floats(out, 3), y = random_floats(batch * out, 4);
  const int64_t scratch_bytes = pass == 0   ? k.fwd_scratch_bytes()
                                : pass == 1 ? k.bwd_data_scratch_bytes()
                                            : k.bwd_weights_scratch_bytes();
  std::vector<char> scratch(static_cast<size_t>(scratch_bytes) + 1);
  for (auto _ : state) {
    if (pass == 0) {
      k.fwd(x.data(), w.data(), b.data(), y.data(), scratch.data());
    } else if (pass == 1) {
      k.bwd_data(y.data(), w.data(), x.data(), scratch.data());
    } else {
      k.bwd_weights(x.data(), y.data(), w.data(), b.data(), scratch.data());
    }
    benchmark::ClobberMemory();
  }
  state.counters["scratch_bytes"] = static_cast<double>(scratch_bytes);
}

// The convolutions in both weight layouts.
void layouts(benchmark::internal::Benchmark* b) {
  b->ArgName("plain")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_ConvFwd<conv_a>)->Name("ConvA/fwd")->Apply(layouts);
BENCHMARK(BM_ConvBwdWeights<conv_a>)->Name("ConvA/bwd_weights")->Apply(layouts);
BENCHMARK(BM_ConvFwd<conv_b>)->Name("ConvB/fwd")->Apply(layouts);
BENCHMARK(BM_ConvBwdData<conv_b>)->Name("ConvB/bwd_data")->Apply(layouts);
BENCHMARK(BM_ConvBwdWeights<conv_b>)->Name("ConvB/bwd_weights")->Apply(layouts);
BENCHMARK(BM_Dense)
    ->Name("Dense")
    ->ArgNames({"batch", "in", "out", "pass", "inner_product"})
    ->ArgsProduct({{128}, {1600}, {128}, {0, 1, 2}, {0, 1}})
    ->ArgsProduct({{128}, {128}, {10}, {0, 1, 2}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace leantrain::kernels

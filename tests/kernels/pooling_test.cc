#include "kernels/pooling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "leantrain/core/rng.h"
#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::all_close;
using testing::GuardedBuffer;
using testing::OwnedTensor;
using testing::random_floats;

// One pooling configuration: an NHWC input and a window with explicit padding.
struct PoolCase {
  std::string name;
  Shape src;
  Window2D w;
};

Window2D window(int64_t k, int64_t s, int64_t pad_top = 0, int64_t pad_bottom = 0,
                int64_t pad_left = 0, int64_t pad_right = 0) {
  Window2D w;
  w.kernel_h = w.kernel_w = k;
  w.stride_h = w.stride_w = s;
  w.pad_top = pad_top;
  w.pad_bottom = pad_bottom;
  w.pad_left = pad_left;
  w.pad_right = pad_right;
  return w;
}

// floor((in + pads - k) / s) + 1, computed here rather than taken from conv_output_size().
Shape output_shape(const PoolCase& c) {
  const Window2D& w = c.w;
  const int64_t oh = (c.src[1] + w.pad_top + w.pad_bottom - w.kernel_h) / w.stride_h + 1;
  const int64_t ow = (c.src[2] + w.pad_left + w.pad_right - w.kernel_w) / w.stride_w + 1;
  return Shape{c.src[0], oh, ow, c.src[3]};
}

// Small odd cases. 3x3 stride 2 'same' on 5x7: outputs ceil(5/2) = 3, ceil(7/2) = 4; padding
// totals (3-1)*2+3-5 = 2 and (4-1)*2+3-7 = 2, split 1 before and 1 after.
std::vector<PoolCase> small_cases() {
  return {
      {"1x1 image batch 1, k1", Shape{1, 1, 1, 3}, window(1, 1)},
      {"5x7 2x2 stride 2 valid", Shape{2, 5, 7, 3}, window(2, 2)},
      {"5x7 3x3 stride 2 same", Shape{1, 5, 7, 5}, window(3, 2, 1, 1, 1, 1)},
      {"5x7 2x2 stride 1 overlapping", Shape{1, 5, 7, 3}, window(2, 1)},
      {"5x7 3x3 stride 1 pad 1", Shape{2, 5, 7, 5}, window(3, 1, 1, 1, 1, 1)},
      {"5x5 2x2 stride 2 same, pad only after", Shape{1, 5, 5, 3}, window(2, 2, 0, 1, 0, 1)},
  };
}

// Values that are distinct by at least 0.05 in random order, so that a +-0.01 perturbation
// never changes which cell of a window is the maximum.
std::vector<float> distinct_values(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i) * 0.05f - 2.0f;
  Rng rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(v[static_cast<size_t>(i)], v[rng.below(static_cast<uint64_t>(i + 1))]);
  }
  return v;
}

TEST(PoolingTest, MaxPoolByHand) {
  // 1x4x4x1 input 0..15, 2x2 stride 2: maxima are the bottom-right cells.
  OwnedTensor src(Shape{1, 4, 4, 1});
  for (int i = 0; i < 16; ++i) src.values[static_cast<size_t>(i)] = static_cast<float>(i);
  OwnedTensor dst(Shape{1, 2, 2, 1});
  max_pool_fwd_ref(window(2, 2), src.view(), dst.view());
  EXPECT_EQ(dst.values, (std::vector<float>{5, 7, 13, 15}));
  max_pool_fwd_fast(window(2, 2), src.view(), dst.view());
  EXPECT_EQ(dst.values, (std::vector<float>{5, 7, 13, 15}));
}

TEST(PoolingTest, MaxPoolBackwardRoutesTiesToTheFirstMaximum) {
  // All four cells of the window are equal: the gradient goes to the first, (0, 0).
  OwnedTensor src(Shape{1, 2, 2, 2});
  std::fill(src.values.begin(), src.values.end(), 1.5f);
  OwnedTensor dd(Shape{1, 1, 1, 2});
  dd.values = {3.0f, -2.0f};
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "ref");
    OwnedTensor ds(Shape{1, 2, 2, 2});
    std::fill(ds.values.begin(), ds.values.end(), 99.0f);  // must be overwritten
    (fast ? max_pool_bwd_fast : max_pool_bwd_ref)(window(2, 2), src.view(), dd.view(), ds.view());
    EXPECT_EQ(ds.values, (std::vector<float>{3.0f, -2.0f, 0, 0, 0, 0, 0, 0}));
  }
}

TEST(PoolingTest, AvgPoolExcludesPaddedCellsFromTheCount) {
  // 1x2x2x1 input (1, 2, 3, 4), 3x3 stride 1 pad 1: every window sees all four cells, so each
  // output is 10 / 4 (not 10 / 9), and each input receives 4 outputs' share of 1/4.
  OwnedTensor src(Shape{1, 2, 2, 1});
  src.values = {1, 2, 3, 4};
  const Window2D w = window(3, 1, 1, 1, 1, 1);
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "ref");
    OwnedTensor dst(Shape{1, 2, 2, 1});
    (fast ? avg_pool_fwd_fast : avg_pool_fwd_ref)(w, src.view(), dst.view());
    EXPECT_EQ(dst.values, (std::vector<float>{2.5f, 2.5f, 2.5f, 2.5f}));
    OwnedTensor dd(Shape{1, 2, 2, 1});
    dd.values = {1, 1, 1, 1};
    OwnedTensor ds(Shape{1, 2, 2, 1});
    (fast ? avg_pool_bwd_fast : avg_pool_bwd_ref)(w, dd.view(), ds.view());
    EXPECT_EQ(ds.values, (std::vector<float>{1, 1, 1, 1}));
  }
}

TEST(PoolingTest, ReferenceMaxPoolGradientMatchesFiniteDifferences) {
  for (const PoolCase& c : small_cases()) {
    SCOPED_TRACE(c.name);
    OwnedTensor src(c.src);
    src.values = distinct_values(c.src.num_elements(), 1);
    OwnedTensor dst(output_shape(c));
    const std::vector<float> w = testing::loss_weights(dst.shape.num_elements(), 2);
    auto loss = [&] {
      max_pool_fwd_ref(c.w, src.view(), dst.view());
      return testing::weighted_sum(dst.values, w);
    };
    OwnedTensor dd(dst.shape), ds(c.src);
    dd.values = w;
    max_pool_bwd_ref(c.w, src.view(), dd.view(), ds.view());
    EXPECT_TRUE(testing::gradient_check(loss, {&src.values}, {ds.values}));
  }
}

TEST(PoolingTest, ReferenceAvgPoolGradientMatchesFiniteDifferences) {
  for (const PoolCase& c : small_cases()) {
    SCOPED_TRACE(c.name);
    OwnedTensor src(c.src, 3);
    OwnedTensor dst(output_shape(c));
    const std::vector<float> w = testing::loss_weights(dst.shape.num_elements(), 4);
    auto loss = [&] {
      avg_pool_fwd_ref(c.w, src.view(), dst.view());
      return testing::weighted_sum(dst.values, w);
    };
    OwnedTensor dd(dst.shape), ds(c.src);
    dd.values = w;
    avg_pool_bwd_ref(c.w, dd.view(), ds.view());
    EXPECT_TRUE(testing::gradient_check(loss, {&src.values}, {ds.values}));
  }
}

TEST(PoolingTest, ReferenceGlobalAvgPoolGradientMatchesFiniteDifferences) {
  for (const Shape& shape : {Shape{1, 1, 1, 3}, Shape{2, 5, 7, 3}, Shape{1, 5, 7, 5}}) {
    SCOPED_TRACE(shape.to_string());
    OwnedTensor src(shape, 5);
    OwnedTensor dst(Shape{shape[0], shape[3]});
    const std::vector<float> w = testing::loss_weights(dst.shape.num_elements(), 6);
    auto loss = [&] {
      global_avg_pool_fwd_ref(src.view(), dst.view());
      return testing::weighted_sum(dst.values, w);
    };
    OwnedTensor dd(dst.shape), ds(shape);
    dd.values = w;
    global_avg_pool_bwd_ref(dd.view(), ds.view());
    EXPECT_TRUE(testing::gradient_check(loss, {&src.values}, {ds.values}));
  }
}

// Runs `fast` into a guarded output and checks it against `expected` and that the guards held.
template <typename Run>
void expect_fast_output(const Shape& shape, const std::vector<float>& expected, const Run& fast,
                        double rtol, double atol) {
  GuardedBuffer out(shape.num_elements() * 4);
  fast(TensorView(static_cast<float*>(out.data()), shape));
  EXPECT_TRUE(all_close(static_cast<const float*>(out.data()), expected.data(),
                        shape.num_elements(), rtol, atol));
  EXPECT_TRUE(out.guards_intact());
}

std::vector<PoolCase> all_cases() {
  std::vector<PoolCase> cases = small_cases();
  cases.push_back({"(128,26,26,32) 2x2 stride 2", Shape{128, 26, 26, 32}, window(2, 2)});
  cases.push_back({"(128,11,11,64) 2x2 stride 2", Shape{128, 11, 11, 64}, window(2, 2)});
  cases.push_back(
      {"(128,13,13,32) 3x3 stride 2 same", Shape{128, 13, 13, 32}, window(3, 2, 1, 1, 1, 1)});
  cases.push_back({"(8,9,9,130) 3x3 stride 1 pad 1: channel blocks with a remainder",
                   Shape{8, 9, 9, 130}, window(3, 1, 1, 1, 1, 1)});
  cases.push_back({"(3,6,6,7) 3x3 stride 3 pad 3: windows entirely in padding", Shape{3, 6, 6, 7},
                   window(3, 3, 3, 3, 3, 3)});
  return cases;
}

TEST(PoolingTest, FastMaxPoolMatchesReference) {
  for (const PoolCase& c : all_cases()) {
    SCOPED_TRACE(c.name);
    OwnedTensor src(c.src, 7, -3.0f, 3.0f);
    const Shape out = output_shape(c);
    OwnedTensor ref(out);
    max_pool_fwd_ref(c.w, src.view(), ref.view());
    expect_fast_output(
        out, ref.values, [&](const TensorView& dst) { max_pool_fwd_fast(c.w, src.view(), dst); },
        0.0, 0.0);

    OwnedTensor dd(out, 8), ds_ref(c.src);
    max_pool_bwd_ref(c.w, src.view(), dd.view(), ds_ref.view());
    expect_fast_output(
        c.src, ds_ref.values,
        [&](const TensorView& ds) { max_pool_bwd_fast(c.w, src.view(), dd.view(), ds); }, 0.0, 0.0);
  }
}

TEST(PoolingTest, FastMaxPoolBackwardMatchesReferenceWithManyTies) {
  // Values from a set of 3 make ties within windows common: the first maximum must win in both.
  const PoolCase c{"ties", Shape{4, 9, 9, 70}, window(3, 2, 1, 1, 1, 1)};
  OwnedTensor src(c.src, 9, 0.0f, 3.0f);
  for (float& v : src.values) v = static_cast<float>(static_cast<int>(v));
  const Shape out = output_shape(c);
  OwnedTensor dd(out, 10), ds_ref(c.src);
  max_pool_bwd_ref(c.w, src.view(), dd.view(), ds_ref.view());
  expect_fast_output(
      c.src, ds_ref.values,
      [&](const TensorView& ds) { max_pool_bwd_fast(c.w, src.view(), dd.view(), ds); }, 0.0, 0.0);
}

TEST(PoolingTest, FastAvgPoolMatchesReference) {
  for (const PoolCase& c : all_cases()) {
    SCOPED_TRACE(c.name);
    OwnedTensor src(c.src, 11, -3.0f, 3.0f);
    const Shape out = output_shape(c);
    OwnedTensor ref(out);
    avg_pool_fwd_ref(c.w, src.view(), ref.view());
    expect_fast_output(
        out, ref.values, [&](const TensorView& dst) { avg_pool_fwd_fast(c.w, src.view(), dst); },
        1e-6, 1e-7);

    OwnedTensor dd(out, 12), ds_ref(c.src);
    avg_pool_bwd_ref(c.w, dd.view(), ds_ref.view());
    expect_fast_output(
        c.src, ds_ref.values, [&](const TensorView& ds) { avg_pool_bwd_fast(c.w, dd.view(), ds); },
        1e-6, 1e-7);
  }
}

TEST(PoolingTest, FastGlobalAvgPoolMatchesReference) {
  for (const Shape& shape : {Shape{1, 1, 1, 3}, Shape{2, 5, 7, 3}, Shape{1, 5, 7, 5},
                             Shape{32, 56, 56, 24}, Shape{128, 7, 7, 130}}) {
    SCOPED_TRACE(shape.to_string());
    OwnedTensor src(shape, 13, -3.0f, 3.0f);
    const Shape out{shape[0], shape[3]};
    OwnedTensor ref(out);
    global_avg_pool_fwd_ref(src.view(), ref.view());
    expect_fast_output(
        out, ref.values, [&](const TensorView& dst) { global_avg_pool_fwd_fast(src.view(), dst); },
        1e-6, 1e-7);

    OwnedTensor dd(out, 14), ds_ref(shape);
    global_avg_pool_bwd_ref(dd.view(), ds_ref.view());
    expect_fast_output(
        shape, ds_ref.values,
        [&](const TensorView& ds) { global_avg_pool_bwd_fast(dd.view(), ds); }, 1e-6, 1e-7);
  }
}

}  // namespace
}  // namespace leantrain::kernels

// Zero padding, cropping, concatenation and splitting: hand-worked values, the reference
// backward kernels against central differences, the fast kernels against the reference (outputs
// inside NaN-prefilled guard bytes), and in-place cropping and splitting.
#include "kernels/shape_ops.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "testing/kernel_testing.h"
#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::all_close;
using testing::GuardedFloats;
using testing::OwnedTensor;

Shape padded(const Shape& s, const Pad2D& p) {
  return {s[0], s[1] + p.top + p.bottom, s[2] + p.left + p.right, s[3]};
}

struct PadCase {
  Shape src;
  Pad2D pad;
};

// Odd shapes, one-sided and zero pads, and one large enough for the parallel path.
std::vector<PadCase> pad_cases() {
  return {{{1, 1, 1, 1}, {1, 1, 1, 1}},   {{2, 3, 5, 3}, {1, 2, 0, 3}},
          {{1, 4, 3, 2}, {0, 0, 2, 0}},   {{3, 2, 2, 5}, {3, 0, 0, 0}},
          {{2, 5, 7, 1}, {0, 0, 0, 0}},   {{8, 27, 19, 16}, {1, 2, 2, 1}},
          {{4, 56, 56, 24}, {0, 1, 0, 1}}};
}

TEST(ZeroPad2dTest, ComputesHandWorkedExample) {
  // src 1x2x2x1 = [[1, 2], [3, 4]], top 1, right 2.
  std::vector<float> x = {1, 2, 3, 4}, y(12, -1.f);
  const Pad2D pad{1, 0, 0, 2};
  const std::vector<float> expected = {0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0};
  zero_pad2d_ref(pad, TensorView(x.data(), Shape{1, 2, 2, 1}),
                 TensorView(y.data(), Shape{1, 3, 4, 1}));
  EXPECT_EQ(y, expected);
  std::fill(y.begin(), y.end(), -1.f);
  zero_pad2d_fast(pad, TensorView(x.data(), Shape{1, 2, 2, 1}),
                  TensorView(y.data(), Shape{1, 3, 4, 1}));
  EXPECT_EQ(y, expected);

  std::vector<float> back(4, -1.f);
  crop2d_ref(pad, TensorView(expected.data(), Shape{1, 3, 4, 1}),
             TensorView(back.data(), Shape{1, 2, 2, 1}));
  EXPECT_EQ(back, x);
}

TEST(ZeroPad2dTest, CropIsTheGradientOfPadding) {
  for (const PadCase& c : pad_cases()) {
    if (c.src.num_elements() > 2000) continue;  // central differences rerun the kernel per element
    SCOPED_TRACE(c.src.to_string());
    const Shape out = padded(c.src, c.pad);
    OwnedTensor src(c.src, 3), dst(out);
    const std::vector<float> lw = testing::loss_weights(out.num_elements(), 4);
    auto loss = [&] {
      zero_pad2d_ref(c.pad, src.view(), dst.view());
      return testing::weighted_sum(dst.values, lw);
    };
    OwnedTensor grad(c.src);
    crop2d_ref(c.pad, TensorView(lw.data(), out), grad.view());
    EXPECT_TRUE(testing::gradient_check(loss, {&src.values}, {grad.values}));
  }
}

TEST(ZeroPad2dTest, FastMatchesReference) {
  for (const PadCase& c : pad_cases()) {
    SCOPED_TRACE(c.src.to_string());
    const Shape out = padded(c.src, c.pad);
    OwnedTensor src(c.src, 5), expected(out);
    zero_pad2d_ref(c.pad, src.view(), expected.view());
    GuardedFloats dst(out.num_elements());
    zero_pad2d_fast(c.pad, src.view(), TensorView(dst.data(), out));
    EXPECT_TRUE(all_close(dst.values(), expected.values, 0.0, 0.0)) << "pad";
    EXPECT_TRUE(dst.buffer.guards_intact()) << "pad";

    OwnedTensor diff_dst(out, 6), expected_crop(c.src);
    crop2d_ref(c.pad, diff_dst.view(), expected_crop.view());
    GuardedFloats cropped(c.src.num_elements());
    crop2d_fast(c.pad, diff_dst.view(), TensorView(cropped.data(), c.src));
    EXPECT_TRUE(all_close(cropped.values(), expected_crop.values, 0.0, 0.0)) << "crop";
    EXPECT_TRUE(cropped.buffer.guards_intact()) << "crop";
  }
}

TEST(ZeroPad2dTest, CropRunsInPlace) {
  using Crop = void (*)(const Pad2D&, const TensorView&, const TensorView&);
  for (Crop crop : {Crop{crop2d_ref}, Crop{crop2d_fast}}) {
    for (const PadCase& c : pad_cases()) {
      SCOPED_TRACE(c.src.to_string());
      const Shape out = padded(c.src, c.pad);
      OwnedTensor diff_dst(out, 7), expected(c.src);
      crop2d_ref(c.pad, diff_dst.view(), expected.view());
      GuardedFloats buffer(out.num_elements());
      std::copy(diff_dst.values.begin(), diff_dst.values.end(), buffer.data());
      crop(c.pad, TensorView(buffer.data(), out), TensorView(buffer.data(), c.src));
      const std::vector<float> all = buffer.values();
      const std::vector<float> head(all.begin(), all.begin() + c.src.num_elements());
      EXPECT_TRUE(all_close(head, expected.values, 0.0, 0.0));
      EXPECT_TRUE(buffer.buffer.guards_intact());
    }
  }
}

struct ConcatCase {
  std::vector<int64_t> leading;  // dimensions before the last
  std::vector<int64_t> channels;
};

std::vector<ConcatCase> concat_cases() {
  return {{{1}, {1, 1}},
          {{2, 3, 5}, {3, 1, 4}},
          {{3, 2}, {5, 2}},
          {{1, 1, 1}, {2, 7, 1, 3}},
          {{16, 14, 14}, {32, 48}},
          {{8, 9, 11}, {13, 1, 40}}};
}

Shape with_last(const std::vector<int64_t>& leading, int64_t last) {
  std::vector<int64_t> dims = leading;
  dims.push_back(last);
  return Shape(dims);
}

// Owns the inputs, or outputs, of one concatenation case, with each part's first channel.
struct Parts {
  std::vector<OwnedTensor> tensors;
  std::vector<TensorView> views;
  std::vector<int64_t> offsets;
  Parts(const ConcatCase& c, uint64_t seed) {
    int64_t offset = 0;
    for (size_t i = 0; i < c.channels.size(); ++i) {
      tensors.emplace_back(with_last(c.leading, c.channels[i]), seed + i);
      offsets.push_back(offset);
      offset += c.channels[i];
    }
    for (OwnedTensor& t : tensors) views.push_back(t.view());
  }
};

int64_t sum(const std::vector<int64_t>& v) {
  int64_t s = 0;
  for (int64_t x : v) s += x;
  return s;
}

TEST(ConcatLastTest, ComputesHandWorkedExample) {
  // Two positions; a has 1 channel, b 2: [a0 b0 b1] per position.
  std::vector<float> a = {1, 2}, b = {10, 11, 20, 21}, y(6, -1.f);
  const TensorView srcs[] = {TensorView(a.data(), Shape{2, 1}), TensorView(b.data(), Shape{2, 2})};
  concat_last_ref(srcs, TensorView(y.data(), Shape{2, 3}));
  EXPECT_EQ(y, (std::vector<float>{1, 10, 11, 2, 20, 21}));
  std::fill(y.begin(), y.end(), -1.f);
  concat_last_fast(srcs, TensorView(y.data(), Shape{2, 3}));
  EXPECT_EQ(y, (std::vector<float>{1, 10, 11, 2, 20, 21}));

  std::vector<float> a2(2), b2(4);
  const TensorView dsts[] = {TensorView(a2.data(), Shape{2, 1}),
                             TensorView(b2.data(), Shape{2, 2})};
  const int64_t offsets[] = {0, 1};
  split_last_ref(TensorView(y.data(), Shape{2, 3}), offsets, dsts);
  EXPECT_EQ(a2, a);
  EXPECT_EQ(b2, b);
  // Only channel 2 of each position.
  std::vector<float> last(2);
  const int64_t offset_2[] = {2};
  const TensorView last_view[] = {TensorView(last.data(), Shape{2, 1})};
  split_last_fast(TensorView(y.data(), Shape{2, 3}), offset_2, last_view);
  EXPECT_EQ(last, (std::vector<float>{11, 21}));
}

TEST(ConcatLastTest, SplitIsTheGradientOfConcat) {
  for (const ConcatCase& c : concat_cases()) {
    const Shape out = with_last(c.leading, sum(c.channels));
    if (out.num_elements() > 2000) continue;
    SCOPED_TRACE(out.to_string());
    Parts srcs(c, 11), grads(c, 12);
    OwnedTensor dst(out);
    const std::vector<float> lw = testing::loss_weights(out.num_elements(), 13);
    auto loss = [&] {
      concat_last_ref(srcs.views, dst.view());
      return testing::weighted_sum(dst.values, lw);
    };
    split_last_ref(TensorView(lw.data(), out), grads.offsets, grads.views);
    std::vector<std::vector<float>*> inputs;
    std::vector<std::vector<float>> analytic;
    for (size_t i = 0; i < c.channels.size(); ++i) {
      inputs.push_back(&srcs.tensors[i].values);
      analytic.push_back(grads.tensors[i].values);
    }
    EXPECT_TRUE(testing::gradient_check(loss, inputs, analytic));
  }
}

TEST(ConcatLastTest, FastMatchesReference) {
  for (const ConcatCase& c : concat_cases()) {
    const Shape out = with_last(c.leading, sum(c.channels));
    SCOPED_TRACE(out.to_string());
    Parts srcs(c, 21);
    OwnedTensor expected(out);
    concat_last_ref(srcs.views, expected.view());
    GuardedFloats dst(out.num_elements());
    concat_last_fast(srcs.views, TensorView(dst.data(), out));
    EXPECT_TRUE(all_close(dst.values(), expected.values, 0.0, 0.0)) << "concat";
    EXPECT_TRUE(dst.buffer.guards_intact()) << "concat";

    OwnedTensor diff_dst(out, 22);
    Parts expected_parts(c, 23);
    split_last_ref(diff_dst.view(), expected_parts.offsets, expected_parts.views);
    std::vector<GuardedFloats> parts;
    std::vector<TensorView> views;
    for (const OwnedTensor& t : expected_parts.tensors) parts.emplace_back(t.shape.num_elements());
    for (size_t i = 0; i < parts.size(); ++i) {
      views.emplace_back(parts[i].data(), expected_parts.tensors[i].shape);
    }
    split_last_fast(diff_dst.view(), expected_parts.offsets, views);
    for (size_t i = 0; i < parts.size(); ++i) {
      EXPECT_TRUE(all_close(parts[i].values(), expected_parts.tensors[i].values, 0.0, 0.0))
          << "split output " << i;
      EXPECT_TRUE(parts[i].buffer.guards_intact()) << "split output " << i;
    }
  }
}

TEST(ConcatLastTest, SplitRunsInPlaceOverItsFirstOutput) {
  using Split = void (*)(const TensorView&, std::span<const int64_t>, std::span<const TensorView>);
  for (Split split : {Split{split_last_ref}, Split{split_last_fast}}) {
    for (const ConcatCase& c : concat_cases()) {
      const Shape out = with_last(c.leading, sum(c.channels));
      OwnedTensor diff_dst(out, 31);
      Parts expected(c, 32);
      split_last_ref(diff_dst.view(), expected.offsets, expected.views);
      // Every part in turn is output 0, written over diff_dst; the others follow in order.
      for (size_t first = 0; first < c.channels.size(); ++first) {
        SCOPED_TRACE(out.to_string() + " part " + std::to_string(first) + " in place");
        Parts actual(c, 33);
        std::vector<size_t> order = {first};
        for (size_t i = 0; i < c.channels.size(); ++i) {
          if (i != first) order.push_back(i);
        }
        GuardedFloats buffer(out.num_elements());
        std::copy(diff_dst.values.begin(), diff_dst.values.end(), buffer.data());
        std::vector<TensorView> views;
        std::vector<int64_t> offsets;
        for (size_t i : order) {
          views.push_back(i == first ? TensorView(buffer.data(), actual.tensors[i].shape)
                                     : actual.views[i]);
          offsets.push_back(actual.offsets[i]);
        }
        split(TensorView(buffer.data(), out), offsets, views);
        const std::vector<float> all = buffer.values();
        const std::vector<float> head(all.begin(), all.begin() + views[0].num_elements());
        EXPECT_TRUE(all_close(head, expected.tensors[first].values, 0.0, 0.0)) << "in place";
        for (size_t i = 0; i < c.channels.size(); ++i) {
          if (i == first) continue;
          EXPECT_TRUE(all_close(actual.tensors[i].values, expected.tensors[i].values, 0.0, 0.0))
              << "part " << i;
        }
        EXPECT_TRUE(buffer.buffer.guards_intact());
      }
    }
  }
}

}  // namespace
}  // namespace leantrain::kernels

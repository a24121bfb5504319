// Bilinear resizing: values worked out by hand from TensorFlow's half-pixel rule (and the
// example in tf.image.resize's documentation), the reference backward against central
// differences, and the fast kernels against the reference inside guard bytes.
#include "kernels/resize.h"

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

using Resize = void (*)(const TensorView&, const TensorView&);

// Runs `fn` on a one-image, one-channel src of `ih` x `iw` values into an `oh` x `ow` image.
std::vector<float> resize_image(Resize fn, std::vector<float> src, int64_t ih, int64_t iw,
                                int64_t oh, int64_t ow) {
  std::vector<float> dst(static_cast<size_t>(oh * ow), -1.0f);
  fn(TensorView(src.data(), Shape{1, ih, iw, 1}), TensorView(dst.data(), Shape{1, oh, ow, 1}));
  return dst;
}

TEST(ResizeTapTest, FollowsHalfPixelCentersAndClampsAtTheEdges) {
  // 2 -> 4: s = (o + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25.
  const LinearTap t0 = resize_tap(0, 2, 4), t1 = resize_tap(1, 2, 4), t3 = resize_tap(3, 2, 4);
  EXPECT_EQ(t0.lower, 0);  // floor(-0.25) = -1, clamped
  EXPECT_EQ(t0.upper, 0);  // ceil(-0.25) = 0
  EXPECT_FLOAT_EQ(t0.lerp, 0.75f);
  EXPECT_EQ(t1.lower, 0);
  EXPECT_EQ(t1.upper, 1);
  EXPECT_FLOAT_EQ(t1.lerp, 0.25f);
  EXPECT_EQ(t3.lower, 1);
  EXPECT_EQ(t3.upper, 1);  // ceil(1.25) = 2, clamped to in - 1
  // 4 -> 2: s = (o + 0.5) * 2 - 0.5 = 0.5, 2.5.
  const LinearTap d1 = resize_tap(1, 4, 2);
  EXPECT_EQ(d1.lower, 2);
  EXPECT_EQ(d1.upper, 3);
  EXPECT_FLOAT_EQ(d1.lerp, 0.5f);
}

class ResizeHandTest : public ::testing::TestWithParam<Resize> {};

TEST_P(ResizeHandTest, Upsamples2x2To4x4) {
  // Per axis the four outputs weigh the two inputs (1, 0), (3/4, 1/4), (1/4, 3/4), (0, 1) (see
  // the taps above). src [[1, 2], [3, 4]]: row 0 = [1, 1.25, 1.75, 2], row 3 = [3, 3.25, 3.75, 4],
  // rows 1 and 2 blend those two 3:1 and 1:3.
  const std::vector<float> expected = {1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f,
                                       2.5f, 2.75f, 3.25f, 3.5f, 3.0f, 3.25f, 3.75f, 4.0f};
  EXPECT_TRUE(all_close(resize_image(GetParam(), {1, 2, 3, 4}, 2, 2, 4, 4), expected, 0, 1e-6));
}

TEST_P(ResizeHandTest, Downsamples4x4To2x2) {
  // Taps at 0.5 and 2.5: each output is the mean of a 2x2 block of v = 4 * row + col.
  std::vector<float> src(16);
  for (int i = 0; i < 16; ++i) src[static_cast<size_t>(i)] = static_cast<float>(i);
  const std::vector<float> expected = {(0 + 1 + 4 + 5) / 4.0f, (2 + 3 + 6 + 7) / 4.0f,
                                       (8 + 9 + 12 + 13) / 4.0f, (10 + 11 + 14 + 15) / 4.0f};
  EXPECT_TRUE(all_close(resize_image(GetParam(), src, 4, 4, 2, 2), expected, 0, 1e-6));
}

TEST_P(ResizeHandTest, MatchesTensorFlowDocumentationExample) {
  // tf.image.resize's docstring: the 5x5 identity resized to [3, 5] is
  // [[0.6666667, 0.3333333, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0.3333335, 0.6666665]].
  std::vector<float> eye(25, 0.0f);
  for (int i = 0; i < 5; ++i) eye[static_cast<size_t>(i * 6)] = 1.0f;
  const std::vector<float> expected = {0.6666667f, 0.3333333f, 0, 0, 0, 0,          0,         1,
                                       0,          0,          0, 0, 0, 0.3333335f, 0.6666665f};
  EXPECT_TRUE(all_close(resize_image(GetParam(), eye, 5, 5, 3, 5), expected, 0, 1e-6));
}

TEST_P(ResizeHandTest, SameSizeCopiesAndOnePixelBroadcasts) {
  const std::vector<float> src = {1, -2, 3.5f, 4, 5, 6};
  EXPECT_TRUE(all_close(resize_image(GetParam(), src, 2, 3, 2, 3), src, 0, 0));
  EXPECT_TRUE(
      all_close(resize_image(GetParam(), {7}, 1, 1, 3, 2), std::vector<float>(6, 7.0f), 0, 0));
}

INSTANTIATE_TEST_SUITE_P(Kernels, ResizeHandTest,
                         ::testing::Values(resize_bilinear_fwd_ref, resize_bilinear_fwd_fast),
                         [](const auto& info) {
                           return info.param == resize_bilinear_fwd_fast ? "Fast" : "Reference";
                         });

struct ResizeCase {
  Shape src;
  int64_t oh, ow;
};

// Up, down, non-integer ratios, one axis only, 1-pixel sides, a channel count past the fast
// backward's 64-channel block, and sizes big enough for the parallel paths.
std::vector<ResizeCase> resize_cases() {
  return {{{1, 2, 2, 1}, 4, 4},  {{2, 4, 4, 3}, 2, 2},     {{1, 3, 5, 2}, 7, 4},
          {{2, 5, 3, 3}, 2, 8},  {{1, 1, 4, 2}, 3, 1},     {{1, 6, 6, 1}, 6, 9},
          {{2, 3, 4, 70}, 5, 3}, {{4, 28, 28, 3}, 64, 64}, {{8, 17, 13, 32}, 9, 26}};
}

Shape dst_shape(const ResizeCase& c) { return {c.src[0], c.oh, c.ow, c.src[3]}; }

TEST(ResizeBilinearTest, ReferenceGradientMatchesCentralDifferences) {
  for (const ResizeCase& c : resize_cases()) {
    if (c.src.num_elements() > 1000) continue;  // central differences rerun the kernel per element
    SCOPED_TRACE(c.src.to_string() + " -> " + dst_shape(c).to_string());
    OwnedTensor src(c.src, 1), dst(dst_shape(c)), grad(c.src);
    const std::vector<float> lw = testing::loss_weights(dst.shape.num_elements(), 2);
    auto loss = [&] {
      resize_bilinear_fwd_ref(src.view(), dst.view());
      return testing::weighted_sum(dst.values, lw);
    };
    resize_bilinear_bwd_ref(TensorView(lw.data(), dst.shape), grad.view());
    EXPECT_TRUE(testing::gradient_check(loss, {&src.values}, {grad.values}));
  }
}

TEST(ResizeBilinearTest, FastMatchesReference) {
  for (const ResizeCase& c : resize_cases()) {
    const Shape out = dst_shape(c);
    SCOPED_TRACE(c.src.to_string() + " -> " + out.to_string());
    OwnedTensor src(c.src, 11), expected(out);
    resize_bilinear_fwd_ref(src.view(), expected.view());
    GuardedFloats dst(out.num_elements());
    resize_bilinear_fwd_fast(src.view(), TensorView(dst.data(), out));
    EXPECT_TRUE(testing::matches_reference(dst.values(), expected.values)) << "forward";
    EXPECT_TRUE(dst.buffer.guards_intact()) << "forward";

    OwnedTensor diff_dst(out, 12), expected_grad(c.src);
    resize_bilinear_bwd_ref(diff_dst.view(), expected_grad.view());
    GuardedFloats diff_src(c.src.num_elements());
    resize_bilinear_bwd_fast(diff_dst.view(), TensorView(diff_src.data(), c.src));
    EXPECT_TRUE(testing::matches_reference(diff_src.values(), expected_grad.values)) << "backward";
    EXPECT_TRUE(diff_src.buffer.guards_intact()) << "backward";
  }
}

}  // namespace
}  // namespace leantrain::kernels

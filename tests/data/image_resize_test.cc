#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "leantrain/data/image.h"

namespace leantrain::data {
namespace {

using ::testing::HasSubstr;

std::string error_message(const std::function<void()>& fn, ErrorCode code) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << error_code_name(e.code()) << ": " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return "";
}

Image gray(int64_t h, int64_t w, std::vector<uint8_t> pixels) {
  Image img;
  img.height = h;
  img.width = w;
  img.channels = 1;
  img.pixels = std::move(pixels);
  return img;
}

Image noise_image(int64_t h, int64_t w, int64_t c, uint64_t seed) {
  Rng rng(seed);
  Image img;
  img.height = h;
  img.width = w;
  img.channels = c;
  img.pixels.resize(static_cast<size_t>(h * w * c));
  for (auto& p : img.pixels) p = static_cast<uint8_t>(rng.below(256));
  return img;
}

std::vector<float> resize_floats(const Image& img, int64_t h, int64_t w, Interpolation interp,
                                 bool antialias = true) {
  std::vector<float> out(static_cast<size_t>(h * w * img.channels));
  resize_to_float(img, CropWindow{}, h, w, out.data(), PixelAffine::rescale(1.0f), interp,
                  antialias);
  return out;
}

void expect_floats_near(const std::vector<float>& actual, const std::vector<double>& expected,
                        double tol = 1e-4) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], tol) << i;
}

TEST(ResizeTest, BilinearUpscaleUsesHalfPixelCenters) {
  // 2 -> 4 per axis: output i samples source coordinate (i + 0.5) / 2 - 0.5 =
  // -0.25, 0.25, 0.75, 1.25, clamped at the edges: weights on (p0, p1) of
  // (1, 0), (0.75, 0.25), (0.25, 0.75), (0, 1).
  const Image img = gray(2, 2, {0, 100, 200, 40});
  const double w[4][2] = {{1, 0}, {0.75, 0.25}, {0.25, 0.75}, {0, 1}};
  std::vector<double> expected;
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) {
      double v = 0;
      for (int j = 0; j < 2; ++j)
        for (int i = 0; i < 2; ++i)
          v += w[y][j] * w[x][i] * img.pixels[static_cast<size_t>(2 * j + i)];
      expected.push_back(v);
    }
  // Row 1 by hand: 0.75 * (0.75*0 + 0.25*100) + 0.25 * (0.75*200 + 0.25*40) = 18.75 + 40 = 58.75
  // at x = 1.
  EXPECT_DOUBLE_EQ(expected[5], 58.75);
  expect_floats_near(resize_floats(img, 4, 4, Interpolation::kBilinear), expected);
  // Enlarging is the same with or without antialias.
  expect_floats_near(resize_floats(img, 4, 4, Interpolation::kBilinear, false), expected);
  // The u8 result is rounded: 58.75 -> 59.
  EXPECT_EQ(resize(img, 4, 4).pixels[5], 59);
}

TEST(ResizeTest, AreaOfIntegerFactorIsTheBoxMean) {
  const Image img = noise_image(4, 4, 1, 1);
  std::vector<double> expected;
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 2; ++x) {
      double sum = 0;
      for (int j = 0; j < 2; ++j)
        for (int i = 0; i < 2; ++i) sum += img.at(2 * y + j, 2 * x + i, 0);
      expected.push_back(sum / 4);
    }
  expect_floats_near(resize_floats(img, 2, 2, Interpolation::kArea), expected);
}

TEST(ResizeTest, ABlendOfManyTapsStaysInsideThePixelRange) {
  // An area filter over a large window sums ~180 x 130 float weights per output: their
  // rounding must not carry a white image past 255 (found by the image fuzzer: 255.0013, with
  // a 914x929 window of a 1804x1036 JPEG shrunk to 5x7).
  Image white;
  white.height = 1804;
  white.width = 1036;
  white.channels = 1;
  white.pixels.assign(static_cast<size_t>(white.size()), 255);
  for (const bool flip : {false, true}) {
    for (const Interpolation interpolation :
         {Interpolation::kArea, Interpolation::kBilinear, Interpolation::kNearest}) {
      std::vector<float> out(5 * 7, -1.0f);
      resize_to_float(white, CropWindow{85, 106, 914, 929}, 5, 7, out.data(),
                      PixelAffine::rescale(1.0f), interpolation, /*antialias=*/true, flip);
      for (const float v : out) {
        EXPECT_LE(v, 255.0f);
        EXPECT_GE(v, 254.99f);
      }
    }
  }
}

TEST(ResizeTest, AreaOfFractionalFactorWeighsByCoverage) {
  // 3 -> 2: output 0 covers [0, 1.5): all of p0 and half of p1; output 1 covers [1.5, 3).
  const Image img = gray(1, 3, {30, 90, 210});
  expect_floats_near(resize_floats(img, 1, 2, Interpolation::kArea),
                     {(30 + 0.5 * 90) / 1.5, (0.5 * 90 + 210) / 1.5});
}

TEST(ResizeTest, NearestPicksThePixelContainingTheCenter) {
  const Image img = gray(1, 4, {10, 20, 30, 40});
  // 4 -> 2: centers at 1.0 and 3.0 -> floor -> pixels 1 and 3.
  expect_floats_near(resize_floats(img, 1, 2, Interpolation::kNearest), {20, 40});
  // 4 -> 3: centers at 0.667, 2.0, 3.333 -> pixels 0, 2, 3.
  expect_floats_near(resize_floats(img, 1, 3, Interpolation::kNearest), {10, 30, 40});
  const Image two = gray(1, 2, {5, 7});
  expect_floats_near(resize_floats(two, 1, 4, Interpolation::kNearest), {5, 5, 7, 7});
}

TEST(ResizeTest, AntialiasWidensTheKernelWhenShrinking) {
  // 8 -> 2: scale 4, so the triangle's support is 4. Output 0 is centered at 2.0; pixel j has
  // weight 1 - |j + 0.5 - 2| / 4: j = 0..5 -> 0.625, 0.875, 0.875, 0.625, 0.375, 0.125 (sum 3.5).
  const Image img = gray(1, 8, {8, 16, 24, 32, 40, 48, 56, 64});
  const double w[6] = {0.625, 0.875, 0.875, 0.625, 0.375, 0.125};
  double out0 = 0;
  for (int j = 0; j < 6; ++j) out0 += w[j] * img.pixels[static_cast<size_t>(j)];
  out0 /= 3.5;
  // Output 1 (center 6.0) mirrors it: pixels 7..2 with the same weights.
  double out1 = 0;
  for (int j = 0; j < 6; ++j) out1 += w[j] * img.pixels[static_cast<size_t>(7 - j)];
  out1 /= 3.5;
  expect_floats_near(resize_floats(img, 1, 2, Interpolation::kBilinear, true), {out0, out1});
  // Without antialias: plain interpolation at 1.5 and 5.5 (midpoints of pixels 1,2 and 5,6).
  expect_floats_near(resize_floats(img, 1, 2, Interpolation::kBilinear, false), {20, 52});
}

TEST(ResizeTest, AntialiasSuppressesAliasingOfFineDetail) {
  // A period-4 pattern (255, 0, 0, 0) shrunk 4x: its mean is 63.75. Plain bilinear samples
  // between the zeros and returns 0; antialiased filtering sees every pixel.
  std::vector<uint8_t> row;
  for (int i = 0; i < 64; ++i) row.push_back(i % 4 == 0 ? 255 : 0);
  const Image img = gray(1, 64, row);
  const std::vector<float> plain = resize_floats(img, 1, 16, Interpolation::kBilinear, false);
  const std::vector<float> smooth = resize_floats(img, 1, 16, Interpolation::kBilinear, true);
  for (int i = 2; i < 14; ++i) {  // away from the edges
    EXPECT_NEAR(plain[static_cast<size_t>(i)], 0.0, 1e-4) << i;
    EXPECT_NEAR(smooth[static_cast<size_t>(i)], 63.75, 1.0) << i;
  }
}

TEST(ResizeTest, SameSizeIsTheIdentity) {
  const Image img = noise_image(7, 9, 3, 2);
  for (Interpolation interp :
       {Interpolation::kBilinear, Interpolation::kArea, Interpolation::kNearest}) {
    EXPECT_EQ(resize(img, 7, 9, interp).pixels, img.pixels);
  }
}

TEST(ResizeTest, ChannelsAreResizedIndependently) {
  const Image rgb = noise_image(9, 11, 3, 3);
  const std::vector<float> all = resize_floats(rgb, 4, 6, Interpolation::kBilinear);
  for (int64_t c = 0; c < 3; ++c) {
    Image one = gray(9, 11, {});
    for (int64_t i = 0; i < 99; ++i)
      one.pixels.push_back(rgb.pixels[static_cast<size_t>(3 * i + c)]);
    const std::vector<float> single = resize_floats(one, 4, 6, Interpolation::kBilinear);
    for (int64_t i = 0; i < 24; ++i)
      ASSERT_FLOAT_EQ(all[static_cast<size_t>(3 * i + c)], single[static_cast<size_t>(i)]);
  }
}

TEST(ResizeTest, WindowFlipAndAffineEqualCropThenResize) {
  const Image img = noise_image(20, 24, 3, 4);
  const CropWindow window{3, 5, 12, 14};
  const PixelAffine affine = PixelAffine::rescale(0.5f, -3.0f);
  std::vector<float> fused(7 * 6 * 3);
  resize_to_float(img, window, 7, 6, fused.data(), affine, Interpolation::kBilinear, true, true);
  const std::vector<float> plain =
      resize_floats(crop(img, 3, 5, 12, 14), 7, 6, Interpolation::kBilinear);
  for (int64_t y = 0; y < 7; ++y)
    for (int64_t x = 0; x < 6; ++x)
      for (int64_t c = 0; c < 3; ++c)
        ASSERT_NEAR(fused[static_cast<size_t>((y * 6 + x) * 3 + c)],
                    plain[static_cast<size_t>((y * 6 + (5 - x)) * 3 + c)] * 0.5f - 3.0f, 1e-4);
}

TEST(ResizeTest, ScaledWindowMapsOntoASmallerImage) {
  // The half-size image holds the 2x2 box means of the full one, so area-resizing the window
  // (2, 2, 4, 4) of the full image equals the window scaled by 0.5 on the half-size image.
  const Image full = noise_image(8, 8, 1, 5);
  const Image half = resize(full, 4, 4, Interpolation::kArea);
  std::vector<float> a(4), b(4);
  resize_to_float(full, CropWindow{2, 2, 4, 4}, 2, 2, a.data(), PixelAffine::rescale(1.0f),
                  Interpolation::kArea);
  // Compare against unrounded box means: use the float path for the half image too.
  std::vector<float> means(16);
  resize_to_float(full, CropWindow{}, 4, 4, means.data(), PixelAffine::rescale(1.0f),
                  Interpolation::kArea);
  for (int64_t i = 0; i < 16; ++i) EXPECT_NEAR(half.pixels[static_cast<size_t>(i)], means[i], 0.5);
  resize_to_float(half, CropWindow{2, 2, 4, 4}, 2, 2, b.data(), PixelAffine::rescale(1.0f),
                  Interpolation::kArea, true, false, 0.5, 0.5);
  for (int64_t i = 0; i < 4; ++i)
    EXPECT_NEAR(a[static_cast<size_t>(i)], b[static_cast<size_t>(i)], 0.5);
}

// The documented semantics computed directly, one output at a time over the whole window (no
// tables, trimming or shifting): the oracle for the separable implementation.
std::vector<std::pair<int64_t, double>> reference_weights(int64_t lo, int64_t hi, double x0,
                                                          double extent, int64_t out, int64_t i,
                                                          Interpolation interp, bool antialias) {
  const double s = extent / static_cast<double>(out);
  const double center = x0 + (static_cast<double>(i) + 0.5) * s;
  std::vector<std::pair<int64_t, double>> w;
  if (interp == Interpolation::kNearest) {
    w.push_back({std::clamp<int64_t>(static_cast<int64_t>(std::floor(center)), lo, hi - 1), 1.0});
    return w;
  }
  double sum = 0;
  for (int64_t j = lo; j < hi; ++j) {
    double v;
    if (interp == Interpolation::kArea) {
      v = std::max(0.0,
                   std::min<double>(j + 1, center + s / 2) - std::max<double>(j, center - s / 2));
    } else {
      const double support = antialias ? std::max(s, 1.0) : 1.0;
      v = std::max(0.0, 1.0 - std::abs(j + 0.5 - center) / support);
    }
    if (v > 0) w.push_back({j, v});
    sum += v;
  }
  for (auto& [j, v] : w) v /= sum;
  return w;
}

TEST(ResizeTest, MatchesADirectComputationOnRandomWindows) {
  Rng rng(99);
  const Image img = noise_image(23, 31, 3, 8);
  const Interpolation interps[3] = {Interpolation::kBilinear, Interpolation::kArea,
                                    Interpolation::kNearest};
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t wh = 1 + static_cast<int64_t>(rng.below(23));
    const int64_t ww = 1 + static_cast<int64_t>(rng.below(31));
    const CropWindow win{static_cast<int64_t>(rng.below(static_cast<uint64_t>(24 - wh))),
                         static_cast<int64_t>(rng.below(static_cast<uint64_t>(32 - ww))), wh, ww};
    const int64_t oh = 1 + static_cast<int64_t>(rng.below(40));
    const int64_t ow = 1 + static_cast<int64_t>(rng.below(40));
    const Interpolation interp = interps[trial % 3];
    const bool antialias = (trial / 3) % 2 == 0;
    const bool flip = (trial / 6) % 2 == 0;
    std::vector<float> out(static_cast<size_t>(oh * ow * 3));
    resize_to_float(img, win, oh, ow, out.data(), PixelAffine::rescale(1.0f), interp, antialias,
                    flip);
    for (int64_t y = 0; y < oh; ++y) {
      const auto wy = reference_weights(win.top, win.top + wh, static_cast<double>(win.top),
                                        static_cast<double>(wh), oh, y, interp, antialias);
      for (int64_t x = 0; x < ow; ++x) {
        const auto wx = reference_weights(win.left, win.left + ww, static_cast<double>(win.left),
                                          static_cast<double>(ww), ow, x, interp, antialias);
        for (int64_t c = 0; c < 3; ++c) {
          double v = 0;
          for (const auto& [j, a] : wy)
            for (const auto& [i, b] : wx) v += a * b * img.at(j, i, c);
          const int64_t ox = flip ? ow - 1 - x : x;
          ASSERT_NEAR(out[static_cast<size_t>((y * ow + ox) * 3 + c)], v, 1e-3)
              << "trial " << trial << " at " << y << "," << x << "," << c;
        }
      }
    }
  }
}

TEST(ResizeTest, ReusedTablesGiveFreshResults) {
  // The weight tables are cached per thread; alternating windows, sizes and flips must not
  // leak one call's table into the next.
  const Image img = noise_image(16, 16, 3, 9);
  auto run = [&](const CropWindow& w, int64_t h, int64_t wd, bool flip) {
    std::vector<float> out(static_cast<size_t>(h * wd * 3));
    resize_to_float(img, w, h, wd, out.data(), PixelAffine::rescale(1.0f), Interpolation::kBilinear,
                    true, flip);
    return out;
  };
  const auto a = run({1, 2, 10, 12}, 5, 6, false);
  const auto b = run({0, 0, 16, 16}, 5, 6, true);
  const auto c = run({1, 2, 10, 12}, 7, 6, false);
  EXPECT_EQ(run({1, 2, 10, 12}, 5, 6, false), a);
  EXPECT_EQ(run({0, 0, 16, 16}, 5, 6, true), b);
  EXPECT_EQ(run({1, 2, 10, 12}, 7, 6, false), c);
}

TEST(ResizeTest, RejectsBadSizesAndWindows) {
  const Image img = noise_image(4, 4, 1, 6);
  EXPECT_THAT(error_message([&] { resize(img, 0, 3); }, ErrorCode::kInvalidArgument),
              HasSubstr("0x3 must be positive"));
  std::vector<float> out(4);
  EXPECT_THAT(error_message(
                  [&] {
                    resize_to_float(img, CropWindow{2, 2, 3, 1}, 2, 2, out.data());
                  },
                  ErrorCode::kInvalidArgument),
              HasSubstr("outside the 4x4 image"));
  EXPECT_THAT(error_message([&] { resize(Image{}, 2, 2); }, ErrorCode::kInvalidArgument),
              HasSubstr("non-empty image"));
}

TEST(InterpolationTest, ParsesKerasNames) {
  EXPECT_EQ(parse_interpolation("bilinear"), Interpolation::kBilinear);
  EXPECT_EQ(parse_interpolation("area"), Interpolation::kArea);
  EXPECT_EQ(parse_interpolation("nearest"), Interpolation::kNearest);
  EXPECT_THAT(error_message([] { parse_interpolation("bicubic"); }, ErrorCode::kInvalidArgument),
              HasSubstr("supported: bilinear, area, nearest"));
}

TEST(ToFloatTest, RescalesAndNormalizes) {
  const Image img = noise_image(3, 2, 3, 7);
  std::vector<float> out(18);
  to_float(img, out.data());
  for (size_t i = 0; i < 18; ++i) EXPECT_FLOAT_EQ(out[i], img.pixels[i] / 255.0f);
  to_float(img, out.data(), 2.0f, -1.0f);
  for (size_t i = 0; i < 18; ++i) EXPECT_FLOAT_EQ(out[i], img.pixels[i] * 2.0f - 1.0f);
  // torchvision's ImageNet normalization.
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stddev[3] = {0.229f, 0.224f, 0.225f};
  normalize_to_float(img, out.data(), mean, stddev);
  for (size_t i = 0; i < 18; ++i)
    EXPECT_NEAR(out[i], (img.pixels[i] / 255.0 - mean[i % 3]) / stddev[i % 3], 1e-5) << i;
  const float zero[3] = {1, 0, 1};
  EXPECT_THAT(error_message([&] { normalize_to_float(img, out.data(), mean, zero); },
                            ErrorCode::kInvalidArgument),
              HasSubstr("stddev[1] is 0"));
  EXPECT_THAT(
      error_message(
          [&] { normalize_to_float(img, out.data(), std::span(mean, 1), std::span(stddev, 1)); },
          ErrorCode::kInvalidArgument),
      HasSubstr("one per channel"));
}

}  // namespace
}  // namespace leantrain::data

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <set>
#include <tuple>

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

TEST(ColourTest, GrayscaleIsRoundedLuma) {
  const Image rgb = noise_image(5, 6, 3, 1);
  const Image g = to_grayscale(rgb);
  ASSERT_EQ(g.channels, 1);
  for (int64_t y = 0; y < 5; ++y)
    for (int64_t x = 0; x < 6; ++x) {
      const double l = 0.299 * rgb.at(y, x, 0) + 0.587 * rgb.at(y, x, 1) + 0.114 * rgb.at(y, x, 2);
      EXPECT_NEAR(g.at(y, x, 0), l, 0.51) << y << "," << x;
    }
  // Alpha is ignored.
  Image rgba = noise_image(5, 6, 4, 2);
  for (int64_t i = 0; i < 30; ++i)
    for (int64_t c = 0; c < 3; ++c)
      rgba.pixels[static_cast<size_t>(4 * i + c)] = rgb.pixels[static_cast<size_t>(3 * i + c)];
  EXPECT_EQ(to_grayscale(rgba).pixels, g.pixels);
  // Pure white and black stay so.
  Image bw = noise_image(1, 2, 3, 3);
  bw.pixels = {255, 255, 255, 0, 0, 0};
  EXPECT_EQ(to_grayscale(bw).pixels, (std::vector<uint8_t>{255, 0}));
}

TEST(ColourTest, RgbRepeatsGrayAndDropsAlpha) {
  const Image g = noise_image(3, 4, 1, 4);
  const Image rgb = to_rgb(g);
  ASSERT_EQ(rgb.channels, 3);
  for (int64_t i = 0; i < 12; ++i)
    for (int64_t c = 0; c < 3; ++c)
      EXPECT_EQ(rgb.pixels[static_cast<size_t>(3 * i + c)], g.pixels[static_cast<size_t>(i)]);
  const Image rgba = noise_image(3, 4, 4, 5);
  const Image dropped = to_rgb(rgba);
  for (int64_t i = 0; i < 12; ++i)
    for (int64_t c = 0; c < 3; ++c)
      EXPECT_EQ(dropped.pixels[static_cast<size_t>(3 * i + c)],
                rgba.pixels[static_cast<size_t>(4 * i + c)]);
}

TEST(CropTest, CopiesTheWindowExactly) {
  const Image img = noise_image(6, 7, 3, 6);
  const Image c = crop(img, 1, 2, 3, 4);
  ASSERT_EQ(c.height, 3);
  ASSERT_EQ(c.width, 4);
  for (int64_t y = 0; y < 3; ++y)
    for (int64_t x = 0; x < 4; ++x)
      for (int64_t k = 0; k < 3; ++k) EXPECT_EQ(c.at(y, x, k), img.at(y + 1, x + 2, k));
  EXPECT_THAT(error_message([&] { crop(img, 4, 0, 3, 1); }, ErrorCode::kInvalidArgument),
              HasSubstr("(top 4, left 0, height 3, width 1) is not inside the 6x7 image"));
}

TEST(CropTest, CenterCropRoundsOffsetsDown) {
  // (5 - 3) / 2 = 1, (7 - 4) / 2 = 1.
  EXPECT_EQ(center_crop_window(5, 7, 3, 4), (CropWindow{1, 1, 3, 4}));
  EXPECT_EQ(center_crop_window(6, 6, 3, 3), (CropWindow{1, 1, 3, 3}));
  const Image img = noise_image(5, 7, 1, 7);
  EXPECT_EQ(center_crop(img, 3, 4).pixels, crop(img, 1, 1, 3, 4).pixels);
  EXPECT_THAT(error_message([&] { center_crop(img, 6, 1); }, ErrorCode::kInvalidArgument),
              HasSubstr("does not fit"));
}

TEST(CropTest, AspectRatioWindowFollowsKeras) {
  // 100x50 image, square target: crop_height = min(100, 50 * 10 / 10) = 50, crop_width =
  // min(50, 100 * 10 / 10) = 50; top (100 - 50) / 2 = 25.
  EXPECT_EQ(aspect_ratio_window(100, 50, 10, 10), (CropWindow{25, 0, 50, 50}));
  // Same aspect ratio: the whole image.
  EXPECT_EQ(aspect_ratio_window(100, 50, 20, 10), (CropWindow{0, 0, 100, 50}));
  // 30x40 to 3x5: crop_height = min(30, 40 * 3 / 5 = 24), crop_width = min(40, 30 * 5 / 3 = 50).
  EXPECT_EQ(aspect_ratio_window(30, 40, 3, 5), (CropWindow{3, 0, 24, 40}));
  // Integer division rounds down: 7x10 to 2x3 -> height min(7, 30 / 3 = 6), width min(10, 21/2=10).
  EXPECT_EQ(aspect_ratio_window(7, 10, 2, 3), (CropWindow{0, 0, 6, 10}));
  const Image img = noise_image(30, 40, 3, 8);
  EXPECT_EQ(crop_to_aspect_ratio(img, 3, 5).pixels, crop(img, 3, 0, 24, 40).pixels);
}

TEST(FlipTest, MirrorsRowsAndIsItsOwnInverse) {
  const Image img = noise_image(4, 5, 3, 9);
  const Image f = flip_left_right(img);
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 5; ++x)
      for (int64_t k = 0; k < 3; ++k) EXPECT_EQ(f.at(y, x, k), img.at(y, 4 - x, k));
  EXPECT_EQ(flip_left_right(f).pixels, img.pixels);
}

TEST(RandomCropTest, IsDeterministicPerSeedAndVariesAcrossSeeds) {
  const Image img = noise_image(20, 30, 3, 10);
  EXPECT_EQ(random_crop(img, 8, 9, 42).pixels, random_crop(img, 8, 9, 42).pixels);
  std::set<std::pair<int64_t, int64_t>> corners;
  int64_t max_top = 0, max_left = 0;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    const CropWindow w = random_crop_window(20, 30, 8, 9, seed);
    ASSERT_TRUE(w.top >= 0 && w.top <= 12 && w.left >= 0 && w.left <= 21) << seed;
    ASSERT_EQ(w.height, 8);
    corners.insert({w.top, w.left});
    max_top = std::max(max_top, w.top);
    max_left = std::max(max_left, w.left);
    const Image c = random_crop(img, 8, 9, seed);
    ASSERT_EQ(c.pixels, crop(img, w.top, w.left, 8, 9).pixels);
  }
  // 13 x 22 = 286 positions, 400 draws: most are seen and both extremes are reached.
  EXPECT_GT(corners.size(), 200u);
  EXPECT_EQ(max_top, 12);
  EXPECT_EQ(max_left, 21);
}

TEST(RandomResizedCropTest, WindowsFollowTheScaleAndRatioRanges) {
  int fallbacks = 0;
  std::set<std::tuple<int64_t, int64_t, int64_t, int64_t>> windows;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    const CropWindow w = random_resized_crop_window(120, 160, seed);
    EXPECT_EQ(w, random_resized_crop_window(120, 160, seed));
    ASSERT_TRUE(w.top >= 0 && w.left >= 0 && w.height > 0 && w.width > 0 &&
                w.top + w.height <= 120 && w.left + w.width <= 160)
        << seed;
    windows.insert({w.top, w.left, w.height, w.width});
    const double area = static_cast<double>(w.height * w.width) / (120.0 * 160.0);
    const double ratio = static_cast<double>(w.width) / static_cast<double>(w.height);
    if (w.height == 120 && w.width == 160) {
      ++fallbacks;
      continue;
    }
    // Rounding w and h to integers moves area and ratio a little.
    EXPECT_GE(area, 0.08 * 0.9) << seed;
    EXPECT_LE(area, 1.0) << seed;
    EXPECT_GE(ratio, 0.75 * 0.9) << seed;
    EXPECT_LE(ratio, 4.0 / 3.0 * 1.1) << seed;
  }
  EXPECT_GT(windows.size(), 250u);
  EXPECT_LT(fallbacks, 30);
}

TEST(RandomResizedCropTest, FallsBackToTheCentralCropClampedToTheRatio) {
  // A square image can never hold w = sqrt(area * r) with r >= 2 at scale 1, so all 10 tries
  // fail; the fallback takes the full width and h = round(100 / 2) = 50, centered.
  EXPECT_EQ(random_resized_crop_window(100, 100, 7, 1.0f, 1.0f, 2.0f, 3.0f),
            (CropWindow{25, 0, 50, 100}));
  // A wide image with a ratio cap of 1: h = 40, w = round(40 * 1) = 40, centered.
  EXPECT_EQ(random_resized_crop_window(40, 100, 7, 1.0f, 1.0f, 0.5f, 1.0f),
            (CropWindow{0, 30, 40, 40}));
  EXPECT_THAT(error_message([] { random_resized_crop_window(10, 10, 1, 0.5f, 0.4f); },
                            ErrorCode::kInvalidArgument),
              HasSubstr("scale range"));
}

TEST(RandomResizedCropTest, ImageIsTheWindowResized) {
  const Image img = noise_image(40, 50, 3, 11);
  const CropWindow w = random_resized_crop_window(40, 50, 5);
  const Image expected = resize(crop(img, w.top, w.left, w.height, w.width), 16, 16);
  EXPECT_EQ(random_resized_crop(img, 16, 16, 5).pixels, expected.pixels);
}

TEST(RandomFlipTest, FlipsAboutHalfOfTheSeedsDeterministically) {
  const Image img = noise_image(3, 4, 1, 12);
  const Image mirrored = flip_left_right(img);
  int flips = 0;
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    const bool flip = random_flip_decision(seed);
    EXPECT_EQ(flip, random_flip_decision(seed));
    EXPECT_EQ(random_flip_left_right(img, seed).pixels, flip ? mirrored.pixels : img.pixels);
    flips += flip;
  }
  // Binomial(1000, 0.5): mean 500, standard deviation about 16.
  EXPECT_GT(flips, 420);
  EXPECT_LT(flips, 580);
}

TEST(ColourJitterTest, BrightnessAddsAFractionOfTheRangeAndSaturates) {
  Image img = noise_image(6, 6, 3, 13);
  const Image before = img;
  adjust_brightness(img, 20.0f / 255.0f);
  for (size_t i = 0; i < img.pixels.size(); ++i)
    EXPECT_EQ(img.pixels[i], std::min(255, before.pixels[i] + 20)) << i;
  img = before;
  adjust_brightness(img, -1.0f);
  for (uint8_t p : img.pixels) EXPECT_EQ(p, 0);
}

TEST(ColourJitterTest, ContrastScalesAroundTheChannelMean) {
  Image img = noise_image(5, 4, 3, 14);
  const Image before = img;
  adjust_contrast(img, 0.5f);
  for (int64_t c = 0; c < 3; ++c) {
    double mean = 0;
    for (int64_t i = 0; i < 20; ++i) mean += before.pixels[static_cast<size_t>(3 * i + c)];
    mean /= 20;
    for (int64_t i = 0; i < 20; ++i) {
      const double v = (before.pixels[static_cast<size_t>(3 * i + c)] - mean) * 0.5 + mean;
      EXPECT_NEAR(img.pixels[static_cast<size_t>(3 * i + c)], v, 0.5 + 1e-4) << i;
    }
  }
}

TEST(ColourJitterTest, LeavesAlphaAlone) {
  Image img = noise_image(4, 4, 4, 15);
  const Image before = img;
  adjust_brightness_contrast(img, 3, 0.3f, 0.5f, 1.5f);
  for (int64_t i = 0; i < 16; ++i)
    EXPECT_EQ(img.pixels[static_cast<size_t>(4 * i + 3)],
              before.pixels[static_cast<size_t>(4 * i + 3)]);
}

TEST(ColourJitterTest, IsDeterministicPerSeedAndVariesAcrossSeeds) {
  const Image img = noise_image(8, 8, 3, 16);
  Image a = img, b = img, c = img;
  adjust_brightness_contrast(a, 1);
  adjust_brightness_contrast(b, 1);
  adjust_brightness_contrast(c, 2);
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_NE(a.pixels, c.pixels);
  EXPECT_NE(a.pixels, img.pixels);
  // Zero ranges change nothing.
  Image d = img;
  adjust_brightness_contrast(d, 5, 0.0f, 1.0f, 1.0f);
  EXPECT_EQ(d.pixels, img.pixels);
  EXPECT_THAT(
      error_message([&] { adjust_brightness_contrast(d, 1, -0.1f); }, ErrorCode::kInvalidArgument),
      HasSubstr("must be >= 0"));
}

}  // namespace
}  // namespace leantrain::data

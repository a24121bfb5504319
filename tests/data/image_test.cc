#include "leantrain/data/image.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"

namespace leantrain::data {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Runs `fn`, expecting an Error with `code`; returns its message ("" if none was thrown).
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

// A smooth image (gradients plus a little seeded noise, never all zeros): JPEG keeps such
// images close to the original.
Image smooth_image(int64_t h, int64_t w, int64_t c, uint64_t seed) {
  Rng rng(seed);
  Image img;
  img.height = h;
  img.width = w;
  img.channels = c;
  img.pixels.resize(static_cast<size_t>(h * w * c));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t k = 0; k < c; ++k)
        img.pixels[static_cast<size_t>((y * w + x) * c + k)] = static_cast<uint8_t>(
            20 + (x * 150) / w + (y * 60) / h + k * 10 + static_cast<int>(rng.below(5)));
  return img;
}

// Every byte independent: PNG must keep it exactly.
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

double mean_abs_diff(const Image& a, const Image& b) {
  EXPECT_EQ(a.pixels.size(), b.pixels.size());
  double sum = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(int{a.pixels[i]} - int{b.pixels[i]});
  return sum / static_cast<double>(a.pixels.size());
}

// ITU-R 601-2 luma, computed in floating point (the decoders use fixed point).
double luma(double r, double g, double b) { return 0.299 * r + 0.587 * g + 0.114 * b; }

// Rewrites the IHDR width and height of a PNG and fixes its CRC.
std::vector<uint8_t> with_png_size(std::vector<uint8_t> png, uint32_t width, uint32_t height) {
  // Signature (8), IHDR length (4), "IHDR" (4), width (4) at 16, height (4) at 20; CRC over
  // type and data (17 bytes) at 29.
  for (int i = 0; i < 4; ++i) {
    png[16 + i] = static_cast<uint8_t>(width >> (24 - 8 * i));
    png[20 + i] = static_cast<uint8_t>(height >> (24 - 8 * i));
  }
  const uLong crc = crc32(0, png.data() + 12, 17);
  for (int i = 0; i < 4; ++i) png[29 + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
  return png;
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("leantrain_image_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

TEST(SniffImageFormatTest, RecognizesMagicBytes) {
  const std::vector<uint8_t> jpeg = {0xff, 0xd8, 0xff, 0xe0};
  const std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0};
  const std::vector<uint8_t> bmp = {'B', 'M', 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(sniff_image_format(jpeg), ImageFormat::kJpeg);
  EXPECT_EQ(sniff_image_format(png), ImageFormat::kPng);
  EXPECT_EQ(sniff_image_format(bmp), ImageFormat::kUnknown);
  EXPECT_EQ(sniff_image_format(std::span<const uint8_t>(png.data(), 7)), ImageFormat::kUnknown);
  EXPECT_EQ(sniff_image_format({}), ImageFormat::kUnknown);
}

TEST(PngTest, RoundTripIsExactForGrayRgbAndRgba) {
  for (int64_t c : {1, 3, 4}) {
    const Image img = noise_image(13, 17, c, 40 + static_cast<uint64_t>(c));
    const std::vector<uint8_t> png = encode_png(img);
    ASSERT_EQ(sniff_image_format(png), ImageFormat::kPng);
    const Image back = decode_image(png, "x.png");
    ASSERT_EQ(back.height, 13);
    ASSERT_EQ(back.width, 17);
    if (c == 1) {
      ASSERT_EQ(back.channels, 1);
      EXPECT_EQ(back.pixels, img.pixels);
    } else {
      // Alpha is dropped: the RGB samples are kept exactly.
      ASSERT_EQ(back.channels, 3);
      for (int64_t i = 0; i < 13 * 17; ++i)
        for (int64_t k = 0; k < 3; ++k)
          ASSERT_EQ(back.pixels[static_cast<size_t>(i * 3 + k)],
                    img.pixels[static_cast<size_t>(i * c + k)])
              << "pixel " << i << " channel " << k;
    }
  }
}

TEST(PngTest, ConvertsChannelsOnRequest) {
  const Image rgba = noise_image(6, 5, 4, 7);
  const std::vector<uint8_t> png = encode_png(rgba);
  const Image gray = decode_image(png, "x.png", 1);
  ASSERT_EQ(gray.channels, 1);
  for (int64_t i = 0; i < 30; ++i) {
    const uint8_t* p = &rgba.pixels[static_cast<size_t>(4 * i)];
    EXPECT_NEAR(gray.pixels[static_cast<size_t>(i)], luma(p[0], p[1], p[2]), 0.51) << i;
  }
  const Image gray_src = noise_image(4, 3, 1, 8);
  const Image rgb = decode_image(encode_png(gray_src), "g.png", 3);
  ASSERT_EQ(rgb.channels, 3);
  for (int64_t i = 0; i < 12; ++i)
    for (int k = 0; k < 3; ++k)
      EXPECT_EQ(rgb.pixels[static_cast<size_t>(3 * i + k)],
                gray_src.pixels[static_cast<size_t>(i)]);
}

TEST(JpegTest, RoundTripIsClose) {
  const Image img = smooth_image(40, 56, 3, 3);
  const std::vector<uint8_t> jpeg = encode_jpeg(img, 95);
  ASSERT_EQ(sniff_image_format(jpeg), ImageFormat::kJpeg);
  const Image back = decode_image(jpeg, "x.jpg");
  ASSERT_EQ(back.height, 40);
  ASSERT_EQ(back.width, 56);
  ASSERT_EQ(back.channels, 3);
  EXPECT_LT(mean_abs_diff(back, img), 2.5);

  const Image gray = smooth_image(24, 24, 1, 4);
  const Image gray_back = decode_image(encode_jpeg(gray, 95), "g.jpg");
  ASSERT_EQ(gray_back.channels, 1);
  EXPECT_LT(mean_abs_diff(gray_back, gray), 2.0);

  // The fast DCT is a little less accurate but close.
  DecodeOptions fast;
  fast.fast_dct = true;
  EXPECT_LT(mean_abs_diff(decode_image(jpeg, "x.jpg", fast), img), 3.0);
}

TEST(JpegTest, GrayOutputIsLumaOfColour) {
  const Image img = smooth_image(16, 16, 3, 5);
  const std::vector<uint8_t> jpeg = encode_jpeg(img, 90);
  const Image rgb = decode_image(jpeg, "x.jpg", 3);
  const Image gray = decode_image(jpeg, "x.jpg", 1);
  ASSERT_EQ(gray.channels, 1);
  for (int64_t i = 0; i < 256; ++i) {
    const uint8_t* p = &rgb.pixels[static_cast<size_t>(3 * i)];
    // libjpeg returns the stored Y; the RGB it returns is rounded from Y, Cb, Cr.
    EXPECT_NEAR(gray.pixels[static_cast<size_t>(i)], luma(p[0], p[1], p[2]), 1.6) << i;
  }
}

TEST(JpegTest, ScaleNumeratorIsSmallestScaleCoveringTheMinimum) {
  // Scales s/8 with s in {1, 2, 4, 8}; 256 -> ceil(256 s / 8) = 32, 64, 128, 256.
  EXPECT_EQ(jpeg_scale_numerator(256, 256, 100, 100), 4);
  EXPECT_EQ(jpeg_scale_numerator(256, 256, 64, 64), 2);
  EXPECT_EQ(jpeg_scale_numerator(256, 256, 65, 64), 4);
  EXPECT_EQ(jpeg_scale_numerator(256, 256, 32, 0), 1);
  EXPECT_EQ(jpeg_scale_numerator(256, 256, 0, 0), 8);
  EXPECT_EQ(jpeg_scale_numerator(256, 256, 129, 1), 8);
  EXPECT_EQ(jpeg_scale_numerator(256, 256, 300, 300), 8);  // never upscales
  // 250 x 190 with min 63 x 48: s = 2 gives ceil(62.5) = 63 and ceil(47.5) = 48.
  EXPECT_EQ(jpeg_scale_numerator(250, 190, 63, 48), 2);
  EXPECT_EQ(jpeg_scale_numerator(250, 190, 64, 48), 4);
  // The width can be the binding side: 64 wide gives 8, 16, 32 at s = 1, 2, 4.
  EXPECT_EQ(jpeg_scale_numerator(256, 64, 10, 32), 4);
  EXPECT_EQ(jpeg_scale_numerator(256, 64, 10, 33), 8);
}

TEST(JpegTest, DecodesAtTheDctScaleForAMinimumSize) {
  const Image img = smooth_image(256, 256, 3, 6);
  const std::vector<uint8_t> jpeg = encode_jpeg(img, 92);
  const Image scaled = decode_image(jpeg, "x.jpg", 0, 100, 100);
  EXPECT_EQ(scaled.height, 128);
  EXPECT_EQ(scaled.width, 128);
  // The DCT-scaled decode is a good downscale: close to a box average of the full image.
  const Image reference = resize(decode_image(jpeg, "x.jpg"), 128, 128, Interpolation::kArea);
  EXPECT_LT(mean_abs_diff(scaled, reference), 2.0);

  const Image odd = smooth_image(250, 190, 3, 7);
  const Image odd_scaled = decode_image(encode_jpeg(odd, 90), "odd.jpg", 0, 63, 48);
  EXPECT_EQ(odd_scaled.height, 63);
  EXPECT_EQ(odd_scaled.width, 48);
}

TEST(JpegTest, PngIgnoresTheMinimumSize) {
  const Image img = noise_image(64, 64, 3, 9);
  const Image back = decode_image(encode_png(img), "x.png", 0, 8, 8);
  EXPECT_EQ(back.height, 64);
  EXPECT_EQ(back.pixels, img.pixels);
}

// Every proper prefix of a valid file is a truncated file: each must raise an Error naming the
// path, never crash or return an image.
void expect_every_prefix_fails(const std::vector<uint8_t>& bytes, const std::string& path,
                               size_t step) {
  for (size_t n = 0; n < bytes.size(); n += step) {
    const std::span<const uint8_t> prefix(bytes.data(), n);
    try {
      (void)decode_image(prefix, path);
      ADD_FAILURE() << "a " << n << "-byte prefix of " << bytes.size() << " decoded";
    } catch (const Error& e) {
      const ErrorCode expected = sniff_image_format(prefix) == ImageFormat::kUnknown
                                     ? ErrorCode::kUnimplemented
                                     : ErrorCode::kDataLoss;
      ASSERT_EQ(e.code(), expected) << n << ": " << e.what();
      ASSERT_THAT(e.what(), HasSubstr(path)) << n;
    }
  }
}

TEST(JpegTest, EveryTruncationIsAnErrorNamingThePath) {
  const std::vector<uint8_t> jpeg = encode_jpeg(smooth_image(24, 32, 3, 10), 80);
  expect_every_prefix_fails(jpeg, "data/cat/0042.jpg", 1);
  const std::string message =
      error_message([&] { decode_image(std::span(jpeg.data(), jpeg.size() - 40), "t.jpg"); },
                    ErrorCode::kDataLoss);
  EXPECT_THAT(message, AllOf(HasSubstr("t.jpg: truncated JPEG"), HasSubstr("on_error=skip")));
}

TEST(PngTest, EveryTruncationIsAnErrorNamingThePath) {
  for (int64_t c : {1, 3, 4}) {
    const std::vector<uint8_t> png = encode_png(noise_image(9, 11, c, 11));
    expect_every_prefix_fails(png, "data/dog/7.png", 1);
  }
}

// Flipped bytes anywhere either still decode to a well-formed image (damage inside the
// compressed data can be undetectable) or raise kDataLoss naming the path.
void expect_corruption_is_safe(const std::vector<uint8_t>& bytes, const std::string& path,
                               uint64_t seed) {
  Rng rng(seed);
  for (size_t offset = 0; offset < bytes.size(); ++offset) {
    std::vector<uint8_t> damaged = bytes;
    damaged[offset] ^= static_cast<uint8_t>(1 + rng.below(255));
    try {
      const Image img = decode_image(damaged, path);
      ASSERT_EQ(img.pixels.size(), static_cast<size_t>(img.size())) << offset;
      ASSERT_GT(img.height * img.width, 0) << offset;
    } catch (const Error& e) {
      ASSERT_TRUE(e.code() == ErrorCode::kDataLoss || e.code() == ErrorCode::kUnimplemented)
          << offset << ": " << e.what();
      ASSERT_THAT(e.what(), HasSubstr(path)) << offset;
    }
  }
}

TEST(JpegTest, CorruptBytesNeverCrash) {
  expect_corruption_is_safe(encode_jpeg(smooth_image(16, 24, 3, 12), 75), "c.jpg", 1);
  expect_corruption_is_safe(encode_jpeg(smooth_image(16, 8, 1, 13), 75), "g.jpg", 2);
}

TEST(PngTest, CorruptBytesNeverCrash) {
  expect_corruption_is_safe(encode_png(noise_image(7, 9, 3, 14)), "c.png", 3);
}

TEST(PngTest, CorruptCrcIsAnError) {
  std::vector<uint8_t> png = encode_png(noise_image(4, 4, 3, 15));
  png[29] ^= 0xff;  // the IHDR CRC
  EXPECT_THAT(error_message([&] { decode_image(png, "crc.png"); }, ErrorCode::kDataLoss),
              AllOf(HasSubstr("crc.png: corrupt PNG"), HasSubstr("CRC")));
}

TEST(PngTest, HugeHeaderWithLittleDataFailsWithoutAllocating) {
  // 60000 x 60000 RGB would be 10.8 GB; the file holds a few hundred bytes of pixel data.
  const std::vector<uint8_t> png =
      with_png_size(encode_png(noise_image(8, 8, 3, 16)), 60000, 60000);
  DecodeOptions options;
  options.max_pixels = int64_t{1} << 40;  // so the plausibility check is what refuses it
  EXPECT_THAT(error_message([&] { decode_image(png, "bomb.png", options); }, ErrorCode::kDataLoss),
              AllOf(HasSubstr("bomb.png: truncated or corrupt PNG"), HasSubstr("60000x60000")));
}

TEST(ImageDecodeTest, ImagesAboveThePixelLimitAreRefused) {
  DecodeOptions options;
  options.max_pixels = 100;
  const std::vector<uint8_t> jpeg = encode_jpeg(smooth_image(11, 10, 3, 17));
  EXPECT_THAT(error_message([&] { decode_image(jpeg, "big.jpg", options); }, ErrorCode::kDataLoss),
              AllOf(HasSubstr("big.jpg"), HasSubstr("10x11"), HasSubstr("max_pixels")));
  const std::vector<uint8_t> png = encode_png(noise_image(11, 10, 1, 18));
  EXPECT_THAT(error_message([&] { decode_image(png, "big.png", options); }, ErrorCode::kDataLoss),
              HasSubstr("limit of 100 pixels"));
  options.max_pixels = 110;
  EXPECT_EQ(decode_image(jpeg, "ok.jpg", options).height, 11);
}

TEST(ImageDecodeTest, UnsupportedFormatNamesWhatWasFoundAndWhatWorks) {
  const std::vector<uint8_t> bmp = {'B', 'M', 0x36, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_THAT(error_message([&] { decode_image(bmp, "a.bmp"); }, ErrorCode::kUnimplemented),
              AllOf(HasSubstr("a.bmp: not a JPEG or PNG"), HasSubstr("42 4d"), HasSubstr("BMP"),
                    HasSubstr("supported formats: JPEG, PNG")));
  const std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a'};
  EXPECT_THAT(error_message([&] { decode_image(gif, "a.gif"); }, ErrorCode::kUnimplemented),
              HasSubstr("GIF"));
  EXPECT_THAT(error_message([&] { decode_image({}, "empty.jpg"); }, ErrorCode::kUnimplemented),
              HasSubstr("empty file"));
}

TEST(ImageDecodeTest, RejectsUnsupportedChannelCounts) {
  const std::vector<uint8_t> png = encode_png(noise_image(2, 2, 3, 19));
  EXPECT_THAT(error_message([&] { decode_image(png, "x.png", 4); }, ErrorCode::kInvalidArgument),
              HasSubstr("pass 0 (as stored), 1 (gray) or 3 (RGB)"));
}

TEST(ImageDecodeTest, DecodeIntoReusesTheBuffer) {
  const std::vector<uint8_t> a = encode_jpeg(smooth_image(32, 32, 3, 20));
  const std::vector<uint8_t> b = encode_png(noise_image(32, 32, 3, 21));
  Image out;
  decode_image_into(a, "a.jpg", DecodeOptions{}, out);
  const uint8_t* buffer = out.pixels.data();
  decode_image_into(b, "b.png", DecodeOptions{}, out);
  EXPECT_EQ(out.pixels.data(), buffer);
  EXPECT_EQ(out.pixels, noise_image(32, 32, 3, 21).pixels);
  decode_image_into(a, "a.jpg", DecodeOptions{}, out);
  EXPECT_EQ(out.pixels.data(), buffer);
}

TEST(ImageDecodeTest, ReadsHeaderInfo) {
  const ImageInfo jpeg = read_image_info(encode_jpeg(smooth_image(21, 34, 3, 22)), "a.jpg");
  EXPECT_EQ(jpeg.format, ImageFormat::kJpeg);
  EXPECT_EQ(jpeg.height, 21);
  EXPECT_EQ(jpeg.width, 34);
  EXPECT_EQ(jpeg.channels, 3);
  const ImageInfo png = read_image_info(encode_png(noise_image(5, 6, 4, 23)), "a.png");
  EXPECT_EQ(png.format, ImageFormat::kPng);
  EXPECT_EQ(png.height, 5);
  EXPECT_EQ(png.width, 6);
  EXPECT_EQ(png.channels, 4);
}

TEST(ImageFileTest, ReadsImagesAndNamesMissingFiles) {
  TempDir dir;
  const Image img = noise_image(5, 7, 3, 24);
  write_file(dir.file("a.png"), encode_png(img));
  EXPECT_EQ(read_image(dir.file("a.png")).pixels, img.pixels);
  EXPECT_THAT(error_message([&] { read_image(dir.file("missing.png")); }, ErrorCode::kNotFound),
              HasSubstr("missing.png: no such file"));
  EXPECT_THAT(error_message([&] { read_file_bytes(dir.file("")); }, ErrorCode::kIo),
              HasSubstr("is a directory"));
}

TEST(ImageEncodeTest, RejectsWhatTheFormatCannotHold) {
  Image img = noise_image(2, 2, 4, 25);
  EXPECT_THAT(error_message([&] { encode_jpeg(img); }, ErrorCode::kInvalidArgument),
              HasSubstr("pass 1 or 3 channels"));
  img.channels = 3;
  EXPECT_THAT(error_message([&] { encode_png(img); }, ErrorCode::kInvalidArgument),
              HasSubstr("holds 16 bytes"));
  EXPECT_THAT(
      error_message([&] { encode_jpeg(noise_image(2, 2, 3, 1), 0); }, ErrorCode::kInvalidArgument),
      HasSubstr("quality 0"));
}

// --- decode_resize_to_float ------------------------------------------------------------------

TEST(DecodeResizeTest, PngMatchesDecodeThenResize) {
  const Image img = noise_image(20, 30, 3, 26);
  const std::vector<uint8_t> png = encode_png(img);
  DecodeResizeOptions options;
  options.height = 8;
  options.width = 9;
  options.affine = PixelAffine::rescale(1.0f / 255);
  std::vector<float> fused(8 * 9 * 3), expected(8 * 9 * 3);
  Image scratch;
  decode_resize_to_float(png, "x.png", options, fused.data(), scratch);
  resize_to_float(img, CropWindow{}, 8, 9, expected.data(), PixelAffine::rescale(1.0f / 255));
  EXPECT_EQ(fused, expected);
}

TEST(DecodeResizeTest, JpegDecodesAtTheScaleTheTargetAllows) {
  // 256x256 -> 64x64: DCT scale 2/8 gives exactly 64x64, so the resize is the identity and the
  // floats are the scaled decode's pixels.
  const std::vector<uint8_t> jpeg = encode_jpeg(smooth_image(256, 256, 3, 27), 90);
  DecodeResizeOptions options;
  options.height = 64;
  options.width = 64;
  std::vector<float> fused(64 * 64 * 3);
  Image scratch;
  decode_resize_to_float(jpeg, "x.jpg", options, fused.data(), scratch);
  EXPECT_EQ(scratch.height, 64);
  const Image scaled = decode_image(jpeg, "x.jpg", 0, 64, 64);
  ASSERT_EQ(scaled.height, 64);
  for (size_t i = 0; i < fused.size(); ++i) ASSERT_EQ(fused[i], scaled.pixels[i]) << i;

  // Without DCT scaling: the full decode resized, close to the scaled path.
  options.dct_scaling = false;
  std::vector<float> full(64 * 64 * 3);
  decode_resize_to_float(jpeg, "x.jpg", options, full.data(), scratch);
  EXPECT_EQ(scratch.height, 256);
  double diff = 0;
  for (size_t i = 0; i < full.size(); ++i) diff += std::abs(full[i] - fused[i]);
  EXPECT_LT(diff / static_cast<double>(full.size()), 2.0);
}

TEST(DecodeResizeTest, CropWindowIsChosenOnTheFullSizeImage) {
  // A 200x100 JPEG, aspect-ratio crop to a 20x20 target: the centered 100x100 window
  // (rows 50..149). DCT scale 1/8 still covers 20x20 (window 12.5 < 20, so 2/8: 25 >= 20).
  const Image img = smooth_image(200, 100, 3, 28);
  const std::vector<uint8_t> jpeg = encode_jpeg(img, 95);
  DecodeResizeOptions options;
  options.height = 20;
  options.width = 20;
  options.crop = CropMode::kAspectRatio;
  std::vector<float> fused(20 * 20 * 3);
  Image scratch;
  decode_resize_to_float(jpeg, "x.jpg", options, fused.data(), scratch);
  EXPECT_EQ(scratch.height, 50);  // 2/8 of 200
  EXPECT_EQ(scratch.width, 25);
  // Reference: full decode, Keras' crop_to_aspect_ratio, resize.
  const Image reference = resize(crop_to_aspect_ratio(decode_image(jpeg, "x.jpg"), 20, 20), 20, 20);
  double diff = 0;
  for (size_t i = 0; i < fused.size(); ++i) diff += std::abs(fused[i] - reference.pixels[i]);
  EXPECT_LT(diff / static_cast<double>(fused.size()), 3.0);
}

TEST(DecodeResizeTest, FlipAndNormalizeAreApplied) {
  const Image img = noise_image(6, 5, 3, 29);
  const std::vector<uint8_t> png = encode_png(img);
  const float mean[3] = {0.5f, 0.4f, 0.3f}, stddev[3] = {0.2f, 0.25f, 0.5f};
  DecodeResizeOptions options;
  options.height = 6;
  options.width = 5;
  options.flip = true;
  options.affine = PixelAffine::normalize(mean, stddev);
  std::vector<float> out(6 * 5 * 3);
  Image scratch;
  decode_resize_to_float(png, "x.png", options, out.data(), scratch);
  for (int64_t y = 0; y < 6; ++y)
    for (int64_t x = 0; x < 5; ++x)
      for (int64_t c = 0; c < 3; ++c) {
        const float expected = (img.at(y, 4 - x, c) / 255.0f - mean[c]) / stddev[c];
        ASSERT_NEAR(out[static_cast<size_t>((y * 5 + x) * 3 + c)], expected, 1e-5)
            << y << "," << x << "," << c;
      }
}

TEST(DecodeResizeTest, ErrorsNameThePath) {
  DecodeResizeOptions options;
  options.height = 4;
  options.width = 4;
  std::vector<float> out(4 * 4 * 3);
  Image scratch;
  const std::vector<uint8_t> jpeg = encode_jpeg(smooth_image(16, 16, 3, 30));
  EXPECT_THAT(error_message(
                  [&] {
                    decode_resize_to_float(std::span(jpeg.data(), jpeg.size() / 2), "half.jpg",
                                           options, out.data(), scratch);
                  },
                  ErrorCode::kDataLoss),
              HasSubstr("half.jpg: truncated JPEG"));
  options.channels = 2;
  EXPECT_THAT(
      error_message([&] { decode_resize_to_float(jpeg, "x.jpg", options, out.data(), scratch); },
                    ErrorCode::kInvalidArgument),
      HasSubstr("1 or 3 channels"));
}

}  // namespace
}  // namespace leantrain::data

#include "leantrain/data/sources.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "data/dataset_testing.h"
#include "data/idx_files.h"
#include "leantrain/data/image.h"
#include "leantrain/data/tfrecord.h"

namespace leantrain::data {
namespace {

using testing::TempDir;
using testing::with_timeout;

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// An h x w image with `channels` whose sample (y, x, c) is (base + 16 y + 4 x + c) % 256.
Image pattern(int64_t h, int64_t w, int64_t channels, int base) {
  Image img;
  img.height = h;
  img.width = w;
  img.channels = channels;
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      for (int64_t c = 0; c < channels; ++c) {
        img.pixels.push_back(static_cast<uint8_t>((base + 16 * y + 4 * x + c) % 256));
      }
    }
  }
  return img;
}

std::vector<float> floats_of(const Tensor& t) {
  return std::vector<float>(t.as<float>(), t.as<float>() + t.num_elements());
}

std::vector<float> as_floats(const Image& img) {
  return std::vector<float>(img.pixels.begin(), img.pixels.end());
}

TEST(IdxDatasetTest, YieldsImageViewsAndLabels) {
  TempDir dir;
  std::vector<uint8_t> pixels;
  for (int i = 0; i < 3 * 2 * 2; ++i) pixels.push_back(static_cast<uint8_t>(7 * i + 1));
  testing::write_plain(dir.file("img"), testing::idx_bytes(0x08, {3, 2, 2}, pixels));
  testing::write_plain(dir.file("lab"), testing::idx_bytes(0x08, {3}, {4, 0, 9}));
  Dataset ds = idx_dataset(dir.file("img"), dir.file("lab"));
  EXPECT_EQ(ds.cardinality(), 3);
  std::vector<float> images(2 * 4, -1);
  std::vector<int32_t> labels(2, -1);
  Iterator it = ds.batch(2).iterate(0);
  const BatchDestination dst{{"image", TensorView(images.data(), Shape{2, 2, 2, 1})},
                             {"label", TensorView(labels.data(), Shape{2})}};
  ASSERT_EQ(it.next_batch_into(dst), 2);
  for (int k = 0; k < 8; ++k) EXPECT_EQ(images[static_cast<size_t>(k)], 7.0f * k + 1);
  EXPECT_EQ(labels, (std::vector<int32_t>{4, 0}));
  ASSERT_EQ(it.next_batch_into(dst), 1);
  EXPECT_EQ(images[0], 7.0f * 8 + 1);
  EXPECT_EQ(labels[0], 9);
  EXPECT_EQ(it.next_batch_into(dst), 0);
}

TEST(ScaleImageToUnitTest, GivesTheBatchersPixelsAndKeepsTheLabel) {
  LabeledImages images;
  images.count = 1;
  images.height = 2;
  images.width = 2;
  images.channels = 1;
  images.num_classes = 3;
  images.pixels = {0, 1, 128, 255};
  images.labels = {2};
  Iterator it = labeled_images_dataset(images).map(scale_image_to_unit).iterate(0);
  const std::optional<Element> e = it.next();
  ASSERT_TRUE(e.has_value());
  const Tensor& image = e->at("image");
  ASSERT_EQ(image.dtype(), DType::kF32);
  EXPECT_EQ(image.shape(), (Shape{2, 2, 1}));
  for (int i = 0; i < 4; ++i) {
    // Bit for bit the Batcher's p * (1.0f / 255.0f).
    EXPECT_EQ(image.as<float>()[i], images.pixels[static_cast<size_t>(i)] * (1.0f / 255.0f)) << i;
  }
  EXPECT_EQ(e->at("label").as<int32_t>()[0], 2);
  Element f32_image;
  f32_image.set("image", Tensor::uninitialized(DType::kF32, Shape{1}));
  EXPECT_THROW(scale_image_to_unit(f32_image), Error);
}

// `count` 1x2 grayscale images whose pixels are (2i, 2i + 1) and whose label is i.
LabeledImages numbered_pairs(int64_t count) {
  LabeledImages images;
  images.count = count;
  images.height = 1;
  images.width = 2;
  images.channels = 1;
  images.num_classes = static_cast<int32_t>(count);
  for (int64_t i = 0; i < count; ++i) {
    images.pixels.push_back(static_cast<uint8_t>(2 * i));
    images.pixels.push_back(static_cast<uint8_t>(2 * i + 1));
    images.labels.push_back(static_cast<int32_t>(i));
  }
  return images;
}

TEST(SplitValidationTailTest, HoldsOutTheLastImages) {
  const TrainTest split = split_validation_tail(numbered_pairs(5), 0.4);
  EXPECT_EQ(split.train.count, 3);
  EXPECT_EQ(split.test.count, 2);
  EXPECT_EQ(split.train.labels, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(split.test.labels, (std::vector<int32_t>{3, 4}));
  EXPECT_EQ(split.test.pixels, (std::vector<uint8_t>{6, 7, 8, 9}));
  EXPECT_EQ(split.test.num_classes, 5);
  EXPECT_THROW(split_validation_tail(numbered_pairs(5), 0.1), Error);  // holds out nothing
}

TEST(RandomlyFlippedImagesTest, ScalesEveryImageAndFlipsSomeDeterministically) {
  const LabeledImages images = numbered_pairs(40);
  const Dataset ds = randomly_flipped_images(images, 8, 3, 2);
  auto pixels_by_label = [&] {
    std::vector<std::pair<float, float>> out(40);
    Iterator it = ds.iterate(0);
    while (std::optional<Element> e = it.next()) {
      const Tensor& x = e->at("image");
      for (int64_t r = 0; r < x.shape()[0]; ++r) {
        const int32_t label = e->at("label").as<int32_t>()[r];
        out[static_cast<size_t>(label)] = {x.as<float>()[2 * r], x.as<float>()[2 * r + 1]};
      }
    }
    return out;
  };
  const auto first = pixels_by_label();
  int flipped = 0;
  for (int i = 0; i < 40; ++i) {
    const float a = static_cast<float>(2 * i) * (1.0f / 255.0f);
    const float b = static_cast<float>(2 * i + 1) * (1.0f / 255.0f);
    const auto [left, right] = first[static_cast<size_t>(i)];
    EXPECT_TRUE((left == a && right == b) || (left == b && right == a)) << i;
    flipped += left == b;
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 40);
  EXPECT_EQ(pixels_by_label(), first);
}

TEST(CsvDatasetTest, ReadsPathsAndLabelsWithHeaderAndQuotes) {
  TempDir dir;
  write_text(dir.file("list.csv"),
             "path,label\n"
             "a.png,0\r\n"
             "\n"
             "\"with, comma.png\",2\n"
             "/abs/b.jpg, 1 ,extra\n"
             "\"say \"\"hi\"\".png\",3\n");
  Iterator it = csv_dataset(dir.file("list.csv")).iterate(0);
  std::vector<std::pair<std::string, int32_t>> rows;
  while (auto e = it.next()) {
    EXPECT_EQ(e->describe(), "{label: i32 (), path: string[1]}");
    rows.emplace_back(e->string("path"), e->at("label").as<int32_t>()[0]);
  }
  const std::vector<std::pair<std::string, int32_t>> expected = {{dir.file("a.png"), 0},
                                                                 {dir.file("with, comma.png"), 2},
                                                                 {"/abs/b.jpg", 1},
                                                                 {dir.file("say \"hi\".png"), 3}};
  EXPECT_EQ(rows, expected);
  EXPECT_EQ(csv_dataset(dir.file("list.csv"), {.root = "/data"}).cardinality(), 4);
}

TEST(CsvDatasetTest, ABadLabelIsRaisedWithItsLineOrSkippedAndCounted) {
  TempDir dir;
  const std::string csv = dir.file("l.csv");
  write_text(csv, "a.png,0\nb.png,cat\nc.png,7\nd.png\ne.png,1\n");
  Iterator strict = csv_dataset(csv).iterate(0);
  EXPECT_TRUE(strict.next());
  try {
    strict.next();
    FAIL() << "expected a bad label error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(csv + ":2: bad label 'cat' for "), std::string::npos)
        << e.what();
  }
  Dataset lenient = csv_dataset(csv, {.num_classes = 5, .on_error = OnError::kSkip});
  EXPECT_EQ(lenient.cardinality(), kUnknownCardinality);
  Iterator it = lenient.iterate(0);
  std::vector<int32_t> labels;
  while (auto e = it.next()) labels.push_back(e->at("label").as<int32_t>()[0]);
  EXPECT_EQ(labels, (std::vector<int32_t>{0, 1}));
  const PipelineStats stats = it.stats();
  EXPECT_EQ(stats.skipped, 3);
  ASSERT_EQ(stats.skipped_reasons.size(), 3u);
  EXPECT_NE(stats.skipped_reasons[1].find(csv + ":3: label 7 for "), std::string::npos);
  EXPECT_NE(stats.skipped_reasons[1].find("out of range [0, 5)"), std::string::npos);
  EXPECT_NE(stats.skipped_reasons[2].find(csv + ":4: no label field"), std::string::npos);
  EXPECT_THROW(csv_dataset(dir.file("missing.csv")), Error);
}

std::vector<uint8_t> bytes_of(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::string record_text(const Element& e) {
  const Tensor& r = e.at("record");
  return std::string(r.as<uint8_t>(), r.as<uint8_t>() + r.num_elements());
}

TEST(TfRecordDatasetTest, ReadsFilesInOrderOrInterleaved) {
  TempDir dir;
  for (int f = 0; f < 2; ++f) {
    TfRecordWriter writer(dir.file("f" + std::to_string(f) + ".tfrecord"));
    for (int r = 0; r < 3 - f; ++r)
      writer.write(bytes_of("f" + std::to_string(f) + "r" + std::to_string(r)));
    writer.close();
  }
  const std::vector<std::string> files = {dir.file("f0.tfrecord"), dir.file("f1.tfrecord")};
  auto records = [](const Dataset& ds) {
    std::vector<std::string> out;
    Iterator it = ds.iterate(0);
    while (auto e = it.next()) out.push_back(record_text(*e));
    return out;
  };
  with_timeout(60, [&] {
    EXPECT_EQ(records(tfrecord_dataset(files)),
              (std::vector<std::string>{"f0r0", "f0r1", "f0r2", "f1r0", "f1r1"}));
    EXPECT_EQ(records(tfrecord_dataset(files, 2)),
              (std::vector<std::string>{"f0r0", "f1r0", "f0r1", "f1r1", "f0r2"}));
  });
  Iterator it = tfrecord_dataset(files).iterate(0);
  EXPECT_EQ(it.next()->string("path"), files[0]);
}

// Without shuffle, the records of two files come whole file after whole file, in order (the
// labels 0..19 say where each came from), scaled and batched as with shuffle; with shuffle
// (the training default) the same records come in another order.
TEST(TfRecordImagesTest, WithoutShuffleRecordsComeInFileOrder) {
  TempDir dir;
  std::vector<std::string> files;
  for (int f = 0; f < 2; ++f) {
    files.push_back(dir.file("f" + std::to_string(f) + ".tfrecord"));
    TfRecordWriter writer(files.back());
    for (int r = 0; r < 10; ++r) {
      const std::vector<uint8_t> png = encode_png(pattern(4, 4, 1, 10 * f + r));
      writer.write(serialize_example({{"image/encoded", bytes_feature({png})},
                                      {"image/class/label", int64_feature({10 * f + r})}}));
    }
    writer.close();
  }
  ExampleImageOptions example;
  example.image.color_mode = "grayscale";
  example.image.image_size = {4, 4};
  auto labels_and_first_pixels = [&](bool shuffle) {
    std::vector<int32_t> labels;
    std::vector<float> first_pixels;
    Iterator it = tfrecord_images(files, example, {.batch_size = 8, .seed = 3, .shuffle = shuffle})
                      .iterate(0);
    while (auto e = it.next()) {
      const Tensor& l = e->at("label");
      const Tensor& image = e->at("image");
      for (int64_t i = 0; i < l.num_elements(); ++i) {
        labels.push_back(l.as<int32_t>()[i]);
        first_pixels.push_back(image.as<float>()[i * 16]);
      }
    }
    return std::pair(labels, first_pixels);
  };
  with_timeout(60, [&] {
    const auto [labels, first_pixels] = labels_and_first_pixels(false);
    std::vector<int32_t> in_order(20);
    for (int32_t i = 0; i < 20; ++i) in_order[static_cast<size_t>(i)] = i;
    EXPECT_EQ(labels, in_order);
    for (int32_t i = 0; i < 20; ++i) {
      EXPECT_FLOAT_EQ(first_pixels[static_cast<size_t>(i)], static_cast<float>(i) / 255.0f) << i;
    }
    const auto [shuffled, pixels] = labels_and_first_pixels(true);
    EXPECT_NE(shuffled, in_order);
    EXPECT_TRUE(std::is_permutation(shuffled.begin(), shuffled.end(), in_order.begin()));
  });
}

TEST(TfRecordDatasetTest, ACorruptRecordNamesTheFile) {
  TempDir dir;
  std::vector<uint8_t> data = frame_tfrecord(bytes_of("first"));
  std::vector<uint8_t> second = frame_tfrecord(bytes_of("second"));
  second[14] ^= 0x40;  // a byte of the second record's data
  data.insert(data.end(), second.begin(), second.end());
  write_file(dir.file("bad.tfrecord"), data);
  Iterator it = tfrecord_dataset({dir.file("bad.tfrecord")}, 1).iterate(0);
  EXPECT_EQ(record_text(*it.next()), "first");
  try {
    it.next();
    FAIL() << "expected a CRC error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
    EXPECT_NE(std::string(e.what()).find("bad.tfrecord"), std::string::npos) << e.what();
  }
}

TEST(LoadImageTest, SameSizeDecodeGivesThePixelsAsFloats) {
  TempDir dir;
  const Image rgb = pattern(3, 5, 3, 10);
  write_file(dir.file("a.png"), encode_png(rgb));
  Element e;
  e.set_string("path", dir.file("a.png"));
  const Element out = load_image({.image_size = {3, 5}})(e, ElementContext{});
  EXPECT_FALSE(out.has_string("path"));
  EXPECT_EQ(out.at("image").shape(), (Shape{3, 5, 3}));
  EXPECT_EQ(floats_of(out.at("image")), as_floats(rgb));

  const Element rgba = load_image({.color_mode = "rgba", .image_size = {3, 5}})(e, {});
  const std::vector<float> v = floats_of(rgba.at("image"));
  ASSERT_EQ(v.size(), 3u * 5 * 4);
  for (size_t p = 0; p < 15; ++p) {
    EXPECT_EQ(v[p * 4 + 0], rgb.pixels[p * 3 + 0]);
    EXPECT_EQ(v[p * 4 + 3], 255.0f);
  }
  const Element gray = load_image({.color_mode = "grayscale", .image_size = {3, 5}})(e, {});
  EXPECT_EQ(gray.at("image").shape(), (Shape{3, 5, 1}));
}

TEST(LoadImageTest, AreaShrinkAveragesBlocks) {
  TempDir dir;
  const Image gray = pattern(4, 4, 1, 0);  // sample (y, x) = 16 y + 4 x
  write_file(dir.file("g.png"), encode_png(gray));
  Element e;
  e.set_string("path", dir.file("g.png"));
  const Element out =
      load_image({.color_mode = "grayscale", .image_size = {2, 2}, .interpolation = "area"})(e, {});
  // Each output is the mean of a 2x2 block: 16 (2i + 0.5) + 4 (2j + 0.5).
  std::vector<float> expected;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 2; ++j) expected.push_back(16.0f * (2 * i + 0.5f) + 4.0f * (2 * j + 0.5f));
  }
  EXPECT_EQ(floats_of(out.at("image")), expected);
}

TEST(LoadImageTest, ErrorsNameTheFileAndSkipCountsThem) {
  TempDir dir;
  write_file(dir.file("good.png"), encode_png(pattern(2, 2, 3, 1)));
  write_text(dir.file("bad.png"), "not an image at all");
  Element columns;
  columns.set_strings("path", {dir.file("good.png"), dir.file("bad.png"), dir.file("gone.png")});
  const ImageLoadOptions load{.image_size = {2, 2}};
  Iterator strict = Dataset::from_tensor_slices(columns)
                        .map(load_image(load), {.num_parallel_calls = 2})
                        .iterate(0);
  EXPECT_TRUE(strict.next());
  try {
    strict.next();
    FAIL() << "expected a decode error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("bad.png")), std::string::npos) << e.what();
  }
  Iterator lenient =
      Dataset::from_tensor_slices(columns)
          .map(load_image(load), {.num_parallel_calls = 2, .on_error = OnError::kSkip})
          .iterate(0);
  int64_t n = 0;
  while (lenient.next()) ++n;
  EXPECT_EQ(n, 1);
  const PipelineStats stats = lenient.stats();
  EXPECT_EQ(stats.skipped, 2);
  EXPECT_NE(stats.skipped_reasons[1].find("gone.png"), std::string::npos);
  EXPECT_THROW(load_image({.color_mode = "cmyk"}), Error);
  EXPECT_THROW(load_image({.interpolation = "bicubic"}), Error);
}

TEST(DecodeExampleImageTest, ReadsTheImageAndLabelOfAnExample) {
  TempDir dir;
  const Image rgb = pattern(2, 3, 3, 5);
  const std::vector<uint8_t> png = encode_png(rgb);
  const std::vector<uint8_t> example =
      serialize_example({{"image/encoded", bytes_feature({std::span<const uint8_t>(png)})},
                         {"image/class/label", int64_feature({7})}});
  {
    TfRecordWriter writer(dir.file("x.tfrecord"));
    writer.write(example);
    writer.close();
  }
  Dataset ds =
      tfrecord_dataset({dir.file("x.tfrecord")})
          .map(decode_example_image({.image = {.image_size = {2, 3}}, .label_offset = -1}));
  Iterator it = ds.iterate(0);
  auto e = it.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->at("label").as<int32_t>()[0], 6);
  EXPECT_EQ(floats_of(e->at("image")), as_floats(rgb));
  EXPECT_FALSE(e->has("record"));
  EXPECT_FALSE(it.next());
}

TEST(RandomFlipMapTest, MirrorsAboutHalfTheElementsDeterministically) {
  Element columns{
      {"image", Tensor::from_vector(std::vector<uint8_t>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3},
                                    Shape{4, 1, 3, 1})}};
  Dataset ds =
      Dataset::from_tensor_slices(columns).repeat(50).map(random_flip_left_right(), {.seed = 4});
  auto run = [&] {
    std::vector<int> flipped;
    Iterator it = ds.iterate(0);
    while (auto e = it.next()) {
      const uint8_t* p = e->at("image").as<uint8_t>();
      EXPECT_TRUE((p[0] == 1 && p[2] == 3) || (p[0] == 3 && p[1] == 2 && p[2] == 1));
      flipped.push_back(p[0] == 3);
    }
    return flipped;
  };
  const std::vector<int> a = run();
  EXPECT_EQ(a, run());
  const auto count = std::count(a.begin(), a.end(), 1);
  EXPECT_GT(count, 60);
  EXPECT_LT(count, 140);
  // The source array is never written: its first row still reads 1, 2, 3.
  EXPECT_EQ(columns.at("image").as<uint8_t>()[0], 1);
}

}  // namespace
}  // namespace leantrain::data

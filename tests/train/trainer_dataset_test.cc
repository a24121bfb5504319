// Trainer::fit / evaluate / plan over a data::Dataset.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "leantrain/core/error.h"
#include "leantrain/data/dataset.h"
#include "leantrain/data/directory_dataset.h"
#include "leantrain/data/image.h"
#include "leantrain/data/sources.h"
#include "leantrain/train/trainer.h"
#include "train/quadrant_images.h"

namespace leantrain::train {
namespace {

nn::Sequential small_cnn() {
  return nn::Sequential(
      Shape{12, 12, 1},
      {nn::Conv2D({.filters = 4, .kernel_size = 3, .activation = "relu"}), nn::MaxPooling2D(),
       nn::Flatten(), nn::Dense({.units = 16, .activation = "relu"}),
       nn::Dropout({.rate = 0.25f, .seed = 5}), nn::Dense({.units = 4})});
}

data::Dataset as_dataset(const data::LabeledImages& images, int64_t batch_size) {
  return data::labeled_images_dataset(images)
      .map(data::scale_image_to_unit)
      .batch(batch_size)
      .prefetch(2);
}

std::vector<float> flat_weights(const Trainer& t) {
  std::vector<float> out;
  for (const std::vector<float>& w : t.get_weights()) out.insert(out.end(), w.begin(), w.end());
  return out;
}

TEST(TrainerDatasetTest, PredictOnADatasetEqualsPredictOnTheSameImagesBitwiseInOrder) {
  // 100 = 3 x 32 + 4: the last, smaller batch runs in its own program.
  const data::LabeledImages images = quadrant_images(100, 4);
  Trainer t(small_cnn(), {.optimizer = Adam({.learning_rate = 0.01f}), .seed = 3});
  std::ostringstream out;
  t.fit(quadrant_images(64, 5), {.epochs = 1, .batch_size = 32, .out = &out});
  const std::vector<float> from_images = t.predict(images, 32);
  const std::vector<float> from_dataset = t.predict(as_dataset(images, 32));
  ASSERT_EQ(from_images.size(), 100u * 4);
  ASSERT_EQ(from_dataset.size(), from_images.size());
  EXPECT_EQ(std::memcmp(from_dataset.data(), from_images.data(), from_images.size() * 4), 0);
  // Not all rows alike: each row is its own image's (the order is the data's).
  EXPECT_NE(std::memcmp(from_images.data(), from_images.data() + 4, 4 * 4), 0);
}

TEST(TrainerDatasetTest, EvaluateCountsTheExamplesItRead) {
  const data::LabeledImages images = quadrant_images(100, 6);
  Trainer t(small_cnn(), {.optimizer = Adam({.learning_rate = 0.01f}), .seed = 3});
  const EvalResult a = t.evaluate(images, 32);
  const EvalResult b = t.evaluate(as_dataset(images, 32));
  EXPECT_EQ(a.examples, 100);
  EXPECT_EQ(b.examples, 100);
  EXPECT_EQ(a.loss(), b.loss());
}

TEST(TrainerDatasetTest, FitOnADatasetEqualsFitOnTheSameImagesBitwise) {
  // 100 = 3 x 32 + 4: the last, smaller batch goes through the copy into its own program.
  const data::LabeledImages train = quadrant_images(100, 1), test = quadrant_images(40, 2);
  const CompileOptions compile{.optimizer = Adam({.learning_rate = 0.01f}), .seed = 3};
  Trainer from_images(small_cnn(), compile);
  Trainer from_dataset(small_cnn(), compile);
  std::ostringstream out_a, out_b;
  const History a = from_images.fit(train, {.epochs = 2,
                                            .batch_size = 32,
                                            .shuffle = false,
                                            .validation_data = test.view(),
                                            .out = &out_a});
  const data::Dataset val = as_dataset(test, 32);
  const History b = from_dataset.fit(as_dataset(train, 32),
                                     {.epochs = 2, .validation_dataset = &val, .out = &out_b});
  ASSERT_EQ(a.epochs.size(), 2u);
  ASSERT_EQ(b.epochs.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    for (const char* key : {"loss", "accuracy", "val_loss", "val_accuracy"}) {
      EXPECT_EQ(a.epochs[e].get(key), b.epochs[e].get(key)) << key << " epoch " << e;
    }
  }
  EXPECT_EQ(from_images.iterations(), 8);
  EXPECT_EQ(from_dataset.iterations(), 8);
  const std::vector<float> wa = flat_weights(from_images), wb = flat_weights(from_dataset);
  ASSERT_EQ(wa.size(), wb.size());
  EXPECT_EQ(std::memcmp(wa.data(), wb.data(), wa.size() * sizeof(float)), 0);
  EXPECT_NE(out_b.str().find("4/4 ━━━━━━━━━━━━━━━━━━━━"), std::string::npos) << out_b.str();

  const EvalResult ra = from_images.evaluate(test, 16),
                   rb = from_dataset.evaluate(as_dataset(test, 16));
  EXPECT_EQ(ra.logs, rb.logs);
}

TEST(TrainerDatasetTest, ShuffledAugmentedDatasetLearnsAndIsDeterministic) {
  const data::LabeledImages train = quadrant_images(320, 4), test = quadrant_images(100, 5);
  auto run = [&](int64_t workers) {
    // A flip moves the blob to the other column: labels follow (0<->1, 2<->3).
    auto flip_with_label = [](data::Element e, const data::ElementContext& ctx) {
      if (ctx.rng().below(2) == 0) return e;
      data::Tensor& image = e.at("image");
      float* p = image.mutable_as<float>();
      for (int64_t y = 0; y < 12; ++y) std::reverse(p + y * 12, p + y * 12 + 12);
      int32_t* label = e.at("label").mutable_as<int32_t>();
      *label ^= 1;
      return e;
    };
    const data::Dataset ds = data::labeled_images_dataset(train)
                                 .shuffle(128, 7)
                                 .map(data::scale_image_to_unit)
                                 .map(flip_with_label, {.num_parallel_calls = workers, .seed = 9})
                                 .batch(32)
                                 .prefetch(data::kAutotune);
    Trainer t(small_cnn(), {.optimizer = Adam({.learning_rate = 0.01f}), .seed = 3});
    std::ostringstream out;
    const data::Dataset val = as_dataset(test, 50);
    const History h = t.fit(ds, {.epochs = 4, .validation_dataset = &val, .out = &out});
    return std::make_pair(h, flat_weights(t));
  };
  const auto [h1, w1] = run(1);
  const auto [h2, w2] = run(2);
  EXPECT_GT(h1.epochs.back().get("val_accuracy"), 0.9);
  EXPECT_LT(h1.epochs.back().get("loss"), h1.epochs.front().get("loss"));
  ASSERT_EQ(w1.size(), w2.size());
  EXPECT_EQ(std::memcmp(w1.data(), w2.data(), w1.size() * sizeof(float)), 0);
}

TEST(TrainerDatasetTest, UnknownLengthShowsUnknownAndStepsPerEpochBoundsIt) {
  const data::LabeledImages train = quadrant_images(96, 1);
  const data::Dataset ds = data::labeled_images_dataset(train)
                               .filter([](const data::Element&) { return true; })
                               .map(data::scale_image_to_unit)
                               .batch(32);
  ASSERT_EQ(ds.cardinality(), data::kUnknownCardinality);
  Trainer t(small_cnn(), {.seed = 3});
  std::ostringstream out;
  t.fit(ds, {.epochs = 1, .out = &out});
  EXPECT_EQ(t.iterations(), 3);
  EXPECT_NE(out.str().find("      3/Unknown"), std::string::npos) << out.str();
  // A repeated (infinite) dataset: each epoch stops after steps_per_epoch.
  Trainer r(small_cnn(), {.seed = 3});
  std::ostringstream out2;
  r.fit(as_dataset(train, 32).repeat(), {.epochs = 2, .steps_per_epoch = 5, .out = &out2});
  EXPECT_EQ(r.iterations(), 10);
  EXPECT_NE(out2.str().find("5/5 ━"), std::string::npos) << out2.str();
}

TEST(TrainerDatasetTest, BadDatasetsAreRefusedWithClearErrors) {
  const data::LabeledImages train = quadrant_images(64, 1);
  Trainer t(small_cnn(), {.seed = 3});
  std::ostringstream out;
  // Not batched.
  try {
    t.fit(data::labeled_images_dataset(train).map(data::scale_image_to_unit), {.out = &out});
    FAIL() << "an unbatched dataset was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("must yield batches"), std::string::npos) << e.what();
  }
  // A label the 4-unit output cannot hold.
  data::LabeledImages bad = train;
  bad.labels[37] = 7;
  bad.num_classes = 8;
  try {
    t.fit(as_dataset(bad, 16), {.out = &out});
    FAIL() << "label 7 was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("label 7"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[0, 4)"), std::string::npos) << e.what();
  }
  // Images of another size than the model's input.
  try {
    t.evaluate(as_dataset(quadrant_images(8, 1), 8).map([](data::Element e) {
      e.set("image", data::Tensor(DType::kF32, Shape{8, 10, 10, 1}));
      return e;
    }));
    FAIL() << "10x10 images were accepted by a 12x12 model";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("image"), std::string::npos) << e.what();
  }
  // Both kinds of validation data at once.
  const data::Dataset val = as_dataset(train, 16);
  EXPECT_THROW(t.fit(as_dataset(train, 16),
                     {.validation_data = train.view(), .validation_dataset = &val, .out = &out}),
               Error);
}

TEST(TrainerDatasetTest, SkippedBadElementsAreCountedAndReportedEachEpoch) {
  const data::LabeledImages train = quadrant_images(64, 1);
  // Every 16th element fails to "decode"; with OnError::kSkip it is dropped, not trained on.
  const data::Dataset ds =
      data::labeled_images_dataset(train)
          .map(
              [](data::Element e, const data::ElementContext& ctx) {
                if (ctx.index % 16 == 0) {
                  throw Error(ErrorCode::kDataLoss,
                              "image " + std::to_string(ctx.index) + ": truncated");
                }
                return data::scale_image_to_unit(std::move(e));
              },
              {.on_error = data::OnError::kSkip})
          .batch(20);
  Trainer t(small_cnn(), {.seed = 3});
  std::ostringstream out;
  const History h = t.fit(ds, {.epochs = 2, .out = &out});
  ASSERT_EQ(h.epochs.size(), 2u);
  EXPECT_EQ(h.epochs[0].skipped, 4);
  EXPECT_EQ(h.epochs[1].skipped, 4);
  EXPECT_EQ(t.iterations(), 2 * 3);  // 60 elements: batches of 20
  EXPECT_NE(out.str().find("Skipped 4 bad input element(s) this epoch\n  image 0: truncated"),
            std::string::npos)
      << out.str();
}

TEST(TrainerDatasetTest, PlanCountsThePipelineBuffers) {
  const data::LabeledImages train = quadrant_images(64, 1);
  Trainer t(small_cnn(), {.seed = 3});
  const data::Dataset ds =
      data::labeled_images_dataset(train)
          .map(data::scale_image_to_unit, {.max_output_bytes = 12 * 12 * 4 + 4})
          .batch(16)
          .prefetch(2);
  const int64_t pipeline = ds.max_buffered_bytes();
  ASSERT_GT(pipeline, 0);
  const MemoryReport with = t.plan(ds), without = t.plan(16);
  EXPECT_EQ(with.pipeline_bytes, pipeline);
  EXPECT_EQ(with.predicted_peak_bytes, without.predicted_peak_bytes + pipeline);
  // A map whose output size is unknown: the bound is unknown, and left out of the peak.
  const MemoryReport unknown =
      t.plan(data::labeled_images_dataset(train).map(data::scale_image_to_unit).batch(16));
  EXPECT_EQ(unknown.pipeline_bytes, -1);
  EXPECT_EQ(unknown.predicted_peak_bytes, without.predicted_peak_bytes);
}

// A class-folder tree of PNGs (lossless) read by image_dataset_from_directory trains like the
// same images in memory.
TEST(TrainerDatasetTest, TrainsFromAnImageDirectory) {
  const data::LabeledImages images = quadrant_images(200, 8);
  const std::string root =
      ::testing::TempDir() + "/trainer_dataset_tree_" + std::to_string(::getpid());
  std::filesystem::remove_all(root);
  for (int64_t i = 0; i < images.count; ++i) {
    const std::string dir =
        root + "/class_" + std::to_string(images.labels[static_cast<size_t>(i)]);
    std::filesystem::create_directories(dir);
    data::Image img{12, 12, 1,
                    std::vector<uint8_t>(images.pixels.begin() + i * 144,
                                         images.pixels.begin() + (i + 1) * 144)};
    const std::vector<uint8_t> png = data::encode_png(img);
    std::ofstream(dir + "/" + std::to_string(i) + ".png", std::ios::binary)
        .write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  }
  std::ostringstream messages;
  data::ImageDirectoryOptions o;
  o.image_size = {12, 12};
  o.color_mode = "grayscale";
  o.batch_size = 25;
  o.seed = 1;
  o.validation_split = 0.2;
  o.subset = "both";
  o.out = &messages;
  auto [train, val] = data::image_dataset_split_from_directory(root, o);
  EXPECT_NE(messages.str().find("Found 200 files belonging to 4 classes."), std::string::npos);
  const nn::Tensor in = nn::Input({.shape = Shape{12, 12, 1}});
  nn::Tensor x = nn::Rescaling({.scale = 1.0f / 255.0f})(in);
  x = nn::Conv2D({.filters = 4, .kernel_size = 3, .activation = "relu"})(x);
  x = nn::MaxPooling2D()(x);
  x = nn::Flatten()(x);
  x = nn::Dense({.units = 16, .activation = "relu"})(x);
  const nn::Model model(in, nn::Dense({.units = 4})(x), "tree");
  Trainer t(model, {.optimizer = Adam({.learning_rate = 0.01f}), .seed = 3});
  std::ostringstream out;
  const History h =
      t.fit(train.dataset, {.epochs = 6, .validation_dataset = &val.dataset, .out = &out});
  EXPECT_EQ(t.iterations(), 6 * 7);  // 160 training files: 6 x 25 + 10
  EXPECT_GT(h.epochs.back().get("val_accuracy"), 0.9) << out.str();
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace leantrain::train

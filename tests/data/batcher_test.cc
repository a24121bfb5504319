#include "leantrain/data/batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "leantrain/core/error.h"

namespace leantrain::data {
namespace {

// `count` images of h x w whose first pixel is the example index (count <= 256) and whose
// other pixels vary; label = (index * 7) % 256, so an example is recognised from either.
// The Batcher's scale, as Keras' Rescaling(1.0 / 255): a multiply by the f32 reciprocal.
constexpr float kScale = 1.0f / 255.0f;

LabeledImages numbered_images(int64_t count, int64_t h, int64_t w) {
  LabeledImages li;
  li.count = count;
  li.height = h;
  li.width = w;
  li.pixels.resize(static_cast<size_t>(count * h * w));
  li.labels.resize(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t k = 0; k < h * w; ++k) {
      li.pixels[static_cast<size_t>(i * h * w + k)] =
          static_cast<uint8_t>(k == 0 ? i : (i * 31 + k * 17) % 256);
    }
    li.labels[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7) % 256);
  }
  li.num_classes = 256;
  return li;
}

// The example indices of one epoch, in batch order, read back from the filled first pixels;
// also checks labels and every pixel's value against the source example.
std::vector<int64_t> epoch_order(const Batcher& batcher, const LabeledImages& li) {
  const int64_t pixels = li.height * li.width * li.channels;
  std::vector<int64_t> order;
  std::vector<float> images(static_cast<size_t>(batcher.batch_size() * pixels), -1.0f);
  std::vector<int32_t> labels(static_cast<size_t>(batcher.batch_size()), -1);
  for (int64_t b = 0; b < batcher.num_batches(); ++b) {
    const int64_t n = batcher.fill(b, images.data(), labels.data());
    EXPECT_EQ(n, batcher.batch_count(b));
    for (int64_t i = 0; i < n; ++i) {
      const float first = images[static_cast<size_t>(i * pixels)] * 255.0f;
      const auto example = static_cast<int64_t>(std::lround(first));
      order.push_back(example);
      EXPECT_EQ(labels[static_cast<size_t>(i)], li.labels[static_cast<size_t>(example)]);
      for (int64_t k = 0; k < pixels; ++k) {
        const uint8_t p = li.pixels[static_cast<size_t>(example * pixels + k)];
        EXPECT_EQ(images[static_cast<size_t>(i * pixels + k)], static_cast<float>(p) * kScale)
            << "batch " << b << " example " << i << " pixel " << k;
      }
    }
  }
  return order;
}

std::vector<int64_t> identity(int64_t n) {
  std::vector<int64_t> out(static_cast<size_t>(n));
  std::iota(out.begin(), out.end(), int64_t{0});
  return out;
}

TEST(BatcherTest, KeepsAPartialLastBatch) {
  const LabeledImages li = numbered_images(103, 2, 3);
  const Batcher batcher(li, 10, true, 1);
  EXPECT_EQ(batcher.count(), 103);
  EXPECT_EQ(batcher.batch_size(), 10);
  EXPECT_EQ(batcher.num_batches(), 11);
  EXPECT_EQ(batcher.batch_count(0), 10);
  EXPECT_EQ(batcher.batch_count(9), 10);
  EXPECT_EQ(batcher.batch_count(10), 3);
  const Batcher exact(li, 103, true, 1);
  EXPECT_EQ(exact.num_batches(), 1);
  EXPECT_EQ(exact.batch_count(0), 103);
  const Batcher bigger(li, 1000, true, 1);
  EXPECT_EQ(bigger.num_batches(), 1);
  EXPECT_EQ(bigger.batch_count(0), 103);
}

TEST(BatcherTest, EveryExampleAppearsExactlyOncePerEpoch) {
  const LabeledImages li = numbered_images(103, 2, 3);
  Batcher batcher(li, 10, true, 42);
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    batcher.start_epoch(epoch);
    std::vector<int64_t> order = epoch_order(batcher, li);
    ASSERT_EQ(order.size(), 103u);
    std::sort(order.begin(), order.end());
    EXPECT_EQ(order, identity(103)) << "epoch " << epoch;
  }
}

TEST(BatcherTest, DifferentEpochsGiveDifferentOrders) {
  const LabeledImages li = numbered_images(100, 1, 1);
  Batcher batcher(li, 16, true, 7);
  std::set<std::vector<int64_t>> orders;
  for (int64_t epoch = 0; epoch < 5; ++epoch) {
    batcher.start_epoch(epoch);
    const auto order = epoch_order(batcher, li);
    EXPECT_NE(order, identity(100)) << "epoch " << epoch;
    orders.insert(order);
  }
  EXPECT_EQ(orders.size(), 5u);
}

TEST(BatcherTest, SameSeedAndEpochGiveTheSameOrderWhateverCameBefore) {
  const LabeledImages li = numbered_images(100, 1, 2);
  Batcher a(li, 8, true, 123);
  Batcher b(li, 8, true, 123);
  Batcher c(li, 8, true, 124);
  a.start_epoch(3);
  b.start_epoch(1);  // a different history must not matter
  b.start_epoch(2);
  b.start_epoch(3);
  c.start_epoch(3);
  EXPECT_EQ(epoch_order(a, li), epoch_order(b, li));
  EXPECT_NE(epoch_order(a, li), epoch_order(c, li));
  // The constructor starts epoch 0.
  Batcher fresh(li, 8, true, 123);
  a.start_epoch(0);
  EXPECT_EQ(epoch_order(fresh, li), epoch_order(a, li));
}

TEST(BatcherTest, WithoutShuffleTheOrderIsTheIdentityEveryEpoch) {
  const LabeledImages li = numbered_images(50, 3, 3);
  Batcher batcher(li, 7, false, 99);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    batcher.start_epoch(epoch);
    EXPECT_EQ(epoch_order(batcher, li), identity(50));
  }
}

TEST(BatcherTest, AnotherSeedGivesThatSeedsOrderUntilTheNextStartEpoch) {
  const LabeledImages li = numbered_images(100, 1, 2);
  Batcher own(li, 8, false, 5);           // unshuffled: the seeded order must shuffle all the same
  const Batcher seeded(li, 8, true, 77);  // starts epoch 0 with seed 77
  own.start_epoch(0, 77);
  EXPECT_EQ(epoch_order(own, li), epoch_order(seeded, li));
  own.start_epoch(0);
  EXPECT_EQ(epoch_order(own, li), identity(100));
  Batcher shuffled(li, 8, true, 5);
  const auto order_5 = epoch_order(shuffled, li);
  shuffled.start_epoch(0, 77);
  EXPECT_EQ(epoch_order(shuffled, li), epoch_order(seeded, li));
  shuffled.start_epoch(0);
  EXPECT_EQ(epoch_order(shuffled, li), order_5);
  EXPECT_THROW(own.start_epoch(-1, 77), Error);
}

TEST(BatcherTest, ScalesPixelsToUnitRangeAndWritesOnlyTheBatch) {
  LabeledImages li;
  li.count = 3;
  li.height = 1;
  li.width = 2;
  li.channels = 2;
  li.pixels = {0, 255, 1, 128, 10, 20, 30, 40, 50, 60, 70, 254};
  li.labels = {2, 0, 1};
  li.num_classes = 3;
  const Batcher batcher(li, 2, false, 0);
  std::vector<float> images(2 * 4 + 1, -7.0f);  // one guard element past the batch
  std::vector<int32_t> labels(2 + 1, -7);
  EXPECT_EQ(batcher.fill(1, images.data(), labels.data()), 1);
  EXPECT_EQ(images[0], 50.0f * kScale);
  EXPECT_EQ(images[3], 254.0f * kScale);
  EXPECT_EQ(images[4], -7.0f);  // batch 1 has one example: the rest is untouched
  EXPECT_EQ(labels[0], 1);
  EXPECT_EQ(labels[1], -7);
  EXPECT_EQ(batcher.fill(0, images.data(), labels.data()), 2);
  EXPECT_EQ(images[0], 0.0f);
  EXPECT_EQ(images[1], 1.0f);
  EXPECT_EQ(images[2], kScale);
  EXPECT_EQ(images[3], 128.0f * kScale);
  EXPECT_EQ(images[8], -7.0f);
  EXPECT_EQ((std::vector<int32_t>{labels[0], labels[1]}), (std::vector<int32_t>{2, 0}));
}

TEST(BatcherTest, ReadsAViewOfF32OrU8PixelsInPlaceAtItsScale) {
  // Two 1x1x3 examples, as numpy arrays a caller owns; labels are optional.
  const std::vector<float> f32 = {0.25f, -3.5f, 1e6f, 7.0f, 0.125f, -0.0f};
  const std::vector<uint8_t> u8 = {0, 200, 255, 3, 4, 5};
  const std::vector<int32_t> ids = {4, 9};
  ImagesView view{.count = 2,
                  .height = 1,
                  .width = 1,
                  .channels = 3,
                  .pixels = f32.data(),
                  .dtype = DType::kF32,
                  .labels = ids.data()};
  std::vector<float> images(6, -1.0f);
  std::vector<int32_t> labels(2, -1);
  Batcher(view, 2, false, 0).fill(0, images.data(), labels.data());
  EXPECT_EQ(images, f32);  // f32 at scale 1: bit for bit
  EXPECT_EQ(labels, ids);
  view.pixels = u8.data();
  view.dtype = DType::kU8;
  view.labels = nullptr;
  labels.assign(2, -1);
  Batcher(view, 2, false, 0).fill(0, images.data(), labels.data());
  EXPECT_EQ(images, (std::vector<float>{0, 200, 255, 3, 4, 5}));  // u8 cast, not scaled
  EXPECT_EQ(labels, (std::vector<int32_t>{-1, -1}));              // no labels: none written
  view.scale = 0.5f;
  Batcher(view, 2, false, 0).fill(0, images.data(), labels.data());
  EXPECT_EQ(images, (std::vector<float>{0, 100, 127.5f, 1.5f, 2, 2.5f}));
  view.dtype = DType::kI32;
  EXPECT_THROW(Batcher(view, 2, false, 0), Error);
  view.dtype = DType::kU8;
  view.pixels = nullptr;
  EXPECT_THROW(Batcher(view, 2, false, 0), Error);
}

TEST(BatcherTest, LargeBatchesTakeTheParallelPathWithTheSameResult) {
  // 200 examples of 32x32x3 = 614,400 pixels per full batch: above the parallel threshold.
  LabeledImages li = numbered_images(200, 32, 96);
  li.width = 32;
  li.channels = 3;
  Batcher batcher(li, 128, true, 5);
  std::vector<int64_t> order = epoch_order(batcher, li);
  std::sort(order.begin(), order.end());
  EXPECT_EQ(order, identity(200));
}

TEST(BatcherTest, EmptyImagesHaveNoBatches) {
  const LabeledImages li;
  Batcher batcher(li, 4, true, 0);
  EXPECT_EQ(batcher.num_batches(), 0);
  batcher.start_epoch(1);
}

TEST(BatcherTest, RejectsBadArguments) {
  const LabeledImages li = numbered_images(10, 1, 1);
  EXPECT_THROW(Batcher(li, 0, true, 0), Error);
  Batcher batcher(li, 4, true, 0);
  std::vector<float> images(4);
  std::vector<int32_t> labels(4);
  try {
    batcher.fill(3, images.data(), labels.data());
    ADD_FAILURE() << "no Error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_STREQ(e.what(), "batch 3 is out of range [0, 3)");
  }
  EXPECT_THROW(batcher.batch_count(-1), Error);
  EXPECT_THROW(batcher.start_epoch(-1), Error);
  LabeledImages inconsistent = li;
  inconsistent.pixels.pop_back();
  EXPECT_THROW(Batcher(inconsistent, 4, true, 0), Error);
}

}  // namespace
}  // namespace leantrain::data

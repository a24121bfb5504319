#include "leantrain/data/synthetic.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "leantrain/core/error.h"

namespace leantrain::data {
namespace {

// Every batch of iteration `epoch`, as (images, labels).
std::pair<std::vector<float>, std::vector<int32_t>> collect(const Dataset& ds, int64_t epoch) {
  std::vector<float> images;
  std::vector<int32_t> labels;
  Iterator it = ds.iterate(epoch);
  while (std::optional<Element> e = it.next()) {
    const Tensor& x = e->at("image");
    const Tensor& y = e->at("label");
    images.insert(images.end(), x.as<float>(), x.as<float>() + x.num_elements());
    labels.insert(labels.end(), y.as<int32_t>(), y.as<int32_t>() + y.num_elements());
  }
  return {images, labels};
}

TEST(SyntheticImagesTest, BatchesImagesInTheUnitIntervalAndLabelsBelowClasses) {
  const Dataset ds = synthetic_images(Shape{4, 3, 2}, 5, 10, {.batch_size = 4, .seed = 1});
  std::vector<int64_t> rows;
  Iterator it = ds.iterate(0);
  while (std::optional<Element> e = it.next()) {
    EXPECT_EQ(e->at("image").shape(), (Shape{e->at("label").shape()[0], 4, 3, 2}));
    rows.push_back(e->at("label").shape()[0]);
  }
  EXPECT_EQ(rows, (std::vector<int64_t>{4, 4, 2}));
  const auto [images, labels] = collect(ds, 0);
  for (float v : images) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LT(v, 1.0f);
  }
  for (int32_t label : labels) {
    EXPECT_GE(label, 0);
    EXPECT_LT(label, 5);
  }
}

TEST(SyntheticImagesTest, IsTheSameForAnyWorkerCountAndEveryEpoch) {
  const Shape shape{5, 5, 3};
  const auto one = collect(
      synthetic_images(shape, 7, 9, {.batch_size = 2, .seed = 3, .num_parallel_calls = 0}), 0);
  const Dataset parallel =
      synthetic_images(shape, 7, 9, {.batch_size = 2, .seed = 3, .num_parallel_calls = 3});
  for (int64_t epoch : {0, 1}) {
    const auto other = collect(parallel, epoch);
    ASSERT_EQ(other.first.size(), one.first.size());
    EXPECT_EQ(std::memcmp(other.first.data(), one.first.data(), one.first.size() * sizeof(float)),
              0);
    EXPECT_EQ(other.second, one.second);
  }
}

TEST(SyntheticImagesTest, SeedsGiveDifferentImages) {
  const auto a = collect(synthetic_images(Shape{3, 3, 1}, 2, 4, {.seed = 1}), 0);
  const auto b = collect(synthetic_images(Shape{3, 3, 1}, 2, 4, {.seed = 2}), 0);
  EXPECT_NE(a.first, b.first);
}

TEST(SyntheticImagesTest, RejectsBadArguments) {
  EXPECT_THROW(synthetic_images(Shape{2, 2, 1}, 0, 4), Error);
  EXPECT_THROW(synthetic_images(Shape{2, 2, 1}, 2, -1), Error);
  EXPECT_THROW(synthetic_images(Shape{2, 2, 1}, 2, 4, {.batch_size = 0}), Error);
  EXPECT_THROW(synthetic_images(Shape{2, 2, 1}, 2, 4, {.num_parallel_calls = -2}), Error);
}

}  // namespace
}  // namespace leantrain::data

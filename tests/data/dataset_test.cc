#include "leantrain/data/dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "data/dataset_internal.h"
#include "data/dataset_testing.h"

namespace leantrain::data {
namespace {

using testing::iota;
using testing::TempDir;
using testing::values_of;

// Columns {"x": u8 (n, 2, 3) with x[i] = i*6 + k, "y": i32 (n) = 100 + i}.
Element numbered_columns(int64_t n) {
  std::vector<uint8_t> x(static_cast<size_t>(n * 6));
  for (size_t k = 0; k < x.size(); ++k) x[k] = static_cast<uint8_t>(k % 251);
  std::vector<int32_t> y;
  for (int64_t i = 0; i < n; ++i) y.push_back(static_cast<int32_t>(100 + i));
  return Element{{"x", Tensor::from_vector(x, Shape{n, 2, 3})},
                 {"y", Tensor::from_vector(y, Shape{n})}};
}

TEST(TensorTest, CopiesShareBytesAndWritesCopyFirst) {
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3}, Shape{3});
  Tensor b = a;
  EXPECT_EQ(a.data(), b.data());
  b.mutable_as<float>()[0] = 9;  // shared: b gets its own bytes first
  EXPECT_NE(a.data(), b.data());
  EXPECT_EQ(a.as<float>()[0], 1.0f);
  EXPECT_EQ(b.as<float>()[0], 9.0f);
  const void* before = b.data();
  b.mutable_as<float>()[1] = 8;  // now unique: written in place
  EXPECT_EQ(b.data(), before);
}

TEST(TensorTest, BorrowedBytesAreNeverWrittenInPlace) {
  auto storage = std::make_shared<std::vector<int32_t>>(std::vector<int32_t>{5, 6});
  Tensor t = Tensor::borrow(TensorView(storage->data(), Shape{2}), storage);
  EXPECT_EQ(t.data(), storage->data());
  t.mutable_as<int32_t>()[0] = 7;
  EXPECT_EQ((*storage)[0], 5);
  EXPECT_EQ(t.as<int32_t>()[0], 7);
}

TEST(TensorTest, ReadingAsTheWrongTypeThrows) {
  Tensor t = Tensor::scalar(int32_t{3});
  EXPECT_EQ(t.shape().rank(), 0);
  EXPECT_THROW(t.as<float>(), Error);
  EXPECT_THROW(Tensor::from_vector(std::vector<float>{1, 2}, Shape{3}), Error);
}

TEST(BufferPoolTest, ReusesAFreedBufferOfTheSameSizeInThePipelinesThreads) {
  auto pool = std::make_shared<internal::BufferPool>();
  const Shape big{64, 64, 3};  // 48 KiB of f32: pooled
  const void* first = nullptr;
  {
    internal::PoolScope scope(pool.get());
    { first = Tensor::uninitialized(DType::kF32, big).data(); }
    Tensor again = Tensor::uninitialized(DType::kF32, big);
    EXPECT_EQ(again.data(), first);  // the freed block came back
    Tensor other = Tensor::uninitialized(DType::kF32, big);
    EXPECT_NE(other.data(), first);  // the block is taken: a new one
    Tensor small = Tensor::uninitialized(DType::kU8, Shape{16});
    EXPECT_EQ(internal::BufferPool::current(), pool.get());
  }
  EXPECT_EQ(internal::BufferPool::current(), nullptr);
  Tensor outlives;
  {
    internal::PoolScope scope(pool.get());
    outlives = Tensor(DType::kF32, big);  // zero-filled even when recycled
  }
  EXPECT_EQ(outlives.as<float>()[100], 0.0f);
  pool.reset();  // the pipeline ends first: the tensor frees its block itself (ASan checks)
  outlives = Tensor();
}

TEST(ElementTest, KeepsFeaturesSortedAndNamesMissingOnes) {
  Element e;
  e.set("label", Tensor::scalar(int32_t{1}));
  e.set("image", Tensor(DType::kU8, Shape{2, 2, 1}));
  e.set_string("path", "a.png");
  ASSERT_EQ(e.tensors().size(), 2u);
  EXPECT_EQ(e.tensors()[0].first, "image");
  EXPECT_EQ(e.string("path"), "a.png");
  EXPECT_EQ(e.bytes(), 4 + 4 + 5);
  EXPECT_EQ(e.describe(), "{image: u8 (2, 2, 1), label: i32 (), path: string[1]}");
  try {
    e.at("pixels");
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(err.what()).find("image: u8"), std::string::npos) << err.what();
  }
  e.set("path", Tensor::scalar(1.0f));  // a name is one kind at a time
  EXPECT_FALSE(e.has_string("path"));
  e.erase("path");
  EXPECT_FALSE(e.has("path"));
}

TEST(DatasetTest, FromTensorSlicesSlicesWithoutCopying) {
  const Element columns = numbered_columns(4);
  Dataset ds = Dataset::from_tensor_slices(columns);
  EXPECT_EQ(ds.cardinality(), 4);
  EXPECT_EQ(ds.max_element_bytes(), 6 + 4);
  Iterator it = ds.iterate(0);
  for (int64_t i = 0; i < 4; ++i) {
    auto e = it.next();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->at("x").shape(), (Shape{2, 3}));
    EXPECT_EQ(e->at("x").data(),
              static_cast<const uint8_t*>(columns.at("x").data()) + i * 6);  // a view
    EXPECT_EQ(e->at("x").as<uint8_t>()[5], static_cast<uint8_t>(i * 6 + 5));
    EXPECT_EQ(e->at("y").as<int32_t>()[0], 100 + i);
  }
  EXPECT_FALSE(it.next());
  EXPECT_FALSE(it.next());
}

TEST(DatasetTest, FromTensorSlicesRejectsDisagreeingLengthsAndScalars) {
  Element bad{{"a", Tensor(DType::kF32, Shape{3, 2})}, {"b", Tensor(DType::kI32, Shape{4})}};
  try {
    Dataset::from_tensor_slices(bad);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("'a' has 3, 'b' has 4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Dataset::from_tensor_slices(Element{{"s", Tensor::scalar(1.0f)}}), Error);
  EXPECT_THROW(Dataset::from_tensor_slices(Element()), Error);
}

TEST(DatasetTest, RangeCountsBothWays) {
  EXPECT_EQ(values_of(Dataset::range(0, 5)), iota(5));
  EXPECT_EQ(values_of(Dataset::range(3, 10, 3)), (std::vector<int32_t>{3, 6, 9}));
  EXPECT_EQ(values_of(Dataset::range(5, 0, -2)), (std::vector<int32_t>{5, 3, 1}));
  EXPECT_EQ(Dataset::range(5, 0, -2).cardinality(), 3);
  EXPECT_EQ(Dataset::range(4, 4).cardinality(), 0);
  EXPECT_THROW(Dataset::range(0, 1, 0), Error);
}

TEST(DatasetTest, ListFilesSortsOrShufflesWithASeed) {
  TempDir dir;
  for (const char* name : {"c.txt", "a.txt", "b.txt", "d.bin"}) std::ofstream(dir.file(name)) << 1;
  const std::string pattern = dir.path() + "/*.txt";
  auto paths = [](const Dataset& ds, int64_t epoch) {
    std::vector<std::string> out;
    Iterator it = ds.iterate(epoch);
    while (auto e = it.next()) out.push_back(e->string("path"));
    return out;
  };
  const std::vector<std::string> sorted = {dir.file("a.txt"), dir.file("b.txt"), dir.file("c.txt")};
  EXPECT_EQ(paths(Dataset::list_files(pattern, /*shuffle=*/false), 0), sorted);
  const Dataset shuffled = Dataset::list_files(pattern, true, 11);
  std::vector<std::string> first = paths(shuffled, 0);
  EXPECT_EQ(first, paths(Dataset::list_files(pattern, true, 11), 0));  // same seed, same order
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, sorted);
  try {
    Dataset::list_files(dir.path() + "/*.png");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("No files matched pattern: " + dir.path() + "/*.png"),
              std::string::npos);
  }
}

TEST(DatasetTest, MakeIteratorCountsIterationsSoShufflesDiffer) {
  const Dataset ds = Dataset::range(0, 50).shuffle(50, 3);
  const Dataset copy = ds;  // copies share the counter
  std::vector<std::vector<int32_t>> orders;
  for (int i = 0; i < 3; ++i) {
    Iterator it = (i % 2 ? copy : ds).make_iterator();
    std::vector<int32_t> order;
    while (auto e = it.next()) order.push_back(e->at("value").as<int32_t>()[0]);
    orders.push_back(order);
  }
  EXPECT_EQ(orders[0], values_of(ds, 0));
  EXPECT_EQ(orders[1], values_of(ds, 1));
  EXPECT_EQ(orders[2], values_of(ds, 2));
  EXPECT_NE(orders[0], orders[1]);
}

TEST(DatasetTest, NextBatchIntoFillsCallerMemory) {
  Dataset ds = Dataset::from_tensor_slices(numbered_columns(5)).batch(2).prefetch(2);
  EXPECT_EQ(ds.cardinality(), 3);
  std::vector<float> x(2 * 6, -1.0f);  // u8 elements, f32 destination: converted exactly
  std::vector<int32_t> y(2, -1);
  const BatchDestination dst{{"x", TensorView(x.data(), Shape{2, 2, 3})},
                             {"y", TensorView(y.data(), Shape{2})}};
  Iterator it = ds.iterate(0);
  std::vector<int64_t> rows;
  int64_t first_example = 0;
  while (int64_t n = it.next_batch_into(dst)) {
    rows.push_back(n);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t example = first_example + i;
      EXPECT_EQ(y[static_cast<size_t>(i)], 100 + example);
      for (int64_t k = 0; k < 6; ++k) {
        EXPECT_EQ(x[static_cast<size_t>(i * 6 + k)], static_cast<float>(example * 6 + k));
      }
    }
    first_example += n;
  }
  EXPECT_EQ(rows, (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(it.next_batch_into(dst), 0);
  EXPECT_EQ(it.stats().elements, 3);
}

TEST(DatasetTest, NextBatchIntoCopiesAnAlreadyBatchedElement) {
  // A map after batch: the element is the batch and is copied as a whole.
  Dataset ds =
      Dataset::from_tensor_slices(numbered_columns(3)).batch(3).map([](Element e) { return e; });
  std::vector<int32_t> y(4, -1);
  Iterator it = ds.iterate(0);
  EXPECT_EQ(it.next_batch_into({{"y", TensorView(y.data(), Shape{4})}}), 3);
  EXPECT_EQ(y, (std::vector<int32_t>{100, 101, 102, -1}));
}

TEST(DatasetTest, NextBatchIntoRejectsADestinationThatDoesNotFit) {
  Dataset ds = Dataset::from_tensor_slices(numbered_columns(4)).batch(2);
  std::vector<int32_t> y(2);
  std::vector<float> small(2 * 5);
  auto expect_invalid = [&](const BatchDestination& dst, const std::string& needle) {
    Iterator it = ds.iterate(0);
    try {
      it.next_batch_into(dst);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_invalid({{"label", TensorView(y.data(), Shape{2})}}, "'label' is not a tensor feature");
  expect_invalid({{"x", TensorView(small.data(), Shape{2, 5})}}, "destination 'x' is f32 (2, 5)");
  expect_invalid({{"y", TensorView(y.data(), Shape{1})}}, "destination 'y' is i32 (1,)");
  std::vector<float> yf(2);
  expect_invalid({{"y", TensorView(yf.data(), Shape{2})}}, "need i32");
}

TEST(DatasetTest, DescribeListsStagesFromSourceToOutput) {
  Dataset ds = Dataset::range(0, 10)
                   .shuffle(4, 1)
                   .map([](Element e) { return e; }, {.num_parallel_calls = 2})
                   .batch(3, true)
                   .prefetch(kAutotune);
  EXPECT_EQ(ds.describe(),
            "Range(0, 10) -> Shuffle(4) -> ParallelMap(2) -> Batch(3, drop_remainder) -> "
            "Prefetch(autotune)");
}

TEST(DatasetTest, StaticBoundAddsEveryBufferWhenSizesAreKnown) {
  // Elements of 6 + 4 bytes; shuffle holds 4, prefetch 3, batch assembles 2 of them.
  Dataset ds = Dataset::from_tensor_slices(numbered_columns(10)).shuffle(4, 1).prefetch(3);
  EXPECT_EQ(ds.max_buffered_bytes(), 4 * 10 + 3 * 10);
  EXPECT_EQ(ds.batch(2).max_buffered_bytes(), 4 * 10 + 3 * 10 + 2 * 10);
  // A map whose output size is not declared makes the bound unknown in advance.
  EXPECT_EQ(ds.map([](Element e) { return e; }, {.num_parallel_calls = 1}).max_buffered_bytes(),
            -1);
  EXPECT_EQ(ds.map([](Element e) { return e; }, {.num_parallel_calls = 1, .max_output_bytes = 10})
                .max_buffered_bytes(),
            4 * 10 + 3 * 10 + 2 * 1 * (10 + 10));
}

TEST(DatasetTest, MovedFromIteratorRefusesUse) {
  Iterator a = Dataset::range(0, 3).iterate(0);
  Iterator b = std::move(a);
  EXPECT_TRUE(b.next());
  EXPECT_THROW(a.next(), Error);  // NOLINT(bugprone-use-after-move): checking the guard
}

TEST(DatasetTest, BatchSizeLooksThroughStagesThatKeepRows) {
  const Dataset r = Dataset::range(0, 10);
  EXPECT_EQ(r.batch_size(), std::nullopt);
  EXPECT_EQ(r.map([](Element e) { return e; }).batch_size(), std::nullopt);
  EXPECT_EQ(r.batch(4).batch_size(), 4);
  EXPECT_EQ(r.batch(4).prefetch(2).batch_size(), 4);
  EXPECT_EQ(r.batch(3)
                .map([](Element e) { return e; })
                .shuffle(2, 1)
                .repeat(2)
                .take(5)
                .skip(1)
                .shard(2, 0)
                .filter([](const Element&) { return true; })
                .cache()
                .prefetch(kAutotune)
                .batch_size(),
            3);
  EXPECT_EQ(r.batch(4).batch(2).batch_size(), 2);
  // An interleave may mix datasets of any rows: unknown.
  EXPECT_EQ(r.batch(4)
                .interleave([](const Element&) { return Dataset::range(0, 2).batch(2); }, 1)
                .batch_size(),
            std::nullopt);
}

}  // namespace
}  // namespace leantrain::data

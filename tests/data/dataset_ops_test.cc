// Semantics of the single-threaded stages, checked against tf.data's documented behaviour.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "data/dataset_testing.h"
#include "leantrain/data/dataset.h"

namespace leantrain::data {
namespace {

using testing::iota;
using testing::values_of;

Dataset single(int32_t v) {
  return Dataset::from_tensor_slices(
      Element{{"value", Tensor::from_vector(std::vector<int32_t>{v}, Shape{1})}});
}

int32_t value(const Element& e) { return e.at("value").as<int32_t>()[0]; }

TEST(ShuffleTest, BufferOfOneKeepsTheOrder) {
  EXPECT_EQ(values_of(Dataset::range(0, 20).shuffle(1, 5)), iota(20));
}

// tf.data's buffer: the k-th output is drawn from the first k + buffer_size inputs, and every
// input comes out exactly once.
TEST(ShuffleTest, OutputKComesFromTheFirstKPlusBufferInputs) {
  for (int64_t buffer : {2, 5, 16}) {
    for (uint64_t seed : {1u, 2u, 3u}) {
      const std::vector<int32_t> out = values_of(Dataset::range(0, 60).shuffle(buffer, seed));
      std::vector<int32_t> sorted = out;
      std::sort(sorted.begin(), sorted.end());
      ASSERT_EQ(sorted, iota(60)) << "buffer " << buffer << " seed " << seed;
      for (size_t k = 0; k < out.size(); ++k) {
        EXPECT_LT(out[k], static_cast<int32_t>(k + buffer)) << "position " << k;
      }
    }
  }
}

TEST(ShuffleTest, ABufferAsLargeAsTheDataReachesEveryPosition) {
  // Over many seeds, element 0 lands in every position of a 6-element dataset.
  std::set<size_t> positions;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const auto out = values_of(Dataset::range(0, 6).shuffle(6, seed));
    positions.insert(static_cast<size_t>(std::find(out.begin(), out.end(), 0) - out.begin()));
  }
  EXPECT_EQ(positions.size(), 6u);
}

TEST(ShuffleTest, ReshufflesEachIterationUnlessTold) {
  const Dataset reshuffled = Dataset::range(0, 40).shuffle(40, 9);
  EXPECT_EQ(values_of(reshuffled, 0), values_of(reshuffled, 0));  // an epoch is reproducible
  EXPECT_NE(values_of(reshuffled, 0), values_of(reshuffled, 1));
  const Dataset fixed = Dataset::range(0, 40).shuffle(40, 9, /*reshuffle_each_iteration=*/false);
  EXPECT_EQ(values_of(fixed, 0), values_of(fixed, 1));
  EXPECT_NE(values_of(fixed, 0), iota(40));
  EXPECT_NE(values_of(Dataset::range(0, 40).shuffle(40, 10), 0), values_of(reshuffled, 0));
}

TEST(ShuffleTest, RepeatAfterShuffleReshufflesEachRepetition) {
  const std::vector<int32_t> out = values_of(Dataset::range(0, 30).shuffle(30, 4).repeat(2));
  ASSERT_EQ(out.size(), 60u);
  const std::vector<int32_t> first(out.begin(), out.begin() + 30),
      second(out.begin() + 30, out.end());
  EXPECT_NE(first, second);
  std::vector<int32_t> a = first, b = second;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, iota(30));
  EXPECT_EQ(b, iota(30));
  const auto same = values_of(Dataset::range(0, 30).shuffle(30, 4, false).repeat(2));
  EXPECT_EQ(std::vector<int32_t>(same.begin(), same.begin() + 30),
            std::vector<int32_t>(same.begin() + 30, same.end()));
}

TEST(BatchTest, KeepsOrDropsTheRemainder) {
  auto sizes = [](const Dataset& ds) {
    std::vector<int64_t> out;
    Iterator it = ds.iterate(0);
    while (auto e = it.next()) out.push_back(e->at("value").shape()[0]);
    return out;
  };
  EXPECT_EQ(sizes(Dataset::range(0, 7).batch(3)), (std::vector<int64_t>{3, 3, 1}));
  EXPECT_EQ(sizes(Dataset::range(0, 7).batch(3, true)), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(sizes(Dataset::range(0, 6).batch(3, true)), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(values_of(Dataset::range(0, 7).batch(3)), iota(7));
  EXPECT_EQ(Dataset::range(0, 7).batch(3).cardinality(), 3);
  EXPECT_EQ(Dataset::range(0, 7).batch(3, true).cardinality(), 2);
  EXPECT_EQ(Dataset::range(0, 2).batch(3, true).cardinality(), 0);
  EXPECT_EQ(sizes(Dataset::range(0, 2).batch(3, true)), std::vector<int64_t>{});
}

TEST(BatchTest, StacksTensorsAndConcatenatesStrings) {
  Element columns{{"v", Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, Shape{3, 2})}};
  columns.set_strings("path", {"a", "b", "c"});
  Iterator it = Dataset::from_tensor_slices(columns).batch(2).iterate(0);
  auto b0 = it.next();
  ASSERT_TRUE(b0);
  EXPECT_EQ(b0->at("v").shape(), (Shape{2, 2}));
  EXPECT_EQ(std::vector<float>(b0->at("v").as<float>(), b0->at("v").as<float>() + 4),
            (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(b0->strings("path"), (std::vector<std::string>{"a", "b"}));
  auto b1 = it.next();
  ASSERT_TRUE(b1);
  EXPECT_EQ(b1->at("v").shape(), (Shape{1, 2}));
  EXPECT_EQ(b1->at("v").bytes(), 8);
  EXPECT_EQ(b1->strings("path"), (std::vector<std::string>{"c"}));
  EXPECT_FALSE(it.next());
}

TEST(BatchTest, ElementsOfDifferentShapesNameTheFeature) {
  Dataset ds = Dataset::range(0, 4).map([](Element e) {
    const int32_t v = value(e);
    e.set("image", Tensor(DType::kU8, Shape{v < 2 ? 4 : 5, 4, 3}));
    return e;
  });
  Iterator it = ds.batch(4).iterate(0);
  try {
    it.next();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("element 2 of a batch has 'image' u8 (5, 4, 3) but "
                                         "element 0 has u8 (4, 4, 3)"),
              std::string::npos)
        << e.what();
  }
}

TEST(RepeatTest, RepeatsInOrderAndCountsCardinality) {
  std::vector<int32_t> expected;
  for (int r = 0; r < 3; ++r) {
    for (int32_t v : iota(4)) expected.push_back(v);
  }
  EXPECT_EQ(values_of(Dataset::range(0, 4).repeat(3)), expected);
  EXPECT_EQ(Dataset::range(0, 4).repeat(3).cardinality(), 12);
  EXPECT_EQ(values_of(Dataset::range(0, 4).repeat(0)), std::vector<int32_t>{});
  EXPECT_EQ(Dataset::range(0, 4).repeat().cardinality(), kInfiniteCardinality);
  EXPECT_EQ(values_of(Dataset::range(0, 4).repeat().take(10)).size(), 10u);
  EXPECT_EQ(Dataset::range(0, 4).repeat().take(10).cardinality(), 10);
}

TEST(RepeatTest, ForeverOverAnEmptyInputEnds) {
  testing::with_timeout(30, [] {
    EXPECT_EQ(values_of(Dataset::range(0, 0).repeat()), std::vector<int32_t>{});
    EXPECT_EQ(values_of(Dataset::range(0, 5).filter([](const Element&) { return false; }).repeat()),
              std::vector<int32_t>{});
  });
}

TEST(TakeSkipTest, FollowTfDataEdgeCases) {
  EXPECT_EQ(values_of(Dataset::range(0, 5).take(3)), iota(3));
  EXPECT_EQ(values_of(Dataset::range(0, 5).take(-1)), iota(5));
  EXPECT_EQ(values_of(Dataset::range(0, 5).take(9)), iota(5));
  EXPECT_EQ(values_of(Dataset::range(0, 5).take(0)), std::vector<int32_t>{});
  EXPECT_EQ(values_of(Dataset::range(0, 5).skip(2)), iota(3, 2));
  EXPECT_EQ(values_of(Dataset::range(0, 5).skip(-1)), std::vector<int32_t>{});
  EXPECT_EQ(values_of(Dataset::range(0, 5).skip(9)), std::vector<int32_t>{});
  EXPECT_EQ(Dataset::range(0, 5).take(9).cardinality(), 5);
  EXPECT_EQ(Dataset::range(0, 5).skip(2).cardinality(), 3);
  EXPECT_EQ(Dataset::range(0, 5).skip(-1).cardinality(), 0);
  EXPECT_EQ(Dataset::range(0, 5).repeat().skip(3).cardinality(), kInfiniteCardinality);
}

TEST(ShardTest, KeepsEveryNumShardsthElementFromIndex) {
  EXPECT_EQ(values_of(Dataset::range(0, 10).shard(3, 0)), (std::vector<int32_t>{0, 3, 6, 9}));
  EXPECT_EQ(values_of(Dataset::range(0, 10).shard(3, 2)), (std::vector<int32_t>{2, 5, 8}));
  EXPECT_EQ(Dataset::range(0, 10).shard(3, 0).cardinality(), 4);
  EXPECT_EQ(Dataset::range(0, 10).shard(3, 1).cardinality(), 3);
  EXPECT_THROW(Dataset::range(0, 10).shard(3, 3), Error);
  // The shards of a dataset partition it.
  std::vector<int32_t> all;
  for (int i = 0; i < 4; ++i) {
    for (int32_t v : values_of(Dataset::range(0, 13).shard(4, i))) all.push_back(v);
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, iota(13));
}

TEST(FilterTest, KeepsMatchingElementsAndMakesCardinalityUnknown) {
  Dataset ds = Dataset::range(0, 10).filter([](const Element& e) { return value(e) % 3 == 1; });
  EXPECT_EQ(values_of(ds), (std::vector<int32_t>{1, 4, 7}));
  EXPECT_EQ(ds.cardinality(), kUnknownCardinality);
}

TEST(MapTest, SequentialMapTransformsInOrderWithPerElementSeeds) {
  std::vector<uint64_t> seeds;
  Dataset ds = Dataset::range(0, 5).map(
      [&seeds](Element e, const ElementContext& ctx) {
        EXPECT_EQ(ctx.index, value(e));
        seeds.push_back(ctx.seed);
        e.set("value", Tensor::scalar(value(e) * 10));
        return e;
      },
      {.seed = 3});
  EXPECT_EQ(values_of(ds), (std::vector<int32_t>{0, 10, 20, 30, 40}));
  EXPECT_EQ(std::set<uint64_t>(seeds.begin(), seeds.end()).size(), 5u);
  const std::vector<uint64_t> epoch0 = seeds;
  seeds.clear();
  values_of(ds, 0);
  EXPECT_EQ(seeds, epoch0);  // a rerun of the epoch draws the same seeds
  seeds.clear();
  values_of(ds, 1);
  EXPECT_NE(seeds, epoch0);
}

TEST(MapTest, AnErrorNamesTheElementsFile) {
  Element columns;
  columns.set_strings("path", {"ok.png", "bad.png"});
  Dataset ds = Dataset::from_tensor_slices(columns).map([](Element e) {
    LT_CHECK(e.string("path") != "bad.png", kDataLoss, "truncated PNG");
    return e;
  });
  Iterator it = ds.iterate(0);
  EXPECT_TRUE(it.next());
  try {
    it.next();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
    EXPECT_STREQ(e.what(), "bad.png: truncated PNG");
  }
  EXPECT_THROW(it.next(), Error);  // a failed iterator stays failed
}

// The example of tf.data.Dataset.interleave's documentation (tensorflow/python/data/ops/
// dataset_ops.py): range(1, 6), each x -> from_tensors(x).repeat(6), cycle_length=2,
// block_length=4.
TEST(InterleaveTest, MatchesTheTfDataDocumentationExample) {
  Dataset ds = Dataset::range(1, 6).interleave(
      [](const Element& e) { return single(value(e)).repeat(6); }, 2, 4);
  EXPECT_EQ(values_of(ds), (std::vector<int32_t>{1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3,
                                                 3, 4, 4, 4, 4, 3, 3, 4, 4, 5, 5, 5, 5, 5, 5}));
}

// Second documentation example: block_length=1 cycles through cycle_length datasets.
TEST(InterleaveTest, CycleLengthOneConcatenates) {
  Dataset ds = Dataset::range(0, 3).interleave(
      [](const Element& e) { return Dataset::range(value(e) * 10, value(e) * 10 + 2); }, 1, 1);
  EXPECT_EQ(values_of(ds), (std::vector<int32_t>{0, 1, 10, 11, 20, 21}));
  Dataset three = Dataset::range(0, 3).interleave(
      [](const Element& e) { return Dataset::range(value(e) * 10, value(e) * 10 + 2); }, 3, 1);
  EXPECT_EQ(values_of(three), (std::vector<int32_t>{0, 10, 20, 1, 11, 21}));
}

}  // namespace
}  // namespace leantrain::data

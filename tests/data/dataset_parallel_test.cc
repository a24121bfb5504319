// Worker threads: order, determinism with any number of workers, errors, teardown, memory
// bounds and autotuning. Every test that could hang runs under with_timeout.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "data/dataset_testing.h"
#include "leantrain/data/dataset.h"

namespace leantrain::data {
namespace {

using testing::iota;
using testing::values_of;
using testing::with_timeout;

int32_t value(const Element& e) { return e.at("value").as<int32_t>()[0]; }

void sleep_us(int64_t us) { std::this_thread::sleep_for(std::chrono::microseconds(us)); }

// An "augmented image" per element: 4x4x3 f32 drawn from the element's seed, after a sleep that
// depends on the element so that workers finish out of order.
Element augment(Element e, const ElementContext& ctx) {
  sleep_us((value(e) * 7919) % 5 * 300);
  Rng rng = ctx.rng();
  std::vector<float> pixels(48);
  for (float& p : pixels) p = rng.uniform(-1.0f, 1.0f) + static_cast<float>(value(e));
  e.set("image", Tensor::from_vector(pixels, Shape{4, 4, 3}));
  return e;
}

// Every byte of every batch of one epoch, read through next_batch_into.
std::vector<uint8_t> epoch_bytes(int64_t workers, int64_t epoch) {
  Dataset ds = Dataset::range(0, 120)
                   .shuffle(32, 5)
                   .map(augment, {.num_parallel_calls = workers, .seed = 17})
                   .batch(16)
                   .prefetch(2);
  std::vector<float> images(16 * 48);
  std::vector<int32_t> labels(16);
  const BatchDestination dst{{"image", TensorView(images.data(), Shape{16, 4, 4, 3})},
                             {"value", TensorView(labels.data(), Shape{16})}};
  std::vector<uint8_t> out;
  Iterator it = ds.iterate(epoch);
  while (int64_t n = it.next_batch_into(dst)) {
    const auto* a = reinterpret_cast<const uint8_t*>(images.data());
    const auto* b = reinterpret_cast<const uint8_t*>(labels.data());
    out.insert(out.end(), a, a + n * 48 * 4);
    out.insert(out.end(), b, b + n * 4);
  }
  return out;
}

TEST(ParallelMapTest, SameSeedGivesByteIdenticalBatchesWithOneOrTwoWorkers) {
  with_timeout(120, [] {
    const std::vector<uint8_t> one = epoch_bytes(1, 0);
    ASSERT_EQ(one.size(), 120u * (48 * 4 + 4));
    EXPECT_EQ(epoch_bytes(2, 0), one);
    EXPECT_EQ(epoch_bytes(0, 0), one);          // in the consumer's thread
    EXPECT_EQ(epoch_bytes(kAutotune, 0), one);  // whatever parallelism autotune picks
    EXPECT_NE(epoch_bytes(2, 1), one);          // another epoch: other order and draws
  });
}

TEST(ParallelMapTest, NonDeterministicModeYieldsEveryElementOnce) {
  with_timeout(60, [] {
    Dataset ds = Dataset::range(0, 100).map(
        [](Element e) {
          sleep_us((value(e) % 4) * 200);
          return e;
        },
        {.num_parallel_calls = 3, .deterministic = false});
    std::vector<int32_t> out = values_of(ds);
    std::sort(out.begin(), out.end());
    EXPECT_EQ(out, iota(100));
  });
}

Dataset with_paths(int64_t n) {
  Element columns{{"value", Tensor::from_vector(iota(static_cast<int32_t>(n)), Shape{n})}};
  std::vector<std::string> paths;
  for (int64_t i = 0; i < n; ++i) paths.push_back("img/" + std::to_string(i) + ".jpg");
  columns.set_strings("path", paths);
  return Dataset::from_tensor_slices(columns);
}

TEST(ParallelMapTest, AWorkersErrorReachesTheConsumerInItsElementsPlace) {
  with_timeout(60, [] {
    Dataset ds = with_paths(100)
                     .map(
                         [](Element e) {
                           LT_CHECK(value(e) != 37, kDataLoss, "corrupt JPEG data");
                           return e;
                         },
                         {.num_parallel_calls = 2})
                     .prefetch(4);
    Iterator it = ds.iterate(0);
    for (int32_t i = 0; i < 37; ++i) {
      auto e = it.next();
      ASSERT_TRUE(e);
      EXPECT_EQ(value(*e), i);
    }
    try {
      it.next();
      FAIL() << "expected the worker's error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
      EXPECT_STREQ(e.what(), "img/37.jpg: corrupt JPEG data");
    }
    EXPECT_THROW(it.next(), Error);
  });
}

TEST(ParallelMapTest, AnUpstreamErrorPassesThroughWorkersAndPrefetch) {
  with_timeout(60, [] {
    Dataset ds = Dataset::range(0, 50)
                     .map([](Element e) {
                       LT_CHECK(value(e) != 5, kInvalidArgument, "bad label 12 (classes: 10)");
                       return e;
                     })
                     .map([](Element e) { return e; }, {.num_parallel_calls = 2})
                     .prefetch(3);
    Iterator it = ds.iterate(0);
    for (int32_t i = 0; i < 5; ++i) EXPECT_EQ(value(*it.next()), i);
    EXPECT_THROW(it.next(), Error);
  });
}

TEST(ParallelMapTest, SkipPolicyDropsCountsAndNamesTheFiles) {
  with_timeout(60, [] {
    Dataset ds = with_paths(50).map(
        [](Element e) {
          LT_CHECK(value(e) % 10 != 3, kDataLoss, "truncated JPEG");
          return e;
        },
        {.num_parallel_calls = 2, .on_error = OnError::kSkip});
    EXPECT_EQ(ds.cardinality(), kUnknownCardinality);
    Iterator it = ds.iterate(0);
    std::vector<int32_t> out;
    while (auto e = it.next()) out.push_back(value(*e));
    std::vector<int32_t> expected;
    for (int32_t i = 0; i < 50; ++i) {
      if (i % 10 != 3) expected.push_back(i);
    }
    EXPECT_EQ(out, expected);
    const PipelineStats stats = it.stats();
    EXPECT_EQ(stats.skipped, 5);
    ASSERT_EQ(stats.skipped_reasons.size(), 5u);
    EXPECT_EQ(stats.skipped_reasons[0], "img/3.jpg: truncated JPEG");
    EXPECT_EQ(stats.skipped_reasons[4], "img/43.jpg: truncated JPEG");
  });
}

TEST(ParallelMapTest, SkipPolicyStillRaisesBugs) {
  with_timeout(60, [] {
    for (int64_t workers : {0, 2}) {
      auto make = [workers](int32_t start) {
        return Dataset::range(start, 10).map(
            [](Element e) -> Element {
              if (value(e) == 4) throw std::runtime_error("not a leantrain error");
              LT_ASSERT(value(e) != 6);
              return e;
            },
            {.num_parallel_calls = workers, .on_error = OnError::kSkip});
      };
      Iterator it = make(0).iterate(0);
      for (int32_t i = 0; i < 4; ++i) EXPECT_EQ(value(*it.next()), i);
      EXPECT_THROW(it.next(), std::runtime_error);
      Iterator it2 = make(5).iterate(0);
      EXPECT_EQ(value(*it2.next()), 5);
      try {
        it2.next();
        FAIL() << "an internal error must not be skipped";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kInternal);
      }
    }
  });
}

TEST(TeardownTest, DestroyingMidEpochJoinsEveryWorker) {
  with_timeout(60, [] {
    std::atomic<int64_t> calls{0};
    Dataset ds =
        Dataset::range(0, 1000)
            .repeat()
            .shuffle(64, 1)
            .map(
                [&calls](Element e) {
                  ++calls;
                  sleep_us(500);
                  return e;
                },
                {.num_parallel_calls = 2})
            .interleave([](const Element& e) { return Dataset::range(0, value(e) % 7); }, 4, 2, 2)
            .batch(8)
            .prefetch(kAutotune);
    for (int round = 0; round < 5; ++round) {
      Iterator it = ds.iterate(round);
      for (int i = 0; i < 3 + round; ++i) ASSERT_TRUE(it.next());
    }                                     // each iterator is destroyed with its workers busy
    { Iterator unused = ds.iterate(9); }  // destroyed before any next()
    const int64_t after = calls.load();
    sleep_us(20000);
    EXPECT_EQ(calls.load(), after);  // no worker is left running
  });
}

TEST(TeardownTest, DestroyingWhileAFunctionIsSlowWaitsForIt) {
  with_timeout(60, [] {
    Dataset ds = Dataset::range(0, 100).map(
        [](Element e) {
          sleep_us(50000);
          return e;
        },
        {.num_parallel_calls = 2});
    Iterator it = ds.iterate(0);
    EXPECT_TRUE(it.next());
  });
}

// Elements of 4 KiB images; the bound is worked out from each stage's capacity.
TEST(BoundedMemoryTest, BufferedBytesStayWithinTheBound) {
  with_timeout(60, [] {
    constexpr int64_t kImage = 1024 * 4;  // (32, 32, 1) f32
    constexpr int64_t kIn = 4, kOut = kImage + 4;
    Dataset ds = Dataset::range(0, 300)
                     .map(
                         [](Element e) {
                           e.set("image", Tensor(DType::kF32, Shape{32, 32, 1}));
                           return e;
                         },
                         {.num_parallel_calls = 2, .max_output_bytes = kOut})
                     .shuffle(8, 1)
                     .prefetch(3);
    // map: window 2 x 2 calls, each an input and an output; shuffle 8; prefetch 3.
    const int64_t bound = 2 * 2 * (kIn + kOut) + 8 * kOut + 3 * kOut;
    EXPECT_EQ(ds.max_buffered_bytes(), bound);
    Iterator it = ds.iterate(0);
    int64_t n = 0;
    while (it.next()) {
      ++n;
      sleep_us(100);  // a slow consumer: every buffer fills up
      const PipelineStats s = it.stats();
      ASSERT_LE(s.buffered_bytes, bound);
      EXPECT_EQ(s.max_buffered_bytes, bound);
    }
    EXPECT_EQ(n, 300);
    const PipelineStats s = it.stats();
    EXPECT_LE(s.peak_buffered_bytes, bound);
    EXPECT_GE(s.peak_buffered_bytes, 8 * kOut);  // the shuffle buffer was full at least once
    EXPECT_EQ(s.buffered_bytes, 0);
    ASSERT_EQ(s.stages.size(), 3u);
  });
}

TEST(AutotuneTest, MapAddsWorkersWhileTheConsumerWaits) {
  with_timeout(60, [] {
    auto parallelism = [](int64_t ram_budget) {
      Dataset ds =
          Dataset::range(0, 96)
              .map(
                  [](Element e) {
                    sleep_us(2000);
                    return e;
                  },
                  {.num_parallel_calls = kAutotune})
              .with_options({.autotune_ram_budget_bytes = ram_budget, .autotune_cpu_budget = 2});
      Iterator it = ds.iterate(0);
      int64_t most = 0;
      while (it.next()) {
        for (const StageStats& s : it.stats().stages) most = std::max(most, s.parallelism);
      }
      return most;
    };
    EXPECT_EQ(parallelism(int64_t{1} << 20), 2);  // the CPU budget
    EXPECT_EQ(parallelism(0), 1);                 // no RAM to grow into
  });
}

TEST(AutotuneTest, PrefetchDeepensWhenABurstyInputEmptiesIt) {
  with_timeout(60, [] {
    // The input is fast for 7 elements, then stalls 12 ms; the consumer takes 1 ms per
    // element: the input keeps up on average, so the queue fills, then runs dry in each stall.
    auto depth = [](int64_t ram_budget) {
      Dataset ds = Dataset::range(0, 120)
                       .map([](Element e) {
                         if (value(e) % 8 == 7) sleep_us(12000);
                         return e;
                       })
                       .prefetch(kAutotune)
                       .with_options({.autotune_ram_budget_bytes = ram_budget});
      Iterator it = ds.iterate(0);
      int64_t most = 0;
      while (it.next()) {
        sleep_us(1000);
        most = std::max(most, it.stats().stages.at(0).capacity_elements);
      }
      return most;
    };
    const int64_t grown = depth(int64_t{1} << 20);
    EXPECT_GE(grown, 2);
    EXPECT_LE(grown, 16);
    EXPECT_EQ(depth(0), 1);  // no RAM to grow into
  });
}

TEST(AutotuneTest, PrefetchStaysWhenASlowerInputOnlyFillsItWhileTheConsumerPauses) {
  with_timeout(60, [] {
    // The input takes 1 ms per element; the consumer takes none, except a 20 ms pause every
    // 20 elements, during which the queue fills. The input is the bottleneck: almost every
    // request finds the queue empty, and a deeper queue would only hold more memory.
    Dataset ds = Dataset::range(0, 120)
                     .map([](Element e) {
                       sleep_us(1000);
                       return e;
                     })
                     .prefetch(kAutotune)
                     .with_options({.autotune_ram_budget_bytes = int64_t{1} << 20});
    Iterator it = ds.iterate(0);
    int64_t most = 0, n = 0;
    while (it.next()) {
      if (++n % 20 == 0) sleep_us(20000);
      most = std::max(most, it.stats().stages.at(0).capacity_elements);
    }
    EXPECT_EQ(most, 1);
  });
}

TEST(ParallelInterleaveTest, DeterministicOrderEqualsTheSequentialOne) {
  with_timeout(60, [] {
    auto make = [](int64_t parallel, bool deterministic) {
      return Dataset::range(0, 12).interleave(
          [](const Element& e) {
            const int32_t v = value(e);
            return Dataset::range(v * 100, v * 100 + v % 5 + 1).map([](Element x) {
              sleep_us((value(x) % 3) * 300);
              return x;
            });
          },
          3, 2, parallel, deterministic);
    };
    const std::vector<int32_t> sequential = values_of(make(0, true));
    size_t total = 0;
    for (int v = 0; v < 12; ++v) total += static_cast<size_t>(v % 5 + 1);
    EXPECT_EQ(sequential.size(), total);
    EXPECT_EQ(values_of(make(2, true)), sequential);
    EXPECT_EQ(values_of(make(kAutotune, true)), sequential);
    std::vector<int32_t> loose = values_of(make(2, false));
    std::vector<int32_t> sorted = sequential;
    std::sort(loose.begin(), loose.end());
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(loose, sorted);
  });
}

TEST(ParallelInterleaveTest, AChildsErrorReachesTheConsumer) {
  with_timeout(60, [] {
    Dataset ds = Dataset::range(0, 4).interleave(
        [](const Element& e) {
          const int32_t v = value(e);
          return Dataset::range(0, 3).map([v](Element x) {
            LT_CHECK(!(v == 2 && value(x) == 1), kDataLoss, "shard-2.tfrecord: bad CRC");
            return x;
          });
        },
        2, 1, 2);
    Iterator it = ds.iterate(0);
    bool failed = false;
    int64_t before = 0;
    try {
      while (it.next()) ++before;
    } catch (const Error& e) {
      failed = true;
      EXPECT_NE(std::string(e.what()).find("bad CRC"), std::string::npos);
    }
    EXPECT_TRUE(failed);
    EXPECT_LT(before, 12);
  });
}

}  // namespace
}  // namespace leantrain::data

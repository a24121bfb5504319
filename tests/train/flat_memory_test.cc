// Memory stays flat over a long run and over repeated use of one model: the most reported Keras
// memory problem is a resident set that grows across epochs and across fit/evaluate/predict
// calls. The engine reserves its blocks once per program; these tests check that nothing else
// accumulates. Resident sizes are the kernel's (VmHWM, VmRSS), read after glibc has handed its
// free pages back, so that they count memory still held.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "leantrain/core/rng.h"
#include "leantrain/memory/arena.h"
#include "leantrain/memory/process_memory.h"
#include "leantrain/nn/zoo.h"
#include "leantrain/train/trainer.h"

#if defined(__SANITIZE_ADDRESS__)
#define LEANTRAIN_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LEANTRAIN_TEST_ASAN 1
#endif
#endif

namespace leantrain::train {
namespace {

// AddressSanitizer keeps freed blocks in a quarantine of up to 256 MiB before reusing them: the
// resident set then grows with every allocation, whatever the engine holds.
#define SKIP_UNDER_ASAN()                                                                       \
  do {                                                                                          \
    if (kAsan) GTEST_SKIP() << "under AddressSanitizer the resident set counts its quarantine"; \
  } while (false)
#ifdef LEANTRAIN_TEST_ASAN
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif

data::LabeledImages fashion_like(int64_t count, uint64_t seed) {
  data::LabeledImages d;
  d.count = count;
  d.height = d.width = 28;
  d.num_classes = 10;
  Rng rng(seed);
  d.pixels.resize(static_cast<size_t>(count * 28 * 28));
  for (uint8_t& p : d.pixels) p = static_cast<uint8_t>(rng.below(256));
  for (int64_t i = 0; i < count; ++i) d.labels.push_back(static_cast<int32_t>(rng.below(10)));
  return d;
}

int64_t settled_rss() {
  memory::release_free_heap_memory();
  return memory::current_rss_bytes();
}

// Records the peak resident set at the end of each epoch.
class PeakPerEpoch final : public Callback {
 public:
  void on_epoch_end(Trainer& trainer, int epoch, Logs& logs) override {
    (void)trainer;
    (void)epoch;
    (void)logs;
    memory::release_free_heap_memory();
    peaks.push_back(memory::peak_rss_bytes());
  }
  std::vector<int64_t> peaks;
};

TEST(FlatMemoryTest, TwentyEpochsOfTheCnnGrowThePeakByUnderOnePercentAfterTheSecond) {
  SKIP_UNDER_ASAN();
  const data::LabeledImages train = fashion_like(1024, 1), validation = fashion_like(256, 2);
  Trainer trainer(nn::make_model("cnn", Shape{28, 28, 1}, 10), {.seed = 3});
  auto peaks = std::make_shared<PeakPerEpoch>();
  trainer.fit(train, {.epochs = 20,
                      .batch_size = 128,
                      .validation_data = validation.view(),
                      .callbacks = {peaks},
                      .verbose = 0});
  ASSERT_EQ(peaks->peaks.size(), 20u);
  const int64_t after_second = peaks->peaks[1], last = peaks->peaks.back();
  EXPECT_LT(static_cast<double>(last - after_second), 0.01 * static_cast<double>(after_second))
      << "peak RSS after epoch 2: " << memory::readable_bytes(after_second)
      << ", after epoch 20: " << memory::readable_bytes(last);
}

TEST(FlatMemoryTest, FiftyRoundsOfFitEvaluatePredictGrowTheResidentSetByUnderOneMiB) {
  SKIP_UNDER_ASAN();
  const data::LabeledImages train = fashion_like(512, 4), test = fashion_like(256, 5);
  Trainer trainer(nn::make_model("cnn", Shape{28, 28, 1}, 10), {.seed = 6});
  int64_t after_first = 0;
  for (int round = 0; round < 50; ++round) {
    trainer.fit(train, {.epochs = 1, .batch_size = 64, .verbose = 0});
    const EvalResult r = trainer.evaluate(test, 64);
    ASSERT_TRUE(r.logs.contains("loss"));
    const std::vector<float> p = trainer.predict(test, 64);
    ASSERT_EQ(p.size(), static_cast<size_t>(test.count * 10));
    if (round == 0) after_first = settled_rss();
  }
  const int64_t after_last = settled_rss();
  EXPECT_LT(after_last - after_first, int64_t{1} << 20)
      << "resident set after round 1: " << memory::readable_bytes(after_first)
      << ", after round 50: " << memory::readable_bytes(after_last);
}

}  // namespace
}  // namespace leantrain::train

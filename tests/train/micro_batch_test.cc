// CompileOptions::micro_batches: a step of batch B runs k micro-steps of B/k rows that accumulate
// gradients, then one update; on a model without batch statistics or dropout it trains as the
// full batch does (up to summation order), in a smaller training arena; a batch size that k does
// not divide is refused; the plan explanation says batch-norm statistics are per micro-batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/data/sources.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/trainer.h"
#include "quadrant_images.h"

namespace leantrain::train {
namespace {

// Conv + dense, no BatchNormalization and no Dropout.
nn::Sequential conv_dense() {
  return nn::Sequential(
      Shape{12, 12, 1},
      {nn::Conv2D({.filters = 8, .kernel_size = 3, .activation = "relu"}),
       nn::Conv2D({.filters = 8, .kernel_size = 3, .activation = "relu"}), nn::MaxPooling2D(),
       nn::Flatten(), nn::Dense({.units = 16, .activation = "relu"}), nn::Dense({.units = 4})});
}

struct TrainingRun {
  std::vector<double> losses;  // per step
  std::vector<double> accuracies;
  std::vector<std::vector<float>> weights;
};

// 10 steps of batch 16 (one step per epoch, no shuffling: the same batches for every k).
TrainingRun train(const Optimizer& optimizer, int micro_batches, int64_t budget_bytes = 0) {
  Trainer t(conv_dense(), {.optimizer = optimizer,
                           .seed = 7,
                           .memory_budget_bytes = budget_bytes,
                           .micro_batches = micro_batches});
  const data::LabeledImages images = quadrant_images(16, 3);
  const History h = t.fit(images, {.epochs = 10, .batch_size = 16, .shuffle = false, .verbose = 0});
  TrainingRun r;
  for (const EpochLogs& e : h.epochs) {
    r.losses.push_back(e.get("loss"));
    r.accuracies.push_back(e.get("accuracy"));
  }
  r.weights = t.get_weights();
  return r;
}

void expect_same_training(const TrainingRun& a, const TrainingRun& b, const std::string& what) {
  ASSERT_EQ(a.losses.size(), 10u) << what;
  ASSERT_EQ(b.losses.size(), a.losses.size()) << what;
  for (size_t s = 0; s < a.losses.size(); ++s) {
    EXPECT_NEAR(b.losses[s], a.losses[s], 1e-5 * std::abs(a.losses[s])) << what << " step " << s;
    EXPECT_EQ(b.accuracies[s], a.accuracies[s]) << what << " step " << s;
  }
  ASSERT_EQ(b.weights.size(), a.weights.size());
  for (size_t v = 0; v < a.weights.size(); ++v) {
    for (size_t i = 0; i < a.weights[v].size(); ++i) {
      const float x = a.weights[v][i];
      ASSERT_NEAR(b.weights[v][i], x, 1e-5f * std::max(1.0f, std::abs(x)))
          << what << " variable " << v << " element " << i;
    }
  }
}

TEST(MicroBatchTest, SgdTrainsAsTheFullBatch) {
  const Optimizer sgd = SGD({.learning_rate = 0.05f, .momentum = 0.9f});
  const TrainingRun full = train(sgd, 1);
  // Training moved: the comparison is not between two untouched models.
  ASSERT_LT(full.losses.back(), full.losses.front());
  expect_same_training(full, train(sgd, 2), "SGD, k=2");
  expect_same_training(full, train(sgd, 4), "SGD, k=4");
}

TEST(MicroBatchTest, AdamTrainsAsTheFullBatch) {
  const Optimizer adam = Adam({.learning_rate = 0.01f});
  const TrainingRun full = train(adam, 1);
  ASSERT_LT(full.losses.back(), full.losses.front());
  expect_same_training(full, train(adam, 2), "Adam, k=2");
  expect_same_training(full, train(adam, 4), "Adam, k=4");
}

TEST(MicroBatchTest, PartialLastBatchTrainsAsTheFullBatch) {
  // 22 examples in batches of 8: the last batch of 6 runs as micro-batches of 2 under k=4.
  const data::LabeledImages images = quadrant_images(22, 5);
  std::vector<std::vector<float>> weights[2];
  double loss[2];
  for (const int k : {1, 4}) {
    Trainer t(conv_dense(),
              {.optimizer = SGD({.learning_rate = 0.05f}), .seed = 3, .micro_batches = k});
    const History h = t.fit(images, {.epochs = 2, .batch_size = 8, .shuffle = false, .verbose = 0});
    weights[k == 4] = t.get_weights();
    loss[k == 4] = h.epochs.back().get("loss");
  }
  EXPECT_NEAR(loss[1], loss[0], 1e-5 * std::abs(loss[0]));
  for (size_t v = 0; v < weights[0].size(); ++v) {
    for (size_t i = 0; i < weights[0][v].size(); ++i) {
      ASSERT_NEAR(weights[1][v][i], weights[0][v][i],
                  1e-5f * std::max(1.0f, std::abs(weights[0][v][i])));
    }
  }
}

TEST(MicroBatchTest, DatasetBatchesAreStagedAndTrainAsTheFullBatch) {
  // The Batcher's scaling as a map, so images and the Dataset feed the same pixels; 22 examples
  // in batches of 8, the last batch of 6.
  const data::LabeledImages images = quadrant_images(22, 6);
  Trainer full(conv_dense(), {.optimizer = SGD({.learning_rate = 0.05f}), .seed = 4});
  full.fit(images, {.epochs = 2, .batch_size = 8, .shuffle = false, .verbose = 0});
  Trainer micro(conv_dense(),
                {.optimizer = SGD({.learning_rate = 0.05f}), .seed = 4, .micro_batches = 4});
  const data::Dataset dataset =
      data::labeled_images_dataset(images).map(data::scale_image_to_unit).batch(8);
  micro.fit(dataset, {.epochs = 2, .verbose = 0});
  EXPECT_EQ(micro.iterations(), full.iterations());
  const std::vector<std::vector<float>> a = full.get_weights(), b = micro.get_weights();
  for (size_t v = 0; v < a.size(); ++v) {
    for (size_t i = 0; i < a[v].size(); ++i) {
      ASSERT_NEAR(b[v][i], a[v][i], 1e-5f * std::max(1.0f, std::abs(a[v][i])))
          << "variable " << v << " element " << i;
    }
  }
}

TEST(MicroBatchTest, TrainingArenaShrinks) {
  Trainer full(conv_dense(), {.seed = 1});
  Trainer micro(conv_dense(), {.seed = 1, .micro_batches = 4});
  const MemoryReport a = full.plan(64);
  const MemoryReport b = micro.plan(64);
  EXPECT_LT(b.train_arena_bytes, a.train_arena_bytes);
  EXPECT_EQ(b.micro_batches, 4);
  // The staging area: 64 images of 12x12x1 f32 and 64 i32 labels.
  EXPECT_EQ(b.staging_bytes, 64 * (12 * 12 * 4 + 4));
  EXPECT_EQ(a.staging_bytes, 0);
  EXPECT_NE(b.plan_explanation.to_string().find(
                "micro-batching: 4 micro-batches of 16; batch-norm statistics "
                "are computed per micro-batch"),
            std::string::npos)
      << b.plan_explanation.to_string();
  // The micro-batch program has no update nodes; its gradients are accumulated.
  const graph::Graph& g = micro.training_program(64).graph();
  int accumulate = 0;
  for (const graph::Node& n : g.nodes()) {
    EXPECT_NE(n.phase, graph::Phase::kUpdate) << n.name;
    accumulate += n.op->type() == "Accumulate";
  }
  EXPECT_EQ(accumulate, static_cast<int>(full.model().variables().size()));
}

TEST(MicroBatchTest, RefusesABatchKDoesNotDivide) {
  Trainer t(conv_dense(), {.micro_batches = 4});
  try {
    t.plan(10);
    FAIL() << "batch 10 with 4 micro-batches was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    const std::string m = e.what();
    EXPECT_NE(m.find("batch_size 10"), std::string::npos) << m;
    EXPECT_NE(m.find("micro_batches 4"), std::string::npos) << m;
  }
  const data::LabeledImages images = quadrant_images(20, 1);
  EXPECT_THROW(t.fit(images, {.epochs = 1, .batch_size = 6, .verbose = 0}), Error);
  EXPECT_THROW(Trainer(conv_dense(), {.micro_batches = -1}), Error);
}

TEST(MicroBatchTest, BatchNormPlanSaysStatisticsArePerMicroBatch) {
  const nn::Sequential model(
      Shape{12, 12, 1}, {nn::Conv2D({.filters = 4, .kernel_size = 3}), nn::BatchNormalization(),
                         nn::Flatten(), nn::Dense({.units = 4})});
  Trainer t(model, {.seed = 2, .micro_batches = 2});
  const MemoryReport r = t.plan(8);
  EXPECT_NE(
      r.plan_explanation.to_string().find("batch-norm statistics are computed per micro-batch"),
      std::string::npos)
      << r.plan_explanation.to_string();
  EXPECT_NE(r.to_string().find("micro-batching: 2 micro-batches of 4"), std::string::npos);
  const History h = t.fit(quadrant_images(16, 4), {.epochs = 1, .batch_size = 8, .verbose = 0});
  EXPECT_TRUE(std::isfinite(h.epochs[0].get("loss")));
}

TEST(MicroBatchTest, AutoSplitsOnlyWhenNoWholeBatchPlanFitsAndTrainsAsThatK) {
  constexpr int64_t kBatch = 16;
  const Optimizer sgd = SGD({.learning_rate = 0.05f});
  // Automatic micro-batching under a budget keeps gradients persistent (they may accumulate):
  // so does the probe, for the same persistent block.
  Trainer probe(conv_dense(), {.optimizer = sgd, .seed = 7, .keep_gradients = true});
  const int64_t persistent = probe.store().total_bytes();
  // The smallest whole-batch plan (keep all or rematerialization), asked of a budget nothing
  // fits; one byte less is the budget.
  const BatchPlan whole = probe.plan_for_budget(kBatch, persistent + 1);
  ASSERT_FALSE(whole.fits);
  const int64_t budget = whole.min_bytes - 1;

  Trainer t(conv_dense(), {.optimizer = sgd,
                           .seed = 7,
                           .memory_budget_bytes = budget,
                           .micro_batches = kAutoMicroBatches});
  const MemoryReport r = t.plan(kBatch);
  EXPECT_EQ(r.plan_kind, PlanKind::kMicroBatching);
  ASSERT_GE(r.micro_batches, 2);
  EXPECT_EQ(kBatch % r.micro_batches, 0);
  EXPECT_GT(r.staging_bytes, 0);
  EXPECT_LE(r.persistent_bytes + r.arena_bytes + r.staging_bytes, budget);
  EXPECT_NE(r.plan_explanation.to_string().find("no whole-batch plan fits"), std::string::npos)
      << r.plan_explanation.to_string();
  EXPECT_NE(
      r.plan_explanation.to_string().find("batch-norm statistics are computed per micro-batch"),
      std::string::npos)
      << r.plan_explanation.to_string();
  // Training under the budget is training with that k fixed, bit for bit.
  const TrainingRun automatic = train(sgd, kAutoMicroBatches, budget);
  const TrainingRun fixed = train(sgd, r.micro_batches);
  EXPECT_EQ(automatic.losses, fixed.losses);
  EXPECT_EQ(automatic.weights, fixed.weights);

  // A budget a whole-batch plan fits: no split.
  Trainer ample(conv_dense(), {.optimizer = sgd,
                               .seed = 7,
                               .memory_budget_bytes = whole.min_bytes,
                               .micro_batches = kAutoMicroBatches});
  EXPECT_EQ(ample.plan(kBatch).micro_batches, 1);
  EXPECT_NE(ample.plan(kBatch).plan_kind, PlanKind::kMicroBatching);

  // Below the smallest micro-batch plan: the error names it and its bytes.
  const BatchPlan micro = t.plan_for_budget(kBatch, persistent + 1);
  ASSERT_FALSE(micro.fits);
  EXPECT_EQ(micro.plan_kind, PlanKind::kMicroBatching);
  ASSERT_GE(micro.micro_batches, 2);
  EXPECT_LT(micro.min_bytes, whole.min_bytes);
  EXPECT_TRUE(t.plan_for_budget(kBatch, micro.min_bytes).fits);
  Trainer tight(conv_dense(), {.optimizer = sgd,
                               .seed = 7,
                               .memory_budget_bytes = micro.min_bytes - 1,
                               .micro_batches = kAutoMicroBatches});
  try {
    tight.plan(kBatch);
    ADD_FAILURE() << "expected Error(kOutOfBudget)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfBudget);
    const std::string expected = "batch 16 needs " + memory::format_iec_bytes(micro.min_bytes) +
                                 " with its smallest plan (persistent";
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(" micro-batches of "), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace leantrain::train

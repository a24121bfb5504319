// A Keras to_json() of a small Sequential and of a small Functional model (hand-written
// fixtures, tests/nn/fixtures) load and train.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "leantrain/core/rng.h"
#include "leantrain/nn/serialization.h"
#include "leantrain/train/trainer.h"
#include "train/quadrant_images.h"

namespace leantrain::train {
namespace {

std::string read_fixture(const std::string& name) {
  const std::filesystem::path path =
      std::filesystem::path(LEANTRAIN_TESTS_DIR) / "nn" / "fixtures" / name;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Records the running loss Keras reports after each batch.
class BatchLosses : public Callback {
 public:
  void on_train_batch_end(Trainer&, int64_t, const Logs& logs) override {
    losses.push_back(logs.at("loss"));
  }
  std::vector<double> losses;
};

// Trains `json`'s model for 20 SGD steps (4 epochs of 5 batches of 32) and checks that every
// reported loss is finite and that the last epoch's mean loss is below the first's.
void expect_trains(const std::string& json, const Loss& loss) {
  const nn::Model model = nn::model_from_json(json);
  const data::LabeledImages train = quadrant_images(160, 21);
  Trainer trainer(
      model,
      {.optimizer = SGD({.learning_rate = 0.05f, .momentum = 0.9f}), .loss = loss, .seed = 5});
  auto batches = std::make_shared<BatchLosses>();
  std::ostringstream out;
  const History h = trainer.fit(
      train, {.epochs = 4, .batch_size = 32, .callbacks = {batches}, .verbose = 0, .out = &out});
  EXPECT_EQ(trainer.iterations(), 20);
  ASSERT_EQ(batches->losses.size(), 20u);
  for (double l : batches->losses) EXPECT_TRUE(std::isfinite(l)) << l;
  ASSERT_EQ(h.epochs.size(), 4u);
  EXPECT_LT(h.epochs.back().get("loss"), h.epochs.front().get("loss"));
}

TEST(KerasJsonTrainingTest, Keras3SequentialFixtureLoadsAndTrains) {
  // Its classifier ends in softmax: the loss reads probabilities.
  expect_trains(read_fixture("keras3_sequential.json"),
                SparseCategoricalCrossentropy({.from_logits = false}));
}

TEST(KerasJsonTrainingTest, Keras3FunctionalFixtureLoadsAndTrains) {
  // Its last Dense is linear: logits.
  expect_trains(read_fixture("keras3_functional.json"),
                SparseCategoricalCrossentropy({.from_logits = true}));
}

}  // namespace
}  // namespace leantrain::train

#include "leantrain/train/trainer.h"

#include <gtest/gtest.h>

#include <sstream>

#include "leantrain/core/rng.h"
#include "leantrain/data/batcher.h"
#include "leantrain/runtime/program.h"
#include "testing/testing.h"
#include "train/progress.h"

namespace leantrain::train {
namespace {

// Images whose class is which quadrant holds a bright blob, plus noise: learnable in a few
// epochs by a small convnet.
data::LabeledImages quadrant_images(int64_t count, uint64_t seed) {
  data::LabeledImages d;
  d.count = count;
  d.height = 12;
  d.width = 12;
  d.channels = 1;
  d.num_classes = 4;
  d.pixels.resize(static_cast<size_t>(count * 144));
  d.labels.resize(static_cast<size_t>(count));
  Rng rng(seed);
  for (int64_t i = 0; i < count; ++i) {
    const auto label = static_cast<int32_t>(rng.below(4));
    d.labels[static_cast<size_t>(i)] = label;
    const int64_t top = (label / 2) * 6, left = (label % 2) * 6;
    for (int64_t y = 0; y < 12; ++y) {
      for (int64_t x = 0; x < 12; ++x) {
        const bool blob = y >= top + 1 && y < top + 5 && x >= left + 1 && x < left + 5;
        const float v = (blob ? 180.0f : 20.0f) + rng.uniform(0.0f, 60.0f);
        d.pixels[static_cast<size_t>(i * 144 + y * 12 + x)] = static_cast<uint8_t>(v);
      }
    }
  }
  return d;
}

nn::Sequential small_cnn(uint64_t seed = 0) {
  return nn::Sequential(
      Shape{12, 12, 1},
      {nn::Conv2D({.filters = 4, .kernel_size = 3, .activation = "relu"}), nn::MaxPooling2D(),
       nn::Flatten(), nn::Dense({.units = 16, .activation = "relu"}),
       nn::Dropout({.rate = 0.25f, .seed = seed}), nn::Dense({.units = 4})});
}

TEST(TrainerTest, LearnsASeparableProblemAndHandlesThePartialBatch) {
  const data::LabeledImages train = quadrant_images(300, 1), test = quadrant_images(100, 2);
  const nn::Sequential model = small_cnn();
  Trainer trainer(model, {.optimizer = Adam({.learning_rate = 0.01f}), .seed = 3});
  std::ostringstream out;
  const History h =
      trainer.fit(train, {.epochs = 4, .batch_size = 32, .validation_data = &test, .out = &out});
  ASSERT_EQ(h.epochs.size(), 4u);
  EXPECT_LT(h.epochs.back().loss, h.epochs.front().loss);
  EXPECT_GT(*h.epochs.back().val_accuracy, 0.9);
  EXPECT_EQ(trainer.iterations(), 4 * 10);  // 300 = 9 * 32 + 12: ten steps per epoch
  EXPECT_TRUE(trainer.training_program(12).all_pointers_inside());
  EXPECT_NE(out.str().find("Epoch 4/4"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("10/10 ━━━━━━━━━━━━━━━━━━━━"), std::string::npos) << out.str();
  const EvalResult r = trainer.evaluate(test, 64);
  EXPECT_NEAR(r.accuracy, *h.epochs.back().val_accuracy, 1e-9);
}

TEST(TrainerTest, SameSeedSameRunOtherSeedOtherRun) {
  const data::LabeledImages train = quadrant_images(96, 5);
  auto run = [&](uint64_t seed) {
    const nn::Sequential model = small_cnn(seed);
    Trainer trainer(model,
                    {.optimizer = SGD({.learning_rate = 0.05f, .momentum = 0.9f}), .seed = seed});
    std::ostringstream out;
    return trainer.fit(train, {.epochs = 2, .batch_size = 16, .verbose = 0, .out = &out})
        .epochs.back()
        .loss;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

TEST(TrainerTest, FastAndReferenceKernelsTrainAlike) {
  const data::LabeledImages train = quadrant_images(64, 9);
  auto run = [&](graph::KernelChoice k) {
    const nn::Sequential model = small_cnn();
    Trainer trainer(model,
                    {.optimizer = AdamW({.learning_rate = 0.005f}), .seed = 1, .kernels = k});
    std::ostringstream out;
    return trainer.fit(train, {.epochs = 2, .batch_size = 16, .verbose = 0, .out = &out})
        .epochs.back()
        .loss;
  };
  EXPECT_NEAR(run(graph::KernelChoice::kFast), run(graph::KernelChoice::kReference), 1e-3);
}

// A whole training graph (conv, batch norm, pooling, flatten, dense, dropout, loss) against
// central differences: perturb sampled parameters in the store, rerun the step, read the loss.
// The learning rate is so small that the update leaves every float parameter unchanged. The
// activations are smooth ones: relu and max-pool kinks lie everywhere in a whole network and
// are checked op by op (tests/ops) with inputs kept away from them.
TEST(TrainerTest, WholeModelGradientMatchesCentralDifferences) {
  const data::LabeledImages train = quadrant_images(8, 4);
  for (graph::KernelChoice k : {graph::KernelChoice::kReference, graph::KernelChoice::kFast}) {
    const nn::Sequential model(Shape{12, 12, 1},
                               {nn::Conv2D({.filters = 4, .kernel_size = 3, .activation = "swish"}),
                                nn::BatchNormalization(), nn::AveragePooling2D(), nn::Flatten(),
                                nn::Dense({.units = 16, .activation = "tanh"}),
                                nn::Dropout({.rate = 0.25f}), nn::Dense({.units = 4})});
    Trainer trainer(model, {.optimizer = SGD({.learning_rate = 1e-30f}), .seed = 2, .kernels = k});
    runtime::Program& p = trainer.training_program(8);
    data::Batcher batcher(train, 8, false, 0);
    batcher.start_epoch(0);
    const graph::StepState state{5, 1e-30f, 9};
    auto loss = [&]() -> double {
      // Inputs are consumed by the step (their bytes are reused once read): refill every run.
      batcher.fill(0, p.view("input").f32(), p.view("labels").i32());
      p.run(state);
      return p.view("loss").f32()[0];
    };
    for (const nn::ModelVariable& v : model.variables()) {
      if (!v.variable.trainable) continue;
      loss();  // gradients at the unperturbed parameters
      const TensorView param = trainer.store().view(v.full_name());
      const TensorView grad = trainer.store().view(v.full_name() + "/grad");
      const std::vector<float> analytic(grad.f32(), grad.f32() + grad.num_elements());
      // Check every element of small tensors and a stride through big ones.
      const int64_t stride = std::max<int64_t>(1, param.num_elements() / 40);
      for (int64_t i = 0; i < param.num_elements(); i += stride) {
        std::vector<float> x{param.f32()[i]};
        auto f = [&]() {
          param.f32()[i] = x[0];
          return loss();
        };
        EXPECT_TRUE(testing::gradient_check(f, {&x}, {{analytic[static_cast<size_t>(i)]}}, 1e-2,
                                            3e-2, 3e-4))
            << v.full_name() << "[" << i << "]";
        param.f32()[i] = x[0];
      }
    }
  }
}

TEST(TrainerTest, PlanIsKnownBeforeTheFirstStepAndReusesBuffers) {
  const nn::Sequential model = small_cnn();
  Trainer trainer(model, {});
  const MemoryReport r = trainer.plan(64);
  EXPECT_EQ(trainer.iterations(), 0);
  const int64_t params = model.count_params(true) * 4;
  EXPECT_EQ(r.parameters_bytes, params);
  EXPECT_EQ(r.gradients_bytes, params);
  EXPECT_EQ(r.optimizer_bytes, 2 * params);  // Adam: m and v
  EXPECT_LT(r.train_arena_bytes, r.step_buffers_bytes);
  EXPECT_EQ(r.predicted_peak_bytes, r.persistent_bytes + r.arena_bytes);
  EXPECT_GT(r.kept_for_backward_bytes, 0);
  EXPECT_NE(r.to_string().find("predicted peak"), std::string::npos);
}

TEST(TrainerTest, RejectsDataThatDoesNotFitTheModel) {
  data::LabeledImages wrong = quadrant_images(10, 1);
  wrong.num_classes = 7;
  const nn::Sequential model = small_cnn();
  Trainer trainer(model, {});
  std::ostringstream out;
  EXPECT_THROW(trainer.fit(wrong, {.out = &out}), Error);
}

TEST(ProgressTest, FormatsLikeKeras) {
  EXPECT_EQ(format_metric(0.52413), "0.5241");
  EXPECT_EQ(format_metric(0.0001234), "1.2340e-04");
  EXPECT_EQ(format_per_step(0.0123), "12ms/step");
  EXPECT_EQ(format_per_step(2.4), "2s/step");
  EXPECT_EQ(format_per_step(0.00045), "450us/step");
  EXPECT_EQ(format_eta(7.9), "7s");
  EXPECT_EQ(format_eta(65), "1:05");
  EXPECT_EQ(format_eta(3723), "1:02:03");
  std::ostringstream out;
  ProgressBar bar(469, out, /*dynamic=*/false);
  bar.update(469, {{"loss", 0.5}, {"accuracy", 0.8}}, "", true);
  EXPECT_NE(out.str().find("469/469 ━━━━━━━━━━━━━━━━━━━━ "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find(" - accuracy: 0.8000 - loss: 0.5000"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace leantrain::train

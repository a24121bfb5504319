// Zoo models and the zoo's extra layers through the trainer: MobileNetV2 (alpha 0.35, 32x32x1)
// compiles and runs SGD steps with finite losses, the first of which agrees between kernel
// choices; an
// EfficientNet-style block (Rescaling, Normalization, squeeze-and-excitation, per-example
// dropout) does the same; Normalization and GlobalMaxPooling2D predict Keras' values;
// EfficientNetB0 trains once the trainer knows its initializers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "leantrain/nn/zoo.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/trainer.h"

namespace leantrain::train {
namespace {

using graph::KernelChoice;

// `count` images of random pixels (never all zero) with random labels, fixed by `seed`.
data::LabeledImages random_images(int64_t count, int64_t height, int64_t width, int64_t channels,
                                  int32_t classes, uint64_t seed) {
  data::LabeledImages d;
  d.count = count;
  d.height = height;
  d.width = width;
  d.channels = channels;
  d.num_classes = classes;
  Rng rng(seed);
  d.pixels.resize(static_cast<size_t>(count * height * width * channels));
  for (uint8_t& p : d.pixels) p = static_cast<uint8_t>(1 + rng.below(255));
  for (int64_t i = 0; i < count; ++i) {
    d.labels.push_back(static_cast<int32_t>(rng.below(static_cast<uint64_t>(classes))));
  }
  return d;
}

// Trains `model` for one epoch of `steps` steps of `batch` images with plain SGD and returns the
// epoch's mean loss.
double train_steps(const nn::Model& model, const data::LabeledImages& data, int64_t batch,
                   KernelChoice kernels) {
  Trainer trainer(
      model,
      {.optimizer = SGD({.learning_rate = 0.01f}), .seed = 5, .kernels = {.choice = kernels}});
  std::ostringstream out;
  const History h = trainer.fit(
      data, {.epochs = 1, .batch_size = batch, .shuffle = false, .verbose = 0, .out = &out});
  EXPECT_EQ(trainer.iterations(), data.count / batch);
  EXPECT_TRUE(trainer.training_program(batch).all_pointers_inside());
  return h.epochs.at(0).get("loss");
}

// Records the running mean loss after each step and turns it back into per-step losses.
class StepLosses final : public Callback {
 public:
  void on_train_batch_end(Trainer&, int64_t batch, const Logs& logs) override {
    const double k = static_cast<double>(batch + 1);
    const double running = logs.at("loss");
    losses.push_back(k * running - (k - 1) * previous_running_);
    previous_running_ = running;
  }
  std::vector<double> losses;

 private:
  double previous_running_ = 0;
};

TEST(ZooTrainingTest, MobileNetV2Alpha035TrainsWithEitherKernels) {
  const data::LabeledImages data = random_images(12, 32, 32, 1, 10, 1);  // 3 steps of 4
  auto step_losses = [&](KernelChoice k) {
    Trainer trainer(
        nn::make_model("mobilenet_v2", Shape{32, 32, 1}, 10, 0, {.alpha = 0.35}),
        {.optimizer = SGD({.learning_rate = 0.01f}), .seed = 5, .kernels = {.choice = k}});
    auto steps = std::make_shared<StepLosses>();
    std::ostringstream out;
    trainer.fit(data, {.epochs = 1,
                       .batch_size = 4,
                       .shuffle = false,
                       .callbacks = {steps},
                       .verbose = 0,
                       .out = &out});
    EXPECT_EQ(trainer.iterations(), 3);
    EXPECT_TRUE(trainer.training_program(4).all_pointers_inside());
    return steps->losses;
  };
  const std::vector<double> fast = step_losses(KernelChoice::kFast);
  const std::vector<double> reference = step_losses(KernelChoice::kReference);
  ASSERT_EQ(fast.size(), 3u);
  ASSERT_EQ(reference.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(std::isfinite(fast[i]) && std::isfinite(reference[i]))
        << "step " << i + 1 << ": " << fast[i] << " / " << reference[i];
    // Ten classes from near-random logits: a cross-entropy of order ln 10, not 0.
    EXPECT_GT(fast[i], 0.5) << "step " << i + 1;
  }
  // The first step runs both kernel sets on the same weights: the losses agree to rounding.
  // Later steps are not compared: at batch 4 the batch norms of the 1x1 and 2x2 stages normalize
  // over 4 to 16 values, which makes the first layers' gradients ill-conditioned (the fast
  // kernels alone, on 1 or on 2 OpenMP threads, give first-layer updates ~30% apart while the
  // classifier's agree to 1e-4), so after one update the two runs follow different paths.
  EXPECT_NEAR(fast[0], reference[0], 1e-3 * std::fabs(reference[0]));
}

// An EfficientNet block in miniature: the stem's Rescaling and Normalization, a swish
// convolution, squeeze-and-excitation, and a residual branch with per-example dropout.
nn::Model efficientnet_style_block() {
  nn::Tensor in = nn::Input({.shape = {8, 8, 3}});
  nn::Tensor x = nn::Rescaling({.scale = 1.0f / 255.0f})(in);
  x = nn::Normalization({.axis = 3})(x);
  x = nn::Conv2D({.filters = 8, .kernel_size = 3, .strides = 2, .padding = "same"})(x);
  x = nn::BatchNormalization()(x);
  x = nn::Activation("swish")(x);
  nn::Tensor se = nn::GlobalAveragePooling2D({.keepdims = true})(x);
  se = nn::Conv2D({.filters = 2, .kernel_size = 1, .activation = "swish"})(se);
  se = nn::Conv2D({.filters = 8, .kernel_size = 1, .activation = "sigmoid"})(se);
  nn::Tensor y = nn::Multiply()({x, se});
  y = nn::Conv2D({.filters = 8, .kernel_size = 1, .use_bias = false})(y);
  y = nn::BatchNormalization()(y);
  y = nn::Dropout({.rate = 0.5f}, {nn::kNoneDim, 1, 1, 1})(y);
  y = nn::Add()({y, x});
  y = nn::GlobalMaxPooling2D()(y);
  y = nn::Dense({.units = 4})(y);
  return nn::Model(in, y, "block");
}

TEST(ZooTrainingTest, EfficientNetStyleBlockTrainsWithEitherKernels) {
  const data::LabeledImages data = random_images(24, 8, 8, 3, 4, 2);  // 3 steps of 8
  const double fast = train_steps(efficientnet_style_block(), data, 8, KernelChoice::kFast);
  const double reference =
      train_steps(efficientnet_style_block(), data, 8, KernelChoice::kReference);
  EXPECT_TRUE(std::isfinite(fast)) << fast;
  EXPECT_NEAR(fast, reference, 1e-3 * std::max(1.0, std::fabs(reference)));
  // The per-example dropout node is in the training program, and nothing else keeps a mask.
  Trainer trainer(efficientnet_style_block(), {.seed = 1});
  bool found = false;
  for (const graph::Node& node : trainer.training_program(8).graph().nodes()) {
    found = found || node.op->type() == "PerExampleDropout";
  }
  EXPECT_TRUE(found);
}

TEST(ZooTrainingTest, NormalizationAndGlobalMaxPoolingPredictKerasValues) {
  // Input (3, 3, 2) -> Normalization(mean (0.2, 0.4), variance (0.25, 4)) -> GlobalMaxPooling2D
  // -> Dense with an identity kernel: each output is max over pixels of (x - mean) / sqrt(var).
  nn::Tensor in = nn::Input({.shape = {3, 3, 2}});
  nn::Tensor x = nn::Normalization()(in);
  x = nn::GlobalMaxPooling2D()(x);
  x = nn::Dense({.units = 2})(x);
  const nn::Model model(in, x);
  const data::LabeledImages data = random_images(5, 3, 3, 2, 2, 4);
  const float mean[2] = {0.2f, 0.4f}, stddev[2] = {0.5f, 2.0f};
  for (KernelChoice k : {KernelChoice::kFast, KernelChoice::kReference}) {
    Trainer trainer(model, {.seed = 3, .kernels = {.choice = k}});
    // Variables in order: mean, variance, count; kernel, bias.
    trainer.set_weights({{0.2f, 0.4f}, {0.25f, 4.0f}, {0.0f}, {1, 0, 0, 1}, {0, 0}});
    const std::vector<float> y = trainer.predict(data, 2);
    ASSERT_EQ(y.size(), 10u);
    for (int64_t i = 0; i < 5; ++i) {
      for (int64_t c = 0; c < 2; ++c) {
        float expected = -1e30f;
        for (int64_t p = 0; p < 9; ++p) {
          const float v = data.pixels[static_cast<size_t>((i * 9 + p) * 2 + c)] / 255.0f;
          expected = std::max(expected, (v - mean[c]) / stddev[c]);
        }
        EXPECT_NEAR(y[static_cast<size_t>(i * 2 + c)], expected, 1e-5) << i << ", " << c;
      }
    }
  }
}

TEST(ZooTrainingTest, EfficientNetB0Trains) {
  const nn::Model model = nn::make_model("efficientnet_b0", Shape{32, 32, 3}, 5);
  const data::LabeledImages data = random_images(8, 32, 32, 3, 5, 6);  // 2 steps of 4
  const double loss = train_steps(model, data, 4, KernelChoice::kFast);
  EXPECT_TRUE(std::isfinite(loss)) << loss;
}

}  // namespace
}  // namespace leantrain::train

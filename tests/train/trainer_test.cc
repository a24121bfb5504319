#include "leantrain/train/trainer.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>
#include <tuple>

#include "leantrain/core/rng.h"
#include "leantrain/data/batcher.h"
#include "leantrain/runtime/program.h"
#include "testing/testing.h"
#include "train/progress.h"
#include "train/quadrant_images.h"

namespace leantrain::train {
namespace {

using nn::Sequential;

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
  const History h = trainer.fit(
      train, {.epochs = 4, .batch_size = 32, .validation_data = test.view(), .out = &out});
  ASSERT_EQ(h.epochs.size(), 4u);
  EXPECT_LT(h.epochs.back().get("loss"), h.epochs.front().get("loss"));
  EXPECT_GT(h.epochs.back().get("val_accuracy"), 0.9);
  EXPECT_EQ(trainer.iterations(), 4 * 10);  // 300 = 9 * 32 + 12: ten steps per epoch
  EXPECT_TRUE(trainer.training_program(12).all_pointers_inside());
  EXPECT_NE(out.str().find("Epoch 4/4"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("10/10 ━━━━━━━━━━━━━━━━━━━━"), std::string::npos) << out.str();
  const EvalResult r = trainer.evaluate(test, 64);
  EXPECT_NEAR(r.logs.at("accuracy"), h.epochs.back().get("val_accuracy"), 1e-9);
}

// A trainer built again with other compile options (as fit(memory_budget=...) does from
// Python) goes on from the old one's state: two epochs split across two trainers give the
// weights of two epochs in one, bit for bit; carrying the weights alone does not (Adam's moments
// and step count matter).
TEST(TrainerTest, CopiedTrainingStateGoesOnAsTheSameTrainerWould) {
  const data::LabeledImages train = quadrant_images(96, 5);
  const CompileOptions options{.optimizer = Adam({.learning_rate = 0.01f}), .seed = 7};
  const FitOptions epoch{.epochs = 1, .batch_size = 32, .verbose = 0};
  Trainer whole(small_cnn(), options);
  FitOptions two = epoch;
  two.epochs = 2;
  whole.fit(train, two);

  Trainer first(small_cnn(), options);
  first.fit(train, epoch);
  CompileOptions other = options;
  other.allocator.mode = memory::AllocatorMode::kGrow;
  other.memory_budget_bytes = int64_t{1} << 30;
  FitOptions second_epoch = epoch;
  second_epoch.epochs = 2;
  second_epoch.initial_epoch = 1;
  Trainer carried(small_cnn(), other), weights_only(small_cnn(), other);
  carried.copy_training_state(first);
  weights_only.set_weights(first.get_weights());
  EXPECT_EQ(carried.iterations(), first.iterations());
  carried.fit(train, second_epoch);
  weights_only.fit(train, second_epoch);

  const std::vector<std::vector<float>> expected = whole.get_weights(),
                                        actual = carried.get_weights(),
                                        fresh_optimizer = weights_only.get_weights();
  ASSERT_EQ(expected.size(), actual.size());
  bool optimizer_state_mattered = false;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(expected[i], actual[i]) << "variable " << i;
    optimizer_state_mattered |= expected[i] != fresh_optimizer[i];
  }
  EXPECT_TRUE(optimizer_state_mattered);
}

TEST(TrainerTest, TrainingStateDoesNotCarryToAnotherOptimizerAndChangesNothing) {
  Trainer adam(small_cnn(), {.optimizer = Adam({}), .seed = 1});
  Trainer sgd(small_cnn(), {.optimizer = SGD({.momentum = 0.9f}), .seed = 2});
  const std::vector<std::vector<float>> before = sgd.get_weights();
  try {
    sgd.copy_training_state(adam);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("copy_training_state"), std::string::npos) << e.what();
  }
  EXPECT_EQ(sgd.get_weights(), before);
}

// A step whose loss is not finite is not applied, and fit says where its forward pass first
// produced a NaN or an infinity: with a learning rate that blows the logits up, the layer that
// overflowed. The weights stay finite.
TEST(TrainerTest, ANonFiniteLossIsNotAppliedAndTheLayerThatProducedItIsNamed) {
  const data::LabeledImages images = quadrant_images(64, 8);
  Trainer blown(small_cnn(), {.optimizer = SGD({.learning_rate = 1e30f}), .seed = 4});
  std::ostringstream out;
  const History h = blown.fit(images, {.epochs = 2, .batch_size = 16, .verbose = 2, .out = &out});
  EXPECT_FALSE(std::isfinite(h.epochs.back().get("loss")));
  EXPECT_TRUE(std::regex_search(
      out.str(),
      std::regex("Step [0-9]+ \\(batch [0-9] of this epoch\\): the loss is (nan|inf|-inf); the "
                 "first NaN or infinity is the output of [^(]*\\([A-Za-z]+[^)]*, forward\\)\\. "
                 "The step was not applied")))
      << out.str();
  for (const std::vector<float>& w : blown.get_weights()) {
    EXPECT_TRUE(std::all_of(w.begin(), w.end(), [](float v) { return std::isfinite(v); }));
  }

  // The same in micro-batches: the micro-step whose loss is not finite stops the step.
  Trainer micro(small_cnn(),
                {.optimizer = SGD({.learning_rate = 1e30f}), .seed = 4, .micro_batches = 2});
  std::ostringstream micro_out;
  micro.fit(images, {.epochs = 2, .batch_size = 16, .verbose = 2, .out = &micro_out});
  EXPECT_NE(micro_out.str().find("The step was not applied"), std::string::npos) << micro_out.str();
  for (const std::vector<float>& w : micro.get_weights()) {
    EXPECT_TRUE(std::all_of(w.begin(), w.end(), [](float v) { return std::isfinite(v); }));
  }
}

// A first layer that rescales the input batch in place leaves nothing to run again: fit says so
// instead of naming an op.
TEST(TrainerTest, ANonFiniteLossAfterAnInPlaceRescalingSaysTheStepCannotBeRunAgain) {
  const data::LabeledImages images = quadrant_images(64, 8);
  const nn::Sequential model(
      Shape{12, 12, 1},
      {nn::Rescaling({.scale = 1.0f / 255}), nn::Conv2D({.filters = 4, .kernel_size = 3}),
       nn::Flatten(), nn::Dense({.units = 4, .activation = "softmax"})});
  Trainer trainer(model, {.optimizer = SGD({.learning_rate = 1e36f}), .seed = 4});
  std::ostringstream out;
  trainer.fit(images, {.epochs = 2, .batch_size = 16, .verbose = 2, .out = &out});
  EXPECT_NE(out.str().find("the step overwrites its input batch in place, so it cannot be run "
                           "again to find the op that produced it. The step was not applied"),
            std::string::npos)
      << out.str();
}

// A NaN in float training data is refused before the step, naming where it is: a ReLU or a
// max-pooling may drop it in the forward pass (the loss stays finite) while the gradient still
// carries it into the weights.
TEST(TrainerTest, ANanPixelInFloatTrainingDataIsRefusedNamingIt) {
  const data::LabeledImages images = quadrant_images(64, 8);
  std::vector<float> pixels(images.pixels.begin(), images.pixels.end());
  pixels[20 * 144 + 2 * 12 + 5] = std::numeric_limits<float>::quiet_NaN();
  data::ImagesView view = images.view();
  view.pixels = pixels.data();
  view.dtype = DType::kF32;
  Trainer trainer(small_cnn(), {.seed = 4});
  try {
    trainer.fit(view, {.epochs = 1, .batch_size = 16, .shuffle = false, .verbose = 0});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("image 4 of a training batch holds nan at (row 2, "
                                         "column 5, channel 0)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(trainer.iterations(), 1);          // the first batch trained, the second was refused
  EXPECT_NO_THROW(trainer.predict(view, 16));  // inference takes it, as Keras does
}

// Labels the model has no output for are refused before any step, naming the first image that
// holds one and its label: small_cnn scores 4 classes, and image 9 is given label 6.
TEST(TrainerTest, ALabelBeyondTheModelsClassesIsRefusedNamingTheImage) {
  data::LabeledImages images = quadrant_images(32, 9);
  images.labels[9] = 6;
  images.num_classes = 7;
  Trainer trainer(small_cnn(), {.seed = 4});
  try {
    trainer.fit(images.view(), {.epochs = 1, .batch_size = 16, .verbose = 0});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(
                  "the data has 7 classes but the model's output has 4 units: image 9 has label 6 "
                  "(the model scores labels 0 to 3); build the model with 7 outputs"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(trainer.iterations(), 0);
}

// Batches of a LabeledImages, in order, as a generator would hand them over (u8 at scale 1/255,
// the view's own), counting the epochs started.
class ImageBatchProvider final : public BatchProvider {
 public:
  ImageBatchProvider(const data::LabeledImages& images, int64_t batch_size)
      : images_(images), batch_size_(batch_size) {}
  int64_t num_batches() const override { return -1; }
  void start_epoch(int64_t epoch) override {
    epochs_started.push_back(epoch);
    next_row_ = 0;
  }
  data::ImagesView next() override {
    data::ImagesView view = images_.view();
    view.count = std::min(batch_size_, images_.count - next_row_);
    const int64_t pixels = images_.height * images_.width * images_.channels;
    view.pixels = images_.pixels.data() + next_row_ * pixels;
    view.labels = images_.labels.data() + next_row_;
    next_row_ += view.count;
    return view;
  }
  std::vector<int64_t> epochs_started;

 private:
  const data::LabeledImages& images_;
  int64_t batch_size_ = 0, next_row_ = 0;
};

TEST(TrainerTest, BatchesFromAProviderTrainAsTheSameArraysUnshuffled) {
  const data::LabeledImages train = quadrant_images(100, 4);  // 3 batches of 32, then 4
  std::ostringstream out;
  const auto fit = [&](auto& data, int64_t batch_size) {
    Trainer trainer(small_cnn(2), {.optimizer = SGD({.learning_rate = 0.05f}), .seed = 2});
    const History h = trainer.fit(
        data, {.epochs = 2, .batch_size = batch_size, .shuffle = false, .verbose = 0, .out = &out});
    return std::make_pair(h.epochs.back().logs, trainer.get_weights());
  };
  ImageBatchProvider provider(train, 32);
  const auto [provided_logs, provided_weights] = fit(provider, 0);
  const auto [array_logs, array_weights] = fit(train, 32);
  EXPECT_EQ(provided_logs, array_logs);
  EXPECT_EQ(provided_weights, array_weights);  // bit for bit: the same batches in the same order
  EXPECT_EQ(provider.epochs_started, (std::vector<int64_t>{0, 1}));
}

TEST(TrainerTest, BatchesFromAProviderAreChecked) {
  data::LabeledImages other = quadrant_images(8, 1);
  other.height = other.width = 6;  // the model expects 12x12x1
  other.pixels.resize(static_cast<size_t>(8 * 36));
  ImageBatchProvider provider(other, 8);
  Trainer trainer(small_cnn(), {});
  std::ostringstream out;
  try {
    trainer.fit(provider, {.epochs = 1, .verbose = 0, .out = &out});
    ADD_FAILURE() << "no Error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("a batch's images are (6, 6, 1) but the model expects "
                                         "(12, 12, 1)"),
              std::string::npos)
        << e.what();
  }
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
        .get("loss");
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

TEST(TrainerTest, FastAndReferenceKernelsTrainAlike) {
  const data::LabeledImages train = quadrant_images(64, 9);
  auto run = [&](graph::KernelChoice k) {
    const nn::Sequential model = small_cnn();
    Trainer trainer(
        model,
        {.optimizer = AdamW({.learning_rate = 0.005f}), .seed = 1, .kernels = {.choice = k}});
    std::ostringstream out;
    return trainer.fit(train, {.epochs = 2, .batch_size = 16, .verbose = 0, .out = &out})
        .epochs.back()
        .get("loss");
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
    Trainer trainer(model, {.optimizer = SGD({.learning_rate = 1e-30f}),
                            .seed = 2,
                            .kernels = {.choice = k},
                            .keep_gradients = true});  // read from the store below
    runtime::Program& p = trainer.training_program(8);
    data::Batcher batcher(train, 8, false, 0);
    batcher.start_epoch(0);
    const graph::StepState state{5, 1e-30f, 9};
    auto loss = [&]() -> double {
      // Inputs are consumed by the step (their bytes are reused once read): refill every run.
      batcher.fill(0, p.view("input_layer").f32(), p.view("labels").i32());
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
  EXPECT_EQ(r.gradients_bytes, 0);  // step-local: in the arena
  EXPECT_TRUE(r.step_local_gradients);
  EXPECT_EQ(r.optimizer_bytes, 2 * params);  // Adam: m and v
  EXPECT_EQ(r.persistent_bytes, trainer.store().total_bytes());
  {
    Trainer keeping(model, {.keep_gradients = true});
    const MemoryReport k = keeping.plan(64);
    EXPECT_EQ(k.gradients_bytes, params);
    EXPECT_FALSE(k.step_local_gradients);
    EXPECT_GE(k.persistent_bytes, r.persistent_bytes + params);
  }
  EXPECT_LT(r.train_arena_bytes, r.step_buffers_bytes);
  // No pipeline here; the programs' own memory is measured once, so planning again agrees.
  EXPECT_GE(r.runtime_bytes, 0);
  EXPECT_EQ(r.predicted_peak_bytes, r.persistent_bytes + r.arena_bytes + r.runtime_bytes);
  EXPECT_EQ(trainer.plan(64).predicted_peak_bytes, r.predicted_peak_bytes);
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

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("leantrain_trainer_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(TrainerTest, SaveLoadPredictIsBitwiseIdentical) {
  const data::LabeledImages train = quadrant_images(64, 3), test = quadrant_images(20, 4);
  Trainer a(small_cnn(), {.seed = 1});
  std::ostringstream out;
  a.fit(train, {.epochs = 1, .batch_size = 16, .verbose = 0, .out = &out});
  const std::string path = temp_path("weights.safetensors");
  a.save_weights(path);
  const std::vector<float> expected = a.predict(test, 8);
  ASSERT_EQ(expected.size(), 20u * 4u);

  Trainer b(small_cnn(), {.seed = 99});  // other initial weights
  EXPECT_NE(b.predict(test, 8), expected);
  b.load_weights(path);
  const std::vector<float> got = b.predict(test, 8);
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0);
  EXPECT_EQ(b.get_weights(), a.get_weights());
  std::filesystem::remove(path);
}

TEST(TrainerTest, WeightsLoadByPositionIntoTheSameArchitectureWithOtherNames) {
  const auto model = [](const std::string& prefix) {
    return Sequential(
        Shape{12, 12, 1},
        {nn::Conv2D({.filters = 4, .kernel_size = 3, .name = prefix + "conv"}),
         nn::Flatten({.name = prefix + "flat"}), nn::Dense({.units = 4, .name = prefix + "head"})});
  };
  Trainer a(model("a_"), {.seed = 1});
  Trainer b(model("b_"), {.seed = 2});
  ASSERT_NE(a.get_weights(), b.get_weights());
  const std::string path = temp_path("positional.safetensors");
  a.save_weights(path);
  b.load_weights(path);
  EXPECT_EQ(b.get_weights(), a.get_weights());
  // Another architecture with the same variable count does not load by position.
  Trainer c(Sequential(Shape{12, 12, 1}, {nn::Conv2D({.filters = 5, .kernel_size = 3}),
                                          nn::Flatten(), nn::Dense({.units = 4})}),
            {});
  const auto before = c.get_weights();
  EXPECT_THROW(c.load_weights(path), Error);
  EXPECT_EQ(c.get_weights(), before);
  std::filesystem::remove(path);
}

TEST(TrainerTest, CorruptTruncatedOrForeignWeightsGiveClearErrorsAndChangeNothing) {
  Trainer a(small_cnn(), {.seed = 1});
  const std::string path = temp_path("good.safetensors");
  a.save_weights(path);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  Trainer b(small_cnn(), {.seed = 2});
  const auto before = b.get_weights();
  auto expect_error = [&](const std::string& content, const std::string& why) {
    const std::string bad = temp_path("bad.safetensors");
    std::ofstream(bad, std::ios::binary) << content;
    try {
      b.load_weights(bad);
      ADD_FAILURE() << why << ": loading must fail";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << why << ": " << e.what();
    }
    EXPECT_EQ(b.get_weights(), before) << why;
    std::filesystem::remove(bad);
  };
  // Truncated at a spread of offsets, from inside the length prefix to the last byte.
  for (size_t cut :
       {size_t{0}, size_t{3}, size_t{9}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 1}) {
    expect_error(bytes.substr(0, cut), "truncated at " + std::to_string(cut));
  }
  std::string garbled = bytes;
  garbled[10] = '\x01';  // inside the JSON header
  expect_error(garbled, "garbled header");
  // A file from another model names the first variable that differs.
  Trainer other(Sequential(Shape{12, 12, 1}, {nn::Flatten(), nn::Dense({.units = 4})}), {});
  const std::string foreign = temp_path("foreign.safetensors");
  other.save_weights(foreign);
  try {
    b.load_weights(foreign);
    ADD_FAILURE() << "a foreign model's weights must not load";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv2d/kernel"), std::string::npos) << e.what();
  }
  EXPECT_EQ(b.get_weights(), before);
  std::filesystem::remove(foreign);
  std::filesystem::remove(path);
}

TEST(TrainerTest, LayerMemoryAttributesKeptBytesAndPeakShares) {
  Trainer trainer(small_cnn(), {});
  const MemoryReport r = trainer.plan(16);
  const auto per_layer = trainer.layer_memory(16);
  int64_t kept = 0;
  double shares = 0;
  for (const auto& [layer, m] : per_layer) {
    kept += m.kept_for_backward_bytes;
    shares += m.share_of_peak;
    EXPECT_GE(m.share_of_peak, 0.0) << layer;
  }
  EXPECT_LE(kept, r.kept_for_backward_bytes);
  EXPECT_GT(kept, 0);
  EXPECT_LE(shares, 1.0 + 1e-9);
  EXPECT_GT(shares, 0.1);
  // conv2d keeps its ReLU output (16, 10, 10, 4) f32 for ReLU's backward and the pooling's.
  EXPECT_GE(per_layer.at("conv2d").kept_for_backward_bytes, 16 * 10 * 10 * 4 * 4);
  const std::string table = trainer.model().summary(&per_layer);
  EXPECT_NE(table.find("Kept for backward"), std::string::npos) << table;
}

// A functional model with one-hot labels (categorical cross-entropy from probabilities, as a
// softmax classifier head gives), learning the quadrant task.
TEST(TrainerTest, FunctionalModelTrainsWithCategoricalCrossentropy) {
  const data::LabeledImages train = quadrant_images(256, 11), test = quadrant_images(64, 12);
  const nn::Tensor in = nn::Input({.shape = {12, 12, 1}});
  const nn::Tensor a =
      nn::Conv2D({.filters = 4, .kernel_size = 3, .padding = "same", .activation = "relu"})(in);
  const nn::Tensor b = nn::Conv2D({.filters = 4, .kernel_size = 1})(in);
  const nn::Tensor x = nn::MaxPooling2D()(nn::Concatenate()({a, b}));
  const nn::Tensor y = nn::Dense({.units = 4, .activation = "softmax"})(nn::Flatten()(x));
  // Top-k reads integer labels: with one-hot labels it is refused when compiling.
  EXPECT_THROW(Trainer(nn::Model(in, y),
                       {.loss = CategoricalCrossentropy(),
                        .metrics = {Metric("sparse_top_k_categorical_accuracy", 2, "top2")}}),
               Error);
  std::ostringstream out;
  Trainer ok(nn::Model(in, y), {.optimizer = Adam({.learning_rate = 0.01f}),
                                .loss = CategoricalCrossentropy(),
                                .metrics = {"accuracy"}});
  const History h = ok.fit(
      train,
      {.epochs = 4, .batch_size = 32, .validation_data = test.view(), .verbose = 0, .out = &out});
  EXPECT_LT(h.epochs.back().get("loss"), h.epochs.front().get("loss"));
  EXPECT_GT(h.epochs.back().get("val_accuracy"), 0.8);
}

TEST(TrainerTest, L2RegularizationAddsItsPenaltyToTheLoss) {
  const data::LabeledImages d = quadrant_images(32, 5);
  auto model = [](float l2) {
    return Sequential(Shape{12, 12, 1},
                      {nn::Flatten(), nn::Dense({.units = 4, .kernel_regularizer = {l2}})});
  };
  Trainer plain(model(0.0f), {.seed = 4}), reg(model(0.25f), {.seed = 4});
  const double base = plain.evaluate(d, 32).loss();
  const double with = reg.evaluate(d, 32).loss();
  double sum_sq = 0;
  const std::vector<std::vector<float>> weights = reg.get_weights();
  for (float w : weights[0]) sum_sq += static_cast<double>(w) * w;  // the kernel
  EXPECT_NEAR(with - base, 0.25 * sum_sq, 1e-4 * (1 + 0.25 * sum_sq));
}

TEST(TrainerTest, BinaryAndMeanSquaredErrorLossesTrain) {
  data::LabeledImages d = quadrant_images(128, 6);
  for (int32_t& l : d.labels) l = l >= 2 ? 1 : 0;  // top or bottom half
  d.num_classes = 2;
  std::ostringstream out;
  Trainer binary(Sequential(Shape{12, 12, 1}, {nn::Flatten(), nn::Dense({.units = 1})}),
                 {.optimizer = Adam({.learning_rate = 0.01f}),
                  .loss = BinaryCrossentropy({.from_logits = true})});
  const History hb = binary.fit(d, {.epochs = 5, .batch_size = 16, .verbose = 0, .out = &out});
  EXPECT_LT(hb.epochs.back().get("loss"), hb.epochs.front().get("loss"));
  EXPECT_GT(hb.epochs.back().get("accuracy"), 0.9);
  Trainer mse(Sequential(Shape{12, 12, 1}, {nn::Flatten(), nn::Dense({.units = 2})}),
              {.optimizer = Adam({.learning_rate = 0.01f}), .loss = MeanSquaredError()});
  const History hm = mse.fit(d, {.epochs = 5, .batch_size = 16, .verbose = 0, .out = &out});
  EXPECT_LT(hm.epochs.back().get("loss"), hm.epochs.front().get("loss"));
  EXPECT_GT(hm.epochs.back().get("accuracy"), 0.9);
}

// Inference uses the moving statistics: after training, evaluation on the training data must
// score about what training did. The momenta let the moving averages forget their initial
// values (mean 0, variance 1) within the 192 steps: 0.9^192 ~ 2e-9 (Keras' 0.99 would still
// weigh them 0.99^192 ~ 15%).
TEST(TrainerTest, BatchNormInferenceMatchesTraining) {
  const data::LabeledImages train = quadrant_images(256, 21);
  for (float momentum : {0.5f, 0.9f}) {
    Trainer trainer(
        Sequential(Shape{12, 12, 1},
                   {nn::Conv2D({.filters = 8, .kernel_size = 3, .use_bias = false}),
                    nn::BatchNormalization({.momentum = momentum}), nn::ReLU({.max_value = 6}),
                    nn::DepthwiseConv2D({.kernel_size = 3, .padding = "same", .use_bias = false}),
                    nn::BatchNormalization({.momentum = momentum}), nn::ReLU(),
                    nn::GlobalAveragePooling2D(), nn::Dense({.units = 4})}),
        {.optimizer = Adam({.learning_rate = 0.01f}), .seed = 5});
    std::ostringstream out;
    const History h =
        trainer.fit(train, {.epochs = 12, .batch_size = 16, .verbose = 0, .out = &out});
    const double train_acc = h.epochs.back().get("accuracy");
    EXPECT_GT(train_acc, 0.8) << momentum;
    EXPECT_GT(trainer.evaluate(train, 32).logs.at("accuracy"), train_acc - 0.1) << momentum;
  }
}

// With a slow momentum the moving statistics still remember their initial values after a short
// run (0.999^192 ~ 0.83); recalibrating them from training batches ("precise BN") makes
// inference score as training does.
TEST(TrainerTest, RecalibratedBatchNormStatisticsFixASlowMomentum) {
  const data::LabeledImages train = quadrant_images(256, 21);
  auto run = [&](int64_t recalibrate) {
    Trainer trainer(
        Sequential(Shape{12, 12, 1},
                   {nn::Conv2D({.filters = 8, .kernel_size = 3, .use_bias = false}),
                    nn::BatchNormalization({.momentum = 0.999f}), nn::ReLU({.max_value = 6}),
                    nn::DepthwiseConv2D({.kernel_size = 3, .padding = "same", .use_bias = false}),
                    nn::BatchNormalization({.momentum = 0.999f}), nn::ReLU(),
                    nn::GlobalAveragePooling2D(), nn::Dense({.units = 4})}),
        {.optimizer = Adam({.learning_rate = 0.01f}), .seed = 5});
    std::ostringstream out;
    const History h = trainer.fit(train, {.epochs = 12,
                                          .batch_size = 16,
                                          .recalibrate_batch_norm_steps = recalibrate,
                                          .verbose = 0,
                                          .out = &out});
    std::vector<double> losses;
    for (const EpochLogs& e : h.epochs) losses.push_back(e.get("loss"));
    return std::tuple{h.epochs.back().get("accuracy"),
                      trainer.evaluate(train, 32).logs.at("accuracy"), losses};
  };
  const auto [train_plain, eval_plain, losses_plain] = run(0);
  const auto [train_recal, eval_recal, losses_recal] = run(8);
  // Calibration batches come in an order of their own (through the training batches' Batcher)
  // and touch only moving statistics: training sees the same batches and numbers.
  EXPECT_EQ(losses_recal, losses_plain);
  EXPECT_GT(train_recal, 0.8);
  EXPECT_GT(eval_recal, train_recal - 0.1);
  // The same run without recalibration shows the problem it fixes.
  EXPECT_LT(eval_plain, train_plain - 0.2);
}

TEST(ProgressTest, FormatsLikeKeras) {
  EXPECT_EQ(format_metric(0.52413), "0.5241");
  EXPECT_EQ(format_metric(0.0001234), "1.2340e-04");
  EXPECT_EQ(format_metric(-std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(format_metric(-std::numeric_limits<double>::infinity()), "-inf");
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

  std::ostringstream line;  // verbose=2: one line at the end, Keras' separators, no bar
  ProgressBar epoch(469, line, /*dynamic=*/true, ProgressBar::Style::kEpochLine);
  epoch.update(1, {{"loss", 0.7}}, "", false);
  EXPECT_EQ(line.str(), "");
  epoch.update(469, {{"loss", 0.5}, {"accuracy", 0.8}}, "", true);
  EXPECT_TRUE(std::regex_match(
      line.str(), std::regex("469/469 - \\d+s - \\d+(us|ms|s)/step - accuracy: 0\\.8000 - "
                             "loss: 0\\.5000\n")))
      << line.str();
}

}  // namespace
}  // namespace leantrain::train

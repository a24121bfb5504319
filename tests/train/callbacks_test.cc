// Keras' callbacks: each decision sequence driven by scripted logs (hooks called directly on a
// real small Trainer, or a real fit whose epoch logs a scripted callback replaces), expected
// outcomes traced by hand through Keras 3's code; file names and csv values as Python formats
// them; and a short real fit with EarlyStopping, ModelCheckpoint and CSVLogger together.
#include "leantrain/train/callbacks.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/data/idx.h"
#include "leantrain/nn/layers.h"
#include "leantrain/nn/sequential.h"
#include "leantrain/train/trainer.h"
#include "testing/testing.h"

namespace leantrain::train {
namespace {

namespace fs = std::filesystem;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

nn::Sequential tiny_model() {
  return nn::Sequential(Shape{4, 4, 1}, {nn::Flatten(), nn::Dense({.units = 3})});
}

// `count` random 4x4 images (pixels never all zero) with random labels in [0, 3).
data::LabeledImages tiny_data(int64_t count, uint64_t seed) {
  data::LabeledImages d;
  d.count = count;
  d.height = d.width = 4;
  d.num_classes = 3;
  for (const float v : testing::random_floats(count * 16, seed, 1.0f, 255.0f)) {
    d.pixels.push_back(static_cast<uint8_t>(v));
  }
  d.labels = testing::random_labels(count, 3, seed + 1);
  return d;
}

// A fresh directory under the system's temp dir, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "leantrain-callbacks-XXXXXX").string();
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

template <typename F>
ErrorCode code_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kInternal;  // nothing thrown
}

// Sets every weight of `trainer` to `value`, so saved or restored weights name their epoch.
void fill_weights(Trainer& trainer, float value) {
  std::vector<std::vector<float>> w = trainer.get_weights();
  for (std::vector<float>& v : w) std::fill(v.begin(), v.end(), value);
  trainer.set_weights(w);
}

// The value every weight of the checkpoint at `path` holds (checked to be one value).
float checkpoint_marker(const std::string& path) {
  Trainer t(tiny_model(), {.optimizer = SGD()});
  t.load_weights(path);
  const std::vector<std::vector<float>> w = t.get_weights();
  for (const std::vector<float>& v : w) {
    for (const float x : v) EXPECT_EQ(x, w[0][0]) << path;
  }
  return w[0][0];
}

// Replaces each epoch's logs with scripted ones, so the callbacks after it see them.
class ScriptedLogs : public Callback {
 public:
  explicit ScriptedLogs(std::vector<Logs> per_epoch) : per_epoch_(std::move(per_epoch)) {}
  void on_epoch_end(Trainer& trainer, int epoch, Logs& logs) override {
    (void)trainer;
    logs = per_epoch_.at(static_cast<size_t>(epoch));
  }

 private:
  std::vector<Logs> per_epoch_;
};

std::vector<Logs> val_losses(const std::vector<double>& values) {
  std::vector<Logs> logs;
  for (const double v : values) logs.push_back({{"loss", 1.0}, {"val_loss", v}});
  return logs;
}

// Records each epoch end's weights and logs.
class Recorder : public Callback {
 public:
  void on_epoch_end(Trainer& trainer, int epoch, Logs& logs) override {
    (void)epoch;
    weights.push_back(trainer.get_weights());
    logs_seen.push_back(logs);
  }
  std::vector<std::vector<std::vector<float>>> weights;
  std::vector<Logs> logs_seen;
};

// A real fit of `epochs` epochs of one step each over 8 tiny images, quiet.
History fit_quietly(Trainer& trainer, std::vector<CallbackPtr> callbacks, int epochs) {
  static const data::LabeledImages data = tiny_data(8, 5);
  std::ostringstream out;
  return trainer.fit(data, {.epochs = epochs,
                            .batch_size = 8,
                            .callbacks = std::move(callbacks),
                            .verbose = 0,
                            .out = &out});
}

// How many epochs a fit with EarlyStopping(options) runs over the scripted logs.
size_t epochs_run(const EarlyStoppingOptions& options, const std::vector<Logs>& script) {
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  return fit_quietly(trainer, {std::make_shared<ScriptedLogs>(script), EarlyStopping(options)},
                     static_cast<int>(script.size()))
      .epochs.size();
}

// ---------------------------------------------------------------------------------------------
// format_checkpoint_path: expected strings are what Python 3's str.format gives.

TEST(FormatCheckpointPathTest, EpochIsOneBasedAndTakesIntegerSpecs) {
  EXPECT_EQ(format_checkpoint_path("w-{epoch:02d}.st", 0, {}), "w-01.st");
  EXPECT_EQ(format_checkpoint_path("w-{epoch:02d}.st", 11, {}), "w-12.st");
  EXPECT_EQ(format_checkpoint_path("{epoch}", 4, {}), "5");
  EXPECT_EQ(format_checkpoint_path("{epoch:03}", 4, {}), "005");
  EXPECT_EQ(format_checkpoint_path("{epoch:.1f}", 2, {}), "3.0");
  EXPECT_EQ(format_checkpoint_path("{epoch:>4}|{epoch:<4}|{epoch:^5}|{epoch:+d}", 6, {}),
            "   7|7   |  7  |+7");
}

TEST(FormatCheckpointPathTest, LogValuesTakeFloatSpecs) {
  const Logs logs{{"val_loss", 0.123456}, {"val_accuracy", 0.987654}};
  EXPECT_EQ(
      format_checkpoint_path("ckpt-{epoch:02d}-{val_loss:.2f}-{val_accuracy:.4f}.st", 2, logs),
      "ckpt-03-0.12-0.9877.st");
  auto one = [](const std::string& pattern, double v) {
    return format_checkpoint_path(pattern, 0, {{"loss", v}});
  };
  EXPECT_EQ(one("{loss:.3e}", 12345.678), "1.235e+04");
  EXPECT_EQ(one("{loss:g}", 0.00001234), "1.234e-05");
  EXPECT_EQ(one("{loss:g}", 1234.5), "1234.5");
  EXPECT_EQ(one("{loss:.3}", 123.0), "1.23e+02");
  EXPECT_EQ(one("{loss:.3}", 1.0), "1.0");
  EXPECT_EQ(one("{loss:.2%}", 0.98765), "98.77%");
  EXPECT_EQ(one("{loss:E}", 0.5), "5.000000E-01");
  EXPECT_EQ(one("{loss:.2G}", 1.5e-7), "1.5E-07");
  EXPECT_EQ(one("{loss:8.3f}", 3.14159), "   3.142");
  EXPECT_EQ(one("{loss:<8.3f}", 3.14159), "3.142   ");
  EXPECT_EQ(one("{loss:*^9.1f}", 3.14159), "***3.1***");
  EXPECT_EQ(one("{loss:+.1f}", 3.14159), "+3.1");
  EXPECT_EQ(one("{loss:08.2f}", -1.5), "-0001.50");
  EXPECT_EQ(one("{loss: .2f}", 2.0), " 2.00");
  EXPECT_EQ(one("{loss:.0f}", 2.5), "2");  // round half to even, as Python
  EXPECT_EQ(one("{loss:.0f}", 3.5), "4");
  EXPECT_EQ(one("{loss:.2f}", -0.001), "-0.00");
  EXPECT_EQ(one("{loss:.2f}", kNaN), "nan");
  EXPECT_EQ(one("{loss:.2f}", kInf), "inf");
  EXPECT_EQ(one("{loss:.2f}", -kInf), "-inf");
  EXPECT_EQ(one("{loss:F}", kNaN), "NAN");
}

TEST(FormatCheckpointPathTest, AFieldWithoutSpecIsPythonsStrOfTheFloat) {
  auto str = [](double v) { return format_checkpoint_path("{loss}", 0, {{"loss", v}}); };
  EXPECT_EQ(str(0.5), "0.5");
  EXPECT_EQ(str(1e-05), "1e-05");
  EXPECT_EQ(str(0.0001), "0.0001");
  EXPECT_EQ(str(3.0), "3.0");
  EXPECT_EQ(str(123456789.0), "123456789.0");
  EXPECT_EQ(str(1234567890123456.0), "1234567890123456.0");
  EXPECT_EQ(str(1e16), "1e+16");
  EXPECT_EQ(str(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(str(-0.0), "-0.0");
  EXPECT_EQ(str(2.5e-300), "2.5e-300");
  EXPECT_EQ(str(kNaN), "nan");
  EXPECT_EQ(str(-kInf), "-inf");
}

TEST(FormatCheckpointPathTest, DoubledBracesAreLiteral) {
  EXPECT_EQ(format_checkpoint_path("a{{b}}c-{epoch}", 0, {}), "a{b}c-1");
}

TEST(FormatCheckpointPathTest, BadPatternsThrowNamingThePattern) {
  const Logs logs{{"loss", 0.5}, {"accuracy", 0.25}};
  try {
    format_checkpoint_path("w-{val_loss:.2f}.st", 0, logs);
    ADD_FAILURE() << "no error for a missing key";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    const std::string m = e.what();
    EXPECT_NE(m.find("w-{val_loss:.2f}.st"), std::string::npos) << m;
    EXPECT_NE(m.find("'val_loss'"), std::string::npos) << m;
    EXPECT_NE(m.find("epoch,accuracy,loss"), std::string::npos) << m;
  }
  auto code = [&](const std::string& pattern) {
    return code_of([&] { format_checkpoint_path(pattern, 0, logs); });
  };
  EXPECT_EQ(code("{loss:d}"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code("{epoch:.2}"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code("{loss:.f}"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code("{loss:.2fx}"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code("{loss:q}"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code("w-{epoch"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code("w-}"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code("w-{}"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code("w-{0}"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code("{loss!r}"), ErrorCode::kUnimplemented);
  EXPECT_EQ(code("{loss:,}"), ErrorCode::kUnimplemented);
  EXPECT_EQ(code("{loss:#g}"), ErrorCode::kUnimplemented);
  EXPECT_EQ(code("{loss:x}"), ErrorCode::kUnimplemented);
  EXPECT_EQ(code("{loss.real}"), ErrorCode::kUnimplemented);
  EXPECT_EQ(code("{loss:{epoch}}"), ErrorCode::kUnimplemented);
}

// ---------------------------------------------------------------------------------------------
// ModelCheckpoint

TEST(ModelCheckpointTest, SavesEveryEpochToTheFormattedPath) {
  TempDir dir;
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr cb =
      ModelCheckpoint({.filepath = dir / "w-{epoch:02d}-{loss:.2f}.safetensors"});
  cb->on_train_begin(trainer);
  const std::vector<double> losses{0.5, 0.75, 0.25};
  for (int epoch = 0; epoch < 3; ++epoch) {
    fill_weights(trainer, static_cast<float>(epoch + 1));
    Logs logs{{"loss", losses[static_cast<size_t>(epoch)]}};
    cb->on_epoch_end(trainer, epoch, logs);
  }
  EXPECT_EQ(checkpoint_marker(dir / "w-01-0.50.safetensors"), 1.0f);
  EXPECT_EQ(checkpoint_marker(dir / "w-02-0.75.safetensors"), 2.0f);
  EXPECT_EQ(checkpoint_marker(dir / "w-03-0.25.safetensors"), 3.0f);
}

TEST(ModelCheckpointTest, SaveBestOnlyKeepsTheBestEpochAndSaysWhy) {
  TempDir dir;
  const std::string path = dir / "best.safetensors";
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr cb = ModelCheckpoint({.filepath = path, .verbose = 1, .save_best_only = true});
  cb->on_train_begin(trainer);
  // val_loss 1.0 (saved), 0.8 (saved), 0.9 (not), 0.8 (equal: not), 0.7 (saved).
  const std::vector<double> values{1.0, 0.8, 0.9, 0.8, 0.7};
  const std::vector<float> expected_marker{1, 2, 2, 2, 5};
  std::string printed;
  for (int epoch = 0; epoch < 5; ++epoch) {
    fill_weights(trainer, static_cast<float>(epoch + 1));
    Logs logs{{"loss", 2.0}, {"val_loss", values[static_cast<size_t>(epoch)]}};
    ::testing::internal::CaptureStdout();
    cb->on_epoch_end(trainer, epoch, logs);
    printed += ::testing::internal::GetCapturedStdout();
    EXPECT_EQ(checkpoint_marker(path), expected_marker[static_cast<size_t>(epoch)]) << epoch;
  }
  const std::string expected =
      "\nEpoch 1: val_loss improved from None to 1.00000, saving model to " + path + "\n" +
      "\nEpoch 1: finished saving model to " + path + "\n" +
      "\nEpoch 2: val_loss improved from 1.00000 to 0.80000, saving model to " + path + "\n" +
      "\nEpoch 2: finished saving model to " + path + "\n" +
      "\nEpoch 3: val_loss did not improve from 0.80000\n" +
      "\nEpoch 4: val_loss did not improve from 0.80000\n" +
      "\nEpoch 5: val_loss improved from 0.80000 to 0.70000, saving model to " + path + "\n" +
      "\nEpoch 5: finished saving model to " + path + "\n";
  EXPECT_EQ(printed, expected);
}

TEST(ModelCheckpointTest, AutoModeMaximizesAnAccuracy) {
  TempDir dir;
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr cb = ModelCheckpoint(
      {.filepath = dir / "e{epoch}", .monitor = "val_accuracy", .save_best_only = true});
  cb->on_train_begin(trainer);
  const std::vector<double> values{0.5, 0.6, 0.55, 0.7};
  for (int epoch = 0; epoch < 4; ++epoch) {
    Logs logs{{"val_accuracy", values[static_cast<size_t>(epoch)]}};
    cb->on_epoch_end(trainer, epoch, logs);
  }
  EXPECT_TRUE(fs::exists(dir / "e1"));
  EXPECT_TRUE(fs::exists(dir / "e2"));
  EXPECT_FALSE(fs::exists(dir / "e3"));
  EXPECT_TRUE(fs::exists(dir / "e4"));
}

TEST(ModelCheckpointTest, ModeMinOverridesTheNameAndInitialThresholdMustBeBeaten) {
  TempDir dir;
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr cb = ModelCheckpoint({.filepath = dir / "e{epoch}",
                                          .monitor = "val_accuracy",
                                          .save_best_only = true,
                                          .mode = "min",
                                          .initial_value_threshold = 0.5});
  cb->on_train_begin(trainer);
  const std::vector<double> values{0.6, 0.5, 0.4, 0.45};
  for (int epoch = 0; epoch < 4; ++epoch) {
    Logs logs{{"val_accuracy", values[static_cast<size_t>(epoch)]}};
    cb->on_epoch_end(trainer, epoch, logs);
  }
  EXPECT_FALSE(fs::exists(dir / "e1"));
  EXPECT_FALSE(fs::exists(dir / "e2"));
  EXPECT_TRUE(fs::exists(dir / "e3"));
  EXPECT_FALSE(fs::exists(dir / "e4"));
}

TEST(ModelCheckpointTest, AMissingMonitorWarnsOnceAndSaves) {
  TempDir dir;
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr cb = ModelCheckpoint({.filepath = dir / "e{epoch}", .save_best_only = true});
  cb->on_train_begin(trainer);
  ::testing::internal::CaptureStderr();
  for (int epoch = 0; epoch < 2; ++epoch) {
    Logs logs{{"loss", 0.5}};
    cb->on_epoch_end(trainer, epoch, logs);
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "UserWarning: Can save best model only with val_loss available.\n");
  EXPECT_TRUE(fs::exists(dir / "e1"));
  EXPECT_TRUE(fs::exists(dir / "e2"));
}

TEST(ModelCheckpointTest, CreatesMissingDirectoriesAndRefusesADirectoryPath) {
  TempDir dir;
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr nested = ModelCheckpoint({.filepath = dir / "a/b/w{epoch}.safetensors"});
  nested->on_train_begin(trainer);
  Logs logs{{"loss", 0.5}};
  nested->on_epoch_end(trainer, 0, logs);
  EXPECT_TRUE(fs::exists(dir / "a/b/w1.safetensors"));

  fs::create_directory(dir / "taken");
  const CallbackPtr onto_dir = ModelCheckpoint({.filepath = dir / "taken"});
  onto_dir->on_train_begin(trainer);
  EXPECT_EQ(code_of([&] { onto_dir->on_epoch_end(trainer, 0, logs); }),
            ErrorCode::kInvalidArgument);
}

TEST(ModelCheckpointTest, AnUnknownMonitorNeedsAnExplicitMode) {
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr auto_mode = ModelCheckpoint({.filepath = "unused", .monitor = "val_f1"});
  EXPECT_EQ(code_of([&] { auto_mode->on_train_begin(trainer); }), ErrorCode::kInvalidArgument);
  const CallbackPtr max_mode =
      ModelCheckpoint({.filepath = "unused", .monitor = "val_f1", .mode = "max"});
  EXPECT_NO_THROW(max_mode->on_train_begin(trainer));
  EXPECT_EQ(code_of([] { ModelCheckpoint({}); }), ErrorCode::kInvalidArgument);
}

TEST(ModelCheckpointTest, AnUnknownModeWarnsAndFallsBackToAuto) {
  TempDir dir;
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  ::testing::internal::CaptureStderr();
  const CallbackPtr cb =
      ModelCheckpoint({.filepath = dir / "e{epoch}", .save_best_only = true, .mode = "lowest"});
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "UserWarning: ModelCheckpoint mode 'lowest' is unknown, fallback to auto mode.\n");
  cb->on_train_begin(trainer);
  for (int epoch = 0; epoch < 2; ++epoch) {
    Logs logs{{"val_loss", epoch == 0 ? 1.0 : 2.0}};  // auto: a loss is minimized
    cb->on_epoch_end(trainer, epoch, logs);
  }
  EXPECT_TRUE(fs::exists(dir / "e1"));
  EXPECT_FALSE(fs::exists(dir / "e2"));
}

// ---------------------------------------------------------------------------------------------
// EarlyStopping (real fits, one step per epoch, scripted epoch logs)

TEST(EarlyStoppingTest, StopsWhenPatienceRunsOut) {
  // wait after each epoch: 0 (first), 0 (0.9 improves), 1, 2 -> stops at epoch 3.
  EXPECT_EQ(epochs_run({.patience = 2}, val_losses({1.0, 0.9, 0.95, 0.92, 0.5, 0.4})), 4u);
  // patience 0: the first epoch without improvement stops (an equal value is no improvement).
  EXPECT_EQ(epochs_run({}, val_losses({1.0, 1.0, 0.5})), 2u);
  // Improving every epoch never stops.
  EXPECT_EQ(epochs_run({}, val_losses({1.0, 0.9, 0.8})), 3u);
}

TEST(EarlyStoppingTest, MinDeltaIsTheSmallestImprovementThatCounts) {
  // 1.0 -> 0.95 improves by 0.05: enough for min_delta 0.01, not for 0.1.
  EXPECT_EQ(epochs_run({.min_delta = 0.1}, val_losses({1.0, 0.95, 0.8})), 2u);
  EXPECT_EQ(epochs_run({.min_delta = 0.01}, val_losses({1.0, 0.95, 0.8})), 3u);
  // A negative min_delta means its absolute value, as Keras.
  EXPECT_EQ(epochs_run({.min_delta = -0.1}, val_losses({1.0, 0.95, 0.8})), 2u);
}

TEST(EarlyStoppingTest, AccuracyIsMaximizedInAutoModeAndModeOverridesIt) {
  std::vector<Logs> script;
  for (const double v : {0.5, 0.6, 0.55, 0.7}) script.push_back({{"val_accuracy", v}});
  EXPECT_EQ(epochs_run({.monitor = "val_accuracy"}, script), 3u);
  EXPECT_EQ(epochs_run({.monitor = "val_accuracy", .mode = "min"}, script), 2u);
  EXPECT_EQ(epochs_run({.monitor = "val_accuracy", .mode = "max"}, script), 3u);
}

TEST(EarlyStoppingTest, WaitRestartsOnlyWhenTheBaselineIsBeaten) {
  // Without a baseline: wait 0, 0, 1, 2 -> stops at epoch 3 (patience 2).
  const std::vector<Logs> script = val_losses({0.9, 0.8, 0.85, 0.84});
  EXPECT_EQ(epochs_run({.patience = 2}, script), 4u);
  // Baseline 0.5 is never beaten: wait 1, 2 (0.8 improves but stays above it), 3 -> stops at
  // epoch 2.
  EXPECT_EQ(epochs_run({.patience = 2, .baseline = 0.5}, script), 3u);
  // Improvements return before the patience check, even past patience.
  EXPECT_EQ(epochs_run({.patience = 1, .baseline = 0.5}, val_losses({0.9, 0.8, 0.7, 0.6})), 4u);
}

TEST(EarlyStoppingTest, EpochsBeforeStartFromEpochAreNotWatched) {
  const std::vector<Logs> script = val_losses({1.0, 2.0, 3.0, 3.5, 3.0});
  EXPECT_EQ(epochs_run({}, script), 2u);
  // Watching from epoch 2: 3.0 is the first best, 3.5 does not improve -> stops at epoch 3.
  EXPECT_EQ(epochs_run({.start_from_epoch = 2}, script), 4u);
}

TEST(EarlyStoppingTest, RestoresTheBestWeightsWhenItStops) {
  Trainer trainer(tiny_model(), {.optimizer = SGD({.learning_rate = 0.1f})});
  const auto recorder = std::make_shared<Recorder>();
  ::testing::internal::CaptureStdout();
  const History h =
      fit_quietly(trainer,
                  {std::make_shared<ScriptedLogs>(val_losses({1.0, 0.5, 0.7, 0.8, 0.1})), recorder,
                   EarlyStopping({.patience = 2, .verbose = 1, .restore_best_weights = true})},
                  5);
  const std::string printed = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(h.epochs.size(), 4u);  // wait 0, 0, 1, 2
  ASSERT_EQ(recorder->weights.size(), 4u);
  EXPECT_NE(recorder->weights[1], recorder->weights[3]);  // training moved the weights
  EXPECT_EQ(trainer.get_weights(), recorder->weights[1]);
  EXPECT_EQ(printed,
            "Epoch 4: early stopping\n"
            "Restoring model weights from the end of the best epoch: 2.\n");
}

TEST(EarlyStoppingTest, RestoresTheBestWeightsAtTheEndEvenWithoutStopping) {
  Trainer trainer(tiny_model(), {.optimizer = SGD({.learning_rate = 0.1f})});
  const auto recorder = std::make_shared<Recorder>();
  const History h =
      fit_quietly(trainer,
                  {std::make_shared<ScriptedLogs>(val_losses({1.0, 0.5, 0.7})), recorder,
                   EarlyStopping({.patience = 5, .restore_best_weights = true})},
                  3);
  ASSERT_EQ(h.epochs.size(), 3u);
  EXPECT_NE(recorder->weights[1], recorder->weights[2]);
  EXPECT_EQ(trainer.get_weights(), recorder->weights[1]);
}

TEST(EarlyStoppingTest, WithoutRestoreTheLastWeightsStay) {
  Trainer trainer(tiny_model(), {.optimizer = SGD({.learning_rate = 0.1f})});
  const auto recorder = std::make_shared<Recorder>();
  fit_quietly(trainer,
              {std::make_shared<ScriptedLogs>(val_losses({1.0, 0.5, 0.7, 0.8})), recorder,
               EarlyStopping({.patience = 2})},
              4);
  EXPECT_EQ(trainer.get_weights(), recorder->weights.back());
}

TEST(EarlyStoppingTest, AMissingMonitorWarnsOnceAndNeverStops) {
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  ::testing::internal::CaptureStderr();
  const History h = fit_quietly(trainer, {EarlyStopping()}, 3);  // no validation data
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "UserWarning: Early stopping conditioned on metric `val_loss` which is not "
            "available. Available metrics are: accuracy,loss\n");
  EXPECT_EQ(h.epochs.size(), 3u);
}

TEST(EarlyStoppingTest, ACallbackObjectCanServeTwoFits) {
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr es = EarlyStopping({.patience = 1});
  // The second fit must not remember the first's best (0.1) or wait.
  EXPECT_EQ(
      fit_quietly(trainer, {std::make_shared<ScriptedLogs>(val_losses({0.1, 0.2, 0.3})), es}, 3)
          .epochs.size(),
      2u);
  EXPECT_EQ(
      fit_quietly(trainer, {std::make_shared<ScriptedLogs>(val_losses({1.0, 0.9, 0.8})), es}, 3)
          .epochs.size(),
      3u);
}

// ---------------------------------------------------------------------------------------------
// CSVLogger (hooks called directly)

TEST(CSVLoggerTest, WritesEpochThenSortedKeysAsPythonsCsvDoes) {
  TempDir dir;
  const std::string path = dir / "log.csv";
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr cb = CSVLogger({.filename = path});
  cb->on_train_begin(trainer);
  Logs e0{{"val_loss", 1e-05}, {"loss", 0.5}, {"accuracy", 0.25}, {"val_accuracy", 0.75}};
  cb->on_epoch_end(trainer, 0, e0);
  // Flushed after every epoch: readable before training ends.
  EXPECT_EQ(read_text(path),
            "epoch,accuracy,loss,val_accuracy,val_loss\r\n"
            "0,0.25,0.5,0.75,1e-05\r\n");
  Logs e1{{"val_loss", kNaN}, {"loss", 0.1 + 0.2}, {"accuracy", 3.0}, {"val_accuracy", 1e16}};
  cb->on_epoch_end(trainer, 1, e1);
  Logs e2{{"loss", -0.0}, {"accuracy", 0.0001}, {"extra", 1.0}};  // val_* missing, extra ignored
  cb->on_epoch_end(trainer, 2, e2);
  cb->on_train_end(trainer, e2);
  EXPECT_EQ(read_text(path),
            "epoch,accuracy,loss,val_accuracy,val_loss\r\n"
            "0,0.25,0.5,0.75,1e-05\r\n"
            "1,3.0,0.30000000000000004,1e+16,nan\r\n"
            "2,0.0001,-0.0,NA,NA\r\n");
}

TEST(CSVLoggerTest, AddsValColumnsWhenTheFirstEpochHasNone) {
  TempDir dir;
  const std::string path = dir / "log.csv";
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr cb = CSVLogger({.filename = path});
  cb->on_train_begin(trainer);
  Logs e0{{"loss", 0.5}, {"learning_rate", 0.125}, {"accuracy", 0.5}};
  cb->on_epoch_end(trainer, 0, e0);
  cb->on_train_end(trainer, e0);
  EXPECT_EQ(read_text(path),
            "epoch,accuracy,learning_rate,loss,val_accuracy,val_learning_rate,val_loss\r\n"
            "0,0.5,0.125,0.5,NA,NA,NA\r\n");
}

TEST(CSVLoggerTest, AppendWritesNoSecondHeaderAndOverwriteStartsOver) {
  TempDir dir;
  const std::string path = dir / "log.csv";
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  auto run = [&](const CallbackPtr& cb, double loss) {
    cb->on_train_begin(trainer);
    Logs logs{{"loss", loss}, {"val_loss", loss * 2}};
    cb->on_epoch_end(trainer, 0, logs);
    cb->on_train_end(trainer, logs);
  };
  // Appending to a file that does not exist yet writes the header.
  run(CSVLogger({.filename = path, .append = true}), 0.5);
  const CallbackPtr appender = CSVLogger({.filename = path, .append = true});
  run(appender, 0.25);
  run(appender, 0.125);  // the same object again, as Keras allows
  EXPECT_EQ(read_text(path), "epoch,loss,val_loss\r\n0,0.5,1.0\r\n0,0.25,0.5\r\n0,0.125,0.25\r\n");
  run(CSVLogger({.filename = path}), 4.0);
  EXPECT_EQ(read_text(path), "epoch,loss,val_loss\r\n0,4.0,8.0\r\n");
  // An existing but empty file gets a header.
  std::ofstream(dir / "empty.csv").close();
  run(CSVLogger({.filename = dir / "empty.csv", .append = true}), 1.0);
  EXPECT_EQ(read_text(dir / "empty.csv"), "epoch,loss,val_loss\r\n0,1.0,2.0\r\n");
}

TEST(CSVLoggerTest, QuotesFieldsHoldingTheSeparator) {
  TempDir dir;
  const std::string path = dir / "log.tsv";
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr cb = CSVLogger({.filename = path, .separator = "\t"});
  cb->on_train_begin(trainer);
  Logs logs{{"a\tb", 1.0}, {"say \"hi\"", 2.0}, {"val_x", 0.5}};
  cb->on_epoch_end(trainer, 0, logs);
  cb->on_train_end(trainer, logs);
  EXPECT_EQ(read_text(path),
            "epoch\t\"a\tb\"\t\"say \"\"hi\"\"\"\tval_x\r\n"
            "0\t1.0\t2.0\t0.5\r\n");
}

TEST(CSVLoggerTest, RejectsABadSeparatorAndAnUnwritablePath) {
  EXPECT_EQ(code_of([] { CSVLogger({.filename = "x.csv", .separator = ";;"}); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { CSVLogger({.filename = "x.csv", .separator = ""}); }),
            ErrorCode::kInvalidArgument);
  TempDir dir;
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr cb = CSVLogger({.filename = dir / "no-such-dir/log.csv"});
  try {
    cb->on_train_begin(trainer);
    ADD_FAILURE() << "no error for a missing directory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("no-such-dir/log.csv"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// TerminateOnNaN

// Forwards batch hooks to `inner` with "loss" replaced by NaN at one (epoch, batch).
class NanAt : public Callback {
 public:
  NanAt(CallbackPtr inner, int epoch, int64_t batch, double value)
      : inner_(std::move(inner)), epoch_(epoch), batch_(batch), value_(value) {}
  void on_epoch_begin(Trainer& trainer, int epoch) override {
    (void)trainer;
    epoch_now_ = epoch;
  }
  void on_train_batch_end(Trainer& trainer, int64_t batch, const Logs& logs) override {
    Logs changed = logs;
    if (epoch_now_ == epoch_ && batch == batch_) changed["loss"] = value_;
    inner_->on_train_batch_end(trainer, batch, changed);
  }

 private:
  CallbackPtr inner_;
  int epoch_;
  int64_t batch_;
  double value_;
  int epoch_now_ = 0;
};

TEST(TerminateOnNaNTest, StopsAfterTheBatchWithAnInvalidLoss) {
  for (const double bad : {kNaN, kInf, -kInf}) {
    Trainer trainer(tiny_model(), {.optimizer = SGD()});
    const data::LabeledImages data = tiny_data(32, 7);
    std::ostringstream out;
    ::testing::internal::CaptureStdout();
    const History h =
        trainer.fit(data, {.epochs = 3,
                           .batch_size = 8,
                           .callbacks = {std::make_shared<NanAt>(TerminateOnNaN(), 1, 2, bad)},
                           .verbose = 0,
                           .out = &out});
    EXPECT_EQ(::testing::internal::GetCapturedStdout(),
              "Batch 2: Invalid loss, terminating training\n");
    EXPECT_EQ(trainer.iterations(), 4 + 3);  // epoch 0, then batches 0..2 of epoch 1
    EXPECT_EQ(h.epochs.size(), 2u);
  }
}

TEST(TerminateOnNaNTest, IgnoresFiniteAndMissingLossesAndCanThrow) {
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr quiet = TerminateOnNaN();
  ::testing::internal::CaptureStdout();
  quiet->on_train_batch_end(trainer, 0, {{"loss", 1e300}});
  quiet->on_train_batch_end(trainer, 1, {{"accuracy", kNaN}});
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "");
  const CallbackPtr raising = TerminateOnNaN(/*raise_error=*/true);
  EXPECT_EQ(code_of([&] {
              raising->on_train_batch_end(trainer, 3, {{"loss", kNaN}});
            }),
            ErrorCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// ReduceLROnPlateau (hooks called directly)

// The learning rate as a float32 optimizer variable holds it.
double f32(double v) { return static_cast<double>(static_cast<float>(v)); }

TEST(ReduceLROnPlateauTest, ReducesAfterPatienceThenCoolsDownAndStopsAtMinLr) {
  Trainer trainer(tiny_model(), {.optimizer = SGD({.learning_rate = 0.1f})});
  const CallbackPtr cb = ReduceLROnPlateau({.factor = 0.5,
                                            .patience = 2,
                                            .verbose = 1,
                                            .min_delta = 0.0,
                                            .cooldown = 1,
                                            .min_lr = 0.02});
  cb->on_train_begin(trainer);
  // val_loss never improves after epoch 0. Traced through Keras 3:
  //   epoch: 0 best, 1 wait 1, 2 wait 2 -> reduce + cooldown 1, 3 cooldown ends, wait 1,
  //   4 wait 2 -> reduce, 5 wait 1, 6 wait 2 -> reduce to min_lr, 7 wait 1, 8 wait 2: lr is not
  //   above min_lr, nothing changes, 9 wait 3.
  const double lr0 = f32(0.1);
  const double lr1 = lr0 * 0.5;
  const double lr2 = f32(lr1) * 0.5;
  const std::vector<double> lr_after{lr0, lr0, lr1, lr1, lr2, lr2, 0.02, 0.02, 0.02, 0.02};
  const std::vector<double> logged{lr0,      lr0,      lr0,       f32(lr1),  f32(lr1),
                                   f32(lr2), f32(lr2), f32(0.02), f32(0.02), f32(0.02)};
  ::testing::internal::CaptureStdout();
  for (int epoch = 0; epoch < 10; ++epoch) {
    Logs logs{{"val_loss", 1.0}};
    cb->on_epoch_end(trainer, epoch, logs);
    EXPECT_EQ(logs.at("learning_rate"), logged[static_cast<size_t>(epoch)]) << epoch;
    EXPECT_EQ(trainer.learning_rate(), lr_after[static_cast<size_t>(epoch)]) << epoch;
  }
  // Python's repr of these doubles: 0.1f = 0.10000000149011612.
  EXPECT_EQ(::testing::internal::GetCapturedStdout(),
            "\nEpoch 3: ReduceLROnPlateau reducing learning rate to 0.05000000074505806.\n"
            "\nEpoch 5: ReduceLROnPlateau reducing learning rate to 0.02500000037252903.\n"
            "\nEpoch 7: ReduceLROnPlateau reducing learning rate to 0.02.\n");
}

TEST(ReduceLROnPlateauTest, CooldownCountsDownOneEpochAtATime) {
  Trainer trainer(tiny_model(), {.optimizer = SGD({.learning_rate = 0.5f})});
  const CallbackPtr cb =
      ReduceLROnPlateau({.factor = 0.5, .patience = 1, .min_delta = 0.0, .cooldown = 2});
  cb->on_train_begin(trainer);
  // Keras 3: 0 best; 1 wait 1 -> reduce, cooldown 2; 2 cooldown 1 (no wait); 3 cooldown 0, wait
  // 1 -> reduce, cooldown 2; 4 cooldown 1; 5 cooldown 0, wait 1 -> reduce.
  const std::vector<double> lr_after{0.5, 0.25, 0.25, 0.125, 0.125, 0.0625};
  for (int epoch = 0; epoch < 6; ++epoch) {
    Logs logs{{"val_loss", 1.0}};
    cb->on_epoch_end(trainer, epoch, logs);
    EXPECT_EQ(trainer.learning_rate(), lr_after[static_cast<size_t>(epoch)]) << epoch;
  }
}

TEST(ReduceLROnPlateauTest, OnlyImprovementsBeyondMinDeltaResetTheWait) {
  Trainer trainer(tiny_model(), {.optimizer = SGD({.learning_rate = 0.1f})});
  const CallbackPtr cb = ReduceLROnPlateau({.patience = 1});  // min_delta 1e-4, factor 0.1
  cb->on_train_begin(trainer);
  Logs e0{{"val_loss", 1.0}};
  cb->on_epoch_end(trainer, 0, e0);
  Logs e1{{"val_loss", 0.9998}};  // improves by 2e-4: the best, no reduction
  cb->on_epoch_end(trainer, 1, e1);
  EXPECT_EQ(trainer.learning_rate(), f32(0.1));
  Logs e2{{"val_loss", 0.99975}};  // 0.99975 + 1e-4 is not below 0.9998: reduced
  cb->on_epoch_end(trainer, 2, e2);
  EXPECT_EQ(trainer.learning_rate(), f32(0.1) * 0.1);
  // A new fit resets the best: 5.0 is a first value again, not a plateau.
  cb->on_train_begin(trainer);
  Logs again{{"val_loss", 5.0}};
  cb->on_epoch_end(trainer, 0, again);
  EXPECT_EQ(trainer.learning_rate(), f32(0.1) * 0.1);
}

TEST(ReduceLROnPlateauTest, AMissingMonitorWarnsButStillLogsTheRate) {
  Trainer trainer(tiny_model(), {.optimizer = SGD({.learning_rate = 0.5f})});
  const CallbackPtr cb = ReduceLROnPlateau({.patience = 0});
  cb->on_train_begin(trainer);
  ::testing::internal::CaptureStderr();
  Logs logs{{"loss", 1.0}};
  cb->on_epoch_end(trainer, 0, logs);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "UserWarning: Learning rate reduction is conditioned on metric `val_loss` which is "
            "not available. Available metrics are: learning_rate,loss.\n");
  EXPECT_EQ(logs.at("learning_rate"), 0.5);
  EXPECT_EQ(trainer.learning_rate(), 0.5);
}

TEST(ReduceLROnPlateauTest, RejectsAFactorOfOneAndAScheduledOptimizer) {
  EXPECT_EQ(code_of([] { ReduceLROnPlateau({.factor = 1.0}); }), ErrorCode::kInvalidArgument);
  Optimizer sgd = SGD();
  sgd.schedule = ExponentialDecay({});
  Trainer trainer(tiny_model(), {.optimizer = sgd});
  const CallbackPtr cb = ReduceLROnPlateau();
  EXPECT_EQ(code_of([&] { cb->on_train_begin(trainer); }), ErrorCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// LearningRateScheduler

TEST(LearningRateSchedulerTest, SetsTheRateAtEachEpochBeginAndLogsIt) {
  Trainer trainer(tiny_model(), {.optimizer = SGD({.learning_rate = 0.1f})});
  const CallbackPtr cb = LearningRateScheduler(
      [](int epoch, double lr) { return epoch < 2 ? lr : lr * 0.5; }, /*verbose=*/1);
  cb->on_train_begin(trainer);
  const std::vector<double> expected{f32(0.1), f32(0.1), f32(0.1) * 0.5, f32(f32(0.1) * 0.5) * 0.5};
  ::testing::internal::CaptureStdout();
  for (int epoch = 0; epoch < 4; ++epoch) {
    cb->on_epoch_begin(trainer, epoch);
    EXPECT_EQ(trainer.learning_rate(), expected[static_cast<size_t>(epoch)]) << epoch;
    Logs logs{{"loss", 1.0}};
    cb->on_epoch_end(trainer, epoch, logs);
    EXPECT_EQ(logs.at("learning_rate"), f32(expected[static_cast<size_t>(epoch)])) << epoch;
  }
  EXPECT_EQ(::testing::internal::GetCapturedStdout(),
            "\nEpoch 1: LearningRateScheduler setting learning rate to 0.10000000149011612.\n"
            "\nEpoch 2: LearningRateScheduler setting learning rate to 0.10000000149011612.\n"
            "\nEpoch 3: LearningRateScheduler setting learning rate to 0.05000000074505806.\n"
            "\nEpoch 4: LearningRateScheduler setting learning rate to 0.02500000037252903.\n");
}

TEST(LearningRateSchedulerTest, TheFitTrainsWithTheScheduledRate) {
  // A rate of 0 from epoch 1 on: the weights stop moving.
  Trainer trainer(tiny_model(), {.optimizer = SGD({.learning_rate = 0.1f})});
  const auto recorder = std::make_shared<Recorder>();
  const std::vector<std::vector<float>> initial = trainer.get_weights();
  fit_quietly(
      trainer,
      {LearningRateScheduler([](int epoch, double lr) { return epoch == 0 ? lr : 0.0; }), recorder},
      3);
  ASSERT_EQ(recorder->weights.size(), 3u);
  EXPECT_NE(recorder->weights[0], initial);
  EXPECT_EQ(recorder->weights[1], recorder->weights[0]);
  EXPECT_EQ(recorder->weights[2], recorder->weights[0]);
  EXPECT_EQ(recorder->logs_seen[0].at("learning_rate"), f32(0.1));
  EXPECT_EQ(recorder->logs_seen[2].at("learning_rate"), 0.0);
}

TEST(LearningRateSchedulerTest, RejectsANegativeRateAndAScheduledOptimizer) {
  Trainer trainer(tiny_model(), {.optimizer = SGD()});
  const CallbackPtr negative = LearningRateScheduler([](int, double) { return -1.0; });
  EXPECT_EQ(code_of([&] { negative->on_epoch_begin(trainer, 0); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { LearningRateScheduler(nullptr); }), ErrorCode::kInvalidArgument);
  Optimizer sgd = SGD();
  sgd.schedule = CosineDecay({});
  Trainer scheduled(tiny_model(), {.optimizer = sgd});
  const CallbackPtr cb = LearningRateScheduler([](int, double lr) { return lr; });
  EXPECT_EQ(code_of([&] { cb->on_train_begin(scheduled); }), ErrorCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// All together in a real fit.

// Splits a csv line at commas (the values here need no quoting).
std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream s(line);
  std::string field;
  while (std::getline(s, field, ',')) fields.push_back(field);
  return fields;
}

TEST(CallbacksFitTest, EarlyStoppingCheckpointAndCsvAgreeOnARealRun) {
  TempDir dir;
  const data::LabeledImages train = tiny_data(64, 21), validation = tiny_data(32, 22);
  Trainer trainer(tiny_model(),
                  {.optimizer = SGD({.learning_rate = 0.05f, .momentum = 0.9f}), .seed = 4});
  const auto recorder = std::make_shared<Recorder>();
  const int patience = 1, epochs = 12;
  std::ostringstream out;
  const History h = trainer.fit(
      train, {.epochs = epochs,
              .batch_size = 16,
              .validation_data = validation.view(),
              .callbacks = {recorder,
                            ModelCheckpoint(
                                {.filepath = dir / "best.safetensors", .save_best_only = true}),
                            ModelCheckpoint({.filepath = dir / "e{epoch:02d}-{val_loss:.3f}",
                                             .save_best_only = true}),
                            EarlyStopping({.patience = patience, .restore_best_weights = true}),
                            CSVLogger({.filename = dir / "log.csv"})},
              .verbose = 0,
              .out = &out});

  // The decisions, recomputed from the recorded val_loss with Keras' rule.
  const std::vector<Logs>& seen = recorder->logs_seen;
  ASSERT_EQ(seen.size(), h.epochs.size());
  size_t best = 0, expected_epochs = seen.size(), wait = 0;
  std::vector<size_t> improved;
  for (size_t e = 0; e < seen.size(); ++e) {
    const double v = seen[e].at("val_loss");
    if (e == 0 || v < seen[best].at("val_loss")) {
      best = e;
      wait = 0;
      improved.push_back(e);
    } else if (++wait >= static_cast<size_t>(patience) && expected_epochs == seen.size()) {
      expected_epochs = e + 1;
    }
  }
  EXPECT_EQ(h.epochs.size(), expected_epochs);

  // Restored weights are the best epoch's, and so is the best checkpoint.
  EXPECT_EQ(trainer.get_weights(), recorder->weights[best]);
  Trainer reloaded(tiny_model(), {.optimizer = SGD()});
  reloaded.load_weights(dir / "best.safetensors");
  EXPECT_EQ(reloaded.get_weights(), recorder->weights[best]);

  // One formatted checkpoint per improvement, none otherwise.
  size_t checkpoints = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    checkpoints += entry.path().filename().string().starts_with("e") ? 1 : 0;
  }
  EXPECT_EQ(checkpoints, improved.size());
  for (const size_t e : improved) {
    char name[64];
    std::snprintf(name, sizeof name, "e%02zu-%.3f", e + 1, seen[e].at("val_loss"));
    EXPECT_TRUE(fs::exists(dir / name)) << name;
  }

  // The csv holds every epoch's logs, values that read back exactly.
  std::stringstream csv(read_text(dir / "log.csv"));
  std::string line;
  ASSERT_TRUE(std::getline(csv, line));
  EXPECT_EQ(line, "epoch,accuracy,loss,val_accuracy,val_loss\r");
  for (size_t e = 0; e < seen.size(); ++e) {
    ASSERT_TRUE(std::getline(csv, line)) << e;
    ASSERT_EQ(line.back(), '\r');
    line.pop_back();
    const std::vector<std::string> f = split(line);
    ASSERT_EQ(f.size(), 5u) << line;
    EXPECT_EQ(f[0], std::to_string(e));
    EXPECT_EQ(std::stod(f[1]), seen[e].at("accuracy")) << line;
    EXPECT_EQ(std::stod(f[2]), seen[e].at("loss")) << line;
    EXPECT_EQ(std::stod(f[3]), seen[e].at("val_accuracy")) << line;
    EXPECT_EQ(std::stod(f[4]), seen[e].at("val_loss")) << line;
  }
  EXPECT_FALSE(std::getline(csv, line));
}

}  // namespace
}  // namespace leantrain::train

// `leantrain train`: load data, build and plan the model, fit, report predicted and measured
// peak memory.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "leantrain/core/error.h"
#include "leantrain/core/file.h"
#include "leantrain/data/idx.h"
#include "leantrain/data/resize_images.h"
#include "leantrain/memory/allocator.h"
#include "leantrain/memory/arena.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/memory/process_memory.h"
#include "leantrain/nn/serialization.h"
#include "leantrain/nn/zoo.h"
#include "leantrain/runtime/engine.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/callbacks.h"
#include "leantrain/train/model_file.h"
#include "leantrain/train/plot.h"
#include "leantrain/train/trainer.h"

namespace leantrain::cli {
namespace {

struct TrainArgs {
  std::string model = "cnn";
  float alpha = 1.0f;
  std::string image_size;  // HxW: resize the data once before training
  std::string data = "fashion-mnist";
  std::string data_dir;
  int epochs = 1;
  int64_t batch_size = 32;
  uint64_t seed = 0;
  std::string optimizer = "adam";
  float learning_rate = -1;  // the optimizer's Keras default
  float momentum = 0;
  bool nesterov = false;
  int threads = 2;
  std::string kernels = "fast";
  std::string report;
  int verbose = 1;
  std::string project = "runs/train";
  std::string name = "exp";
  int patience = 0;  // EarlyStopping on val_loss when > 0
  std::string lr_schedule = "constant";
  int64_t steps_per_epoch = 0;
  int64_t recalibrate_bn = 0;
  std::string allocator = "preallocate";
  std::string memory_limit;  // e.g. 512MiB; empty: none
};

train::Optimizer make_optimizer(const TrainArgs& a) {
  if (a.optimizer == "adam") {
    train::AdamOptions o;
    if (a.learning_rate > 0) o.learning_rate = a.learning_rate;
    return train::Adam(o);
  }
  if (a.optimizer == "adamw") {
    train::AdamWOptions o;
    if (a.learning_rate > 0) o.learning_rate = a.learning_rate;
    return train::AdamW(o);
  }
  if (a.optimizer == "sgd") {
    train::SGDOptions o;
    if (a.learning_rate > 0) o.learning_rate = a.learning_rate;
    o.momentum = a.momentum;
    o.nesterov = a.nesterov;
    return train::SGD(o);
  }
  throw Error(ErrorCode::kInvalidArgument,
              "unknown optimizer '" + a.optimizer + "'; use adam, adamw or sgd");
}

void write_report(const std::string& path, const TrainArgs& a, const train::History& history,
                  const train::MemoryReport& plan, int64_t measured, int64_t baseline,
                  int64_t engine_bytes) {
  nlohmann::json j;
  j["framework"] = "leantrain";
  j["model"] = a.model;
  j["data"] = a.data;
  j["batch_size"] = a.batch_size;
  j["seed"] = a.seed;
  j["threads"] = a.threads;
  j["optimizer"] = a.optimizer;
  double images = 0, seconds = 0;
  for (const train::EpochLogs& e : history.epochs) {
    nlohmann::json row{
        {"epoch", e.epoch}, {"seconds", e.seconds}, {"images_per_second", e.images_per_second}};
    for (const auto& [key, value] : e.logs) {
      // The validation data here is the test split.
      row[key.starts_with("val_") ? "test_" + key.substr(4) : key] = value;
    }
    j["epochs"].push_back(row);
    images += e.images_per_second * e.seconds;
    seconds += e.seconds;
  }
  j["images_per_second"] = seconds > 0 ? images / seconds : 0.0;
  if (!history.epochs.empty() && history.epochs.back().logs.contains("val_accuracy")) {
    j["test_accuracy"] = history.epochs.back().get("val_accuracy");
  }
  j["predicted_peak_bytes"] = plan.predicted_peak_bytes;
  j["measured_peak_bytes"] = measured;
  j["baseline_rss_bytes"] = baseline;
  j["engine_start_bytes"] = engine_bytes;
  j["peak_rss_bytes"] = memory::peak_rss_bytes();
  j["memory_plan"] = {{"parameters", plan.parameters_bytes},
                      {"state", plan.state_bytes},
                      {"gradients", plan.gradients_bytes},
                      {"optimizer", plan.optimizer_bytes},
                      {"persistent", plan.persistent_bytes},
                      {"train_arena", plan.train_arena_bytes},
                      {"eval_arena", plan.eval_arena_bytes},
                      {"arena", plan.arena_bytes},
                      {"pipeline", plan.pipeline_bytes},
                      {"scratch_max", plan.scratch_bytes},
                      {"step_buffers_without_reuse", plan.step_buffers_bytes},
                      {"kept_for_backward", plan.kept_for_backward_bytes}};
  write_file_atomically(path, j.dump(2) + "\n");
}

// The model: a zoo name (built with logits, trained from logits) or a model file.
nn::Model make_model(const TrainArgs& a, const Shape& input_shape, int64_t classes) {
  if (std::filesystem::exists(a.model)) return train::load_model_architecture(a.model);
  return nn::make_model(a.model, input_shape, classes, a.seed, {.alpha = a.alpha});
}

// Loss and labels from the model's output: a softmax head gives probabilities.
train::Loss make_loss(const nn::Model& model) {
  return train::SparseCategoricalCrossentropy({.from_logits = !nn::outputs_probabilities(model)});
}

// Per-epoch loss and accuracy (train and test) as two charts.
void write_plot(const std::string& path, const train::History& history) {
  train::Chart loss{.title = "loss", .x_label = "epoch", .y_label = "loss"};
  train::Chart accuracy{.title = "accuracy", .x_label = "epoch", .y_label = "accuracy"};
  for (const char* key : {"loss", "val_loss"}) {
    train::Series series{.name = key[0] == 'v' ? "test" : "train"};
    for (const train::EpochLogs& e : history.epochs) {
      series.x.push_back(e.epoch);
      series.y.push_back(e.get(key));
    }
    loss.series.push_back(series);
  }
  for (const char* key : {"accuracy", "val_accuracy"}) {
    train::Series series{.name = key[0] == 'v' ? "test" : "train"};
    for (const train::EpochLogs& e : history.epochs) {
      series.x.push_back(e.epoch);
      series.y.push_back(e.get(key));
    }
    accuracy.series.push_back(series);
  }
  const std::vector<train::Chart> charts{loss, accuracy};
  train::write_svg(path, charts);
}

nlohmann::json args_json(const TrainArgs& a) {
  return {{"model", a.model},
          {"alpha", a.alpha},
          {"image_size", a.image_size},
          {"data", a.data},
          {"data_dir", a.data_dir},
          {"epochs", a.epochs},
          {"batch_size", a.batch_size},
          {"seed", a.seed},
          {"optimizer", a.optimizer},
          {"learning_rate", a.learning_rate},
          {"momentum", a.momentum},
          {"nesterov", a.nesterov},
          {"threads", a.threads},
          {"kernels", a.kernels},
          {"patience", a.patience},
          {"lr_schedule", a.lr_schedule},
          {"recalibrate_bn", a.recalibrate_bn},
          {"steps_per_epoch", a.steps_per_epoch}};
}

void run_train(const TrainArgs& a) {
  const int64_t engine_bytes = runtime::start_engine(a.threads);
  LT_CHECK(a.data == "fashion-mnist", kUnimplemented, "--data '", a.data,
           "' is not supported yet; use --data fashion-mnist");
  data::TrainTest ds = data::load_fashion_mnist(a.data_dir);
  if (!a.image_size.empty()) {
    const Shape size = parse_shape(a.image_size);
    LT_CHECK(size.rank() == 2, kInvalidArgument, "--image-size takes HxW, got '", a.image_size,
             "'");
    ds.train = data::resize_images(ds.train, size[0], size[1]);
    ds.test = data::resize_images(ds.test, size[0], size[1]);
  }
  std::cout << "Fashion-MNIST: " << ds.train.count << " training and " << ds.test.count
            << " test images, " << ds.train.height << "x" << ds.train.width << "x"
            << ds.train.channels << ", " << ds.train.num_classes << " classes (held as u8: "
            << memory::readable_bytes(ds.train.bytes() + ds.test.bytes()) << ")\n";

  std::cout << "Engine started with " << a.threads << " threads (+"
            << memory::readable_bytes(engine_bytes)
            << " resident: oneDNN code and shared kernels, the same for every model)\n";
  // Measured peak = peak resident set after this point minus the resident set now.
  const int64_t baseline = memory::current_rss_bytes();
  const bool reset = memory::reset_peak_rss();
  const nn::Model model = make_model(a, Shape{ds.train.height, ds.train.width, ds.train.channels},
                                     ds.train.num_classes);
  LT_CHECK(a.kernels == "fast" || a.kernels == "reference", kInvalidArgument,
           "--kernels must be fast or reference, got '", a.kernels, "'");
  train::Optimizer optimizer = make_optimizer(a);
  const int64_t steps_per_epoch = (ds.train.count + a.batch_size - 1) / a.batch_size;
  if (a.lr_schedule == "cosine") {
    optimizer.schedule = train::CosineDecay({.initial_learning_rate = optimizer.learning_rate,
                                             .decay_steps = steps_per_epoch * a.epochs});
  } else {
    LT_CHECK(a.lr_schedule == "constant", kInvalidArgument,
             "--lr-schedule must be constant or "
             "cosine, got '",
             a.lr_schedule, "'");
  }
  train::Trainer trainer(
      model, {.optimizer = optimizer,
              .loss = make_loss(model),
              .seed = a.seed,
              .kernels = a.kernels == "fast" ? graph::KernelChoice::kFast
                                             : graph::KernelChoice::kReference,
              .allocator = {.mode = memory::parse_allocator_mode(a.allocator),
                            .limit_bytes =
                                a.memory_limit.empty() ? 0 : memory::parse_bytes(a.memory_limit)}});
  const train::MemoryReport plan = trainer.plan(a.batch_size, ds.train.count, ds.test.count);
  std::cout << "Model '" << model.name() << "': " << model.count_params(true) << " parameters; "
            << trainer.store().names().size() << " persistent tensors; optimizer "
            << make_optimizer(a).name() << "\n"
            << "Predicted peak memory: " << memory::readable_bytes(plan.predicted_peak_bytes)
            << " (persistent " << memory::readable_bytes(plan.persistent_bytes) << " + arena "
            << memory::readable_bytes(plan.arena_bytes) << " + input pipeline "
            << memory::readable_bytes(plan.pipeline_bytes) << ")\n";

  // The run directory: arguments, per-epoch metrics, best and last weights (model files),
  // a plot of loss and accuracy.
  std::string run;
  std::vector<train::CallbackPtr> callbacks;
  if (!a.project.empty()) {
    run = make_run_dir(a.project, a.name);
    std::filesystem::create_directories(run + "/weights");
    write_file_atomically(run + "/args.json", args_json(a).dump(2) + "\n");
    write_file_atomically(run + "/model.json", nn::to_json(model) + "\n");
    callbacks.push_back(train::CSVLogger({.filename = run + "/metrics.csv"}));
    callbacks.push_back(train::ModelCheckpoint({.filepath = run + "/weights/best.safetensors",
                                                .monitor = "val_accuracy",
                                                .save_best_only = true}));
    callbacks.push_back(train::ModelCheckpoint({.filepath = run + "/weights/last.safetensors"}));
    std::cout << "Run directory: " << run << "\n";
  }
  if (a.patience > 0) {
    callbacks.push_back(
        train::EarlyStopping({.patience = a.patience, .restore_best_weights = true}));
  }
  const train::History history =
      trainer.fit(ds.train, {.epochs = a.epochs,
                             .batch_size = a.batch_size,
                             .validation_data = &ds.test,
                             .callbacks = callbacks,
                             .steps_per_epoch = a.steps_per_epoch,
                             .recalibrate_batch_norm_steps = a.recalibrate_bn,
                             .verbose = a.verbose});
  const int64_t peak = memory::peak_rss_bytes();
  const int64_t measured = peak - baseline;
  const train::EpochLogs& last = history.epochs.back();
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "Test accuracy: %.4f (loss %.4f)\n"
                "Peak memory: predicted %s, measured %s (%+.1f%%; peak RSS %s minus %s before "
                "the model was built%s)\n",
                last.get("val_accuracy"), last.get("val_loss"),
                memory::readable_bytes(plan.predicted_peak_bytes).c_str(),
                memory::readable_bytes(measured).c_str(),
                100.0 * static_cast<double>(measured - plan.predicted_peak_bytes) /
                    static_cast<double>(plan.predicted_peak_bytes),
                memory::readable_bytes(peak).c_str(), memory::readable_bytes(baseline).c_str(),
                reset ? "" : "; peak counter could not be reset, so data loading may count");
  std::cout << buf;
  if (!run.empty()) {
    write_plot(run + "/results.svg", history);
    write_report(run + "/report.json", a, history, plan, measured, baseline, engine_bytes);
    std::cout << "Results saved to " << run << " (args.json, model.json, metrics.csv, "
              << "weights/best.safetensors, weights/last.safetensors, results.svg, report.json)\n";
  }
  if (!a.report.empty()) {
    write_report(a.report, a, history, plan, measured, baseline, engine_bytes);
    std::cout << "Report written to " << a.report << "\n";
  }
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a model");
  cmd->add_option("--model", a->model,
                  "A zoo model (cnn, mobilenet, mobilenet_v2, efficientnet_b0) or a model file "
                  "(.safetensors written by leantrain, or a Keras model.to_json() .json)")
      ->capture_default_str();
  cmd->add_option("--alpha", a->alpha, "Width multiplier of MobileNet / MobileNetV2")
      ->capture_default_str();
  cmd->add_option("--image-size", a->image_size,
                  "Resize the images once before training, HxW (e.g. 32x32)");
  cmd->add_option("--data", a->data, "Dataset (fashion-mnist)")->capture_default_str();
  cmd->add_option("--data-dir", a->data_dir,
                  "Directory holding the IDX files (default: /usr/share/datasets/fashion-mnist)");
  cmd->add_option("--epochs", a->epochs, "Epochs")->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "Batch size")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed for initialization, shuffling and dropout")
      ->capture_default_str();
  cmd->add_option("--optimizer", a->optimizer, "adam, adamw or sgd")->capture_default_str();
  cmd->add_option("--learning-rate", a->learning_rate, "Learning rate (default: Keras')");
  cmd->add_option("--momentum", a->momentum, "SGD momentum")->capture_default_str();
  cmd->add_flag("--nesterov", a->nesterov, "SGD with Nesterov momentum");
  cmd->add_option("--threads", a->threads, "Threads")->capture_default_str();
  cmd->add_option("--kernels", a->kernels, "fast (oneDNN) or reference")->capture_default_str();
  cmd->add_option("--report", a->report, "Write the run's figures as JSON to this file");
  cmd->add_option("--verbose", a->verbose, "0 silent, 1 progress bar, 2 one line per epoch")
      ->capture_default_str();
  cmd->add_option("--project", a->project, "Parent of run directories (empty: write none)")
      ->capture_default_str();
  cmd->add_option("--name", a->name, "Run directory name (exp, then exp2, exp3, ...)")
      ->capture_default_str();
  cmd->add_option(
         "--patience", a->patience,
         "EarlyStopping on val_loss with this patience, restoring the best weights (0: off)")
      ->capture_default_str();
  cmd->add_option("--steps-per-epoch", a->steps_per_epoch,
                  "Stop each epoch after this many steps (0: the whole training set)")
      ->capture_default_str();
  cmd->add_option("--recalibrate-bn", a->recalibrate_bn,
                  "After each epoch, set batch-norm moving statistics from this many training "
                  "batches run forward with frozen weights (precise BN; 0: off)")
      ->capture_default_str();
  cmd->add_option("--allocator", a->allocator,
                  "preallocate (take the planned memory up front) or grow (take pages as first "
                  "used, like TensorFlow's memory growth)")
      ->capture_default_str();
  cmd->add_option("--memory-limit", a->memory_limit,
                  "Hard limit on the model's persistent block and step arena, e.g. 512MiB; a "
                  "plan over it fails before training");
  cmd->add_option("--lr-schedule", a->lr_schedule, "constant or cosine (CosineDecay over the run)")
      ->capture_default_str();
  cmd->callback([a] { run_train(*a); });
}

}  // namespace leantrain::cli

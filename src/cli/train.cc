// `leantrain train`: load data, build and plan the model, fit, report predicted and measured
// peak memory.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "leantrain/core/error.h"
#include "leantrain/data/idx.h"
#include "leantrain/memory/arena.h"
#include "leantrain/memory/process_memory.h"
#include "leantrain/nn/zoo.h"
#include "leantrain/runtime/engine.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/trainer.h"

namespace leantrain::cli {
namespace {

struct TrainArgs {
  std::string model = "cnn";
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
    nlohmann::json row{{"epoch", e.epoch},
                       {"loss", e.loss},
                       {"accuracy", e.accuracy},
                       {"seconds", e.seconds},
                       {"images_per_second", e.images_per_second}};
    if (e.val_loss) row["test_loss"] = *e.val_loss;
    if (e.val_accuracy) row["test_accuracy"] = *e.val_accuracy;
    j["epochs"].push_back(row);
    images += e.images_per_second * e.seconds;
    seconds += e.seconds;
  }
  j["images_per_second"] = seconds > 0 ? images / seconds : 0.0;
  if (!history.epochs.empty() && history.epochs.back().val_accuracy) {
    j["test_accuracy"] = *history.epochs.back().val_accuracy;
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
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    LT_CHECK(out.good(), kIo, "cannot write report '", path, "'");
    out << j.dump(2) << "\n";
    LT_CHECK(out.good(), kIo, "writing report '", path, "' failed");
  }
  LT_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, kIo, "cannot rename '", tmp, "' to '", path,
           "'");
}

void run_train(const TrainArgs& a) {
  const int64_t engine_bytes = runtime::start_engine(a.threads);
  LT_CHECK(a.data == "fashion-mnist", kUnimplemented, "--data '", a.data,
           "' is not supported yet; use --data fashion-mnist");
  const data::TrainTest ds = data::load_fashion_mnist(a.data_dir);
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
  const nn::Sequential model =
      nn::make_model(a.model, Shape{ds.train.height, ds.train.width, ds.train.channels},
                     ds.train.num_classes, a.seed);
  LT_CHECK(a.kernels == "fast" || a.kernels == "reference", kInvalidArgument,
           "--kernels must be fast or reference, got '", a.kernels, "'");
  train::Trainer trainer(model, {.optimizer = make_optimizer(a),
                                 .seed = a.seed,
                                 .kernels = a.kernels == "fast" ? graph::KernelChoice::kFast
                                                                : graph::KernelChoice::kReference});
  const train::MemoryReport plan = trainer.plan(a.batch_size, ds.train.count, ds.test.count);
  std::cout << "Model '" << model.name() << "': " << model.count_params(true) << " parameters; "
            << trainer.store().names().size() << " persistent tensors; optimizer "
            << make_optimizer(a).name() << "\n"
            << "Predicted peak memory: " << memory::readable_bytes(plan.predicted_peak_bytes)
            << " (persistent " << memory::readable_bytes(plan.persistent_bytes) << " + arena "
            << memory::readable_bytes(plan.arena_bytes) << " + input pipeline "
            << memory::readable_bytes(plan.pipeline_bytes) << ")\n";

  const train::History history = trainer.fit(ds.train, {.epochs = a.epochs,
                                                        .batch_size = a.batch_size,
                                                        .validation_data = &ds.test,
                                                        .verbose = a.verbose});
  const int64_t peak = memory::peak_rss_bytes();
  const int64_t measured = peak - baseline;
  const train::EpochLogs& last = history.epochs.back();
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "Test accuracy: %.4f (loss %.4f)\n"
                "Peak memory: predicted %s, measured %s (%+.1f%%; peak RSS %s minus %s before "
                "the model was built%s)\n",
                last.val_accuracy.value_or(0.0), last.val_loss.value_or(0.0),
                memory::readable_bytes(plan.predicted_peak_bytes).c_str(),
                memory::readable_bytes(measured).c_str(),
                100.0 * static_cast<double>(measured - plan.predicted_peak_bytes) /
                    static_cast<double>(plan.predicted_peak_bytes),
                memory::readable_bytes(peak).c_str(), memory::readable_bytes(baseline).c_str(),
                reset ? "" : "; peak counter could not be reset, so data loading may count");
  std::cout << buf;
  if (!a.report.empty()) {
    write_report(a.report, a, history, plan, measured, baseline, engine_bytes);
    std::cout << "Report written to " << a.report << "\n";
  }
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a model");
  cmd->add_option("--model", a->model, "Model name (cnn)")->capture_default_str();
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
  cmd->callback([a] { run_train(*a); });
}

}  // namespace leantrain::cli

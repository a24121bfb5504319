// `leantrain train`: load data, build and plan the model, fit, report predicted and measured
// peak memory.
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/input_data.h"
#include "leantrain/core/error.h"
#include "leantrain/core/file.h"
#include "leantrain/data/idx.h"
#include "leantrain/data/resize_images.h"
#include "leantrain/memory/allocator.h"
#include "leantrain/memory/arena.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/memory/process_memory.h"
#include "leantrain/nn/serialization.h"
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
  DataArgs data;  // --data and the flags of the input pipeline
  int epochs = 1;
  int64_t steps = 0;  // stop after this many steps in all (0: no limit)
  std::string optimizer = "adam";
  float learning_rate = -1;  // the optimizer's Keras default
  float momentum = 0;
  bool nesterov = false;
  int threads = 2;
  std::string kernels = "fast";
  std::string conv_weights = "any";   // fast Conv2D: oneDNN's weights layout or Keras'
  std::string dense_impl = "matmul";  // fast Dense: matmul or inner_product
  std::string report;
  int verbose = 1;
  std::string project = "runs/train";
  std::string name = "exp";
  int patience = 0;  // EarlyStopping on val_loss when > 0
  bool terminate_on_nan = false;
  std::string lr_schedule = "constant";
  int64_t steps_per_epoch = 0;
  int64_t recalibrate_bn = 0;
  std::string allocator = "preallocate";
  std::string memory_limit;         // e.g. 512MiB; empty: none
  std::string memory_budget;        // e.g. 512MiB; empty: none
  std::string micro_batches = "1";  // k, or auto (the budget planner's choice)
  bool bf16_storage = false;
};

// Asks the trainer to stop once it has run `steps` steps in all (--steps).
class StopAfterSteps final : public train::Callback {
 public:
  explicit StopAfterSteps(int64_t steps) : steps_(steps) {}
  void on_train_batch_end(train::Trainer& trainer, int64_t, const train::Logs&) override {
    if (trainer.iterations() >= steps_) trainer.stop_training();
  }

 private:
  int64_t steps_;
};

// Records the loss Keras' on_train_batch_end reports (the running mean over the epoch so far)
// after every step, for the report: two plans' loss curves can be compared step by step.
class BatchLossLog final : public train::Callback {
 public:
  void on_train_batch_end(train::Trainer&, int64_t, const train::Logs& logs) override {
    losses_.push_back(logs.at("loss"));
  }
  const std::vector<double>& losses() const { return losses_; }

 private:
  std::vector<double> losses_;
};

// --micro-batches: a count >= 1, or "auto" (train::kAutoMicroBatches, with --memory-budget).
int parse_micro_batches(const std::string& text) {
  if (text == "auto") return train::kAutoMicroBatches;
  int k = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), k);
  LT_CHECK(ec == std::errc() && end == text.data() + text.size() && k >= 1, kInvalidArgument,
           "--micro-batches ", text,
           ": use a count >= 1, or auto (with --memory-budget: the "
           "planner splits a batch only when no whole-batch plan fits)");
  return k;
}

train::Optimizer make_optimizer(const TrainArgs& a) {
  return cli::make_optimizer(a.optimizer, a.learning_rate, a.momentum, a.nesterov);
}

void write_report(const std::string& path, const TrainArgs& a, const train::History& history,
                  const BatchLossLog& batch_losses, const train::MemoryReport& plan,
                  int64_t measured, int64_t baseline, int64_t engine_bytes) {
  nlohmann::json j;
  j["framework"] = "leantrain";
  j["model"] = a.model;
  j["data"] = a.data.data;
  j["batch_size"] = a.data.batch_size;
  j["seed"] = a.data.seed;
  j["threads"] = a.threads;
  j["optimizer"] = a.optimizer;
  double images = 0, seconds = 0;
  for (const train::EpochLogs& e : history.epochs) {
    nlohmann::json row{{"epoch", e.epoch},
                       {"seconds", e.seconds},
                       {"images_per_second", e.images_per_second},
                       {"steps", e.steps},
                       {"skipped", e.skipped}};
    for (const auto& [key, value] : e.logs) {
      // Fashion-MNIST validates on its test split.
      row[key.starts_with("val_") && a.data.data == "fashion-mnist" ? "test_" + key.substr(4)
                                                                    : key] = value;
    }
    j["epochs"].push_back(row);
    images += e.images_per_second * e.seconds;
    seconds += e.seconds;
  }
  j["images_per_second"] = seconds > 0 ? images / seconds : 0.0;
  if (!history.epochs.empty() && history.epochs.back().logs.contains("val_accuracy")) {
    j[a.data.data == "fashion-mnist" ? "test_accuracy" : "val_accuracy"] =
        history.epochs.back().get("val_accuracy");
  }
  j["steps"] = history.epochs.empty() ? 0 : history.epochs.back().steps;
  j["batch_end_losses"] = batch_losses.losses();  // per step: the epoch's running mean
  j["predicted_peak_bytes"] = plan.predicted_peak_bytes;
  j["plan"] = train::plan_kind_name(plan.plan_kind);
  j["extra_compute"] = plan.extra_compute_fraction;
  j["recomputed_stages"] = plan.recomputed_stages;
  j["memory_budget_bytes"] = plan.memory_budget_bytes;
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
  return train::resolve_model(a.model, {.input_shape = input_shape,
                                        .classes = classes,
                                        .seed = a.data.seed,
                                        .zoo = {.alpha = a.alpha}});
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

// The chosen plan under --memory-budget and its summary (`leantrain summary` shows the
// rematerialization report).
void print_plan(const train::MemoryReport& plan, std::ostream& out) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "Plan under memory budget %s: %s",
                memory::format_iec_bytes(plan.memory_budget_bytes).c_str(),
                train::plan_kind_name(plan.plan_kind));
  out << buf;
  if (train::recomputes(plan.plan_kind)) {
    std::snprintf(buf, sizeof buf, " (%d stages recomputed, extra compute %.1f%%)",
                  plan.recomputed_stages, 100.0 * plan.extra_compute_fraction);
    out << buf;
  }
  out << "\n";
  for (const std::string& line : plan.plan_explanation.summary) out << "  " << line << "\n";
}

nlohmann::json args_json(const TrainArgs& a) {
  return {{"model", a.model},
          {"alpha", a.alpha},
          {"image_size", a.data.image_size},
          {"data", a.data.data},
          {"data_dir", a.data.data_dir},
          {"augment", a.data.augment},
          {"validation_split", a.data.validation_split},
          {"color_mode", a.data.color_mode},
          {"data_threads", a.data.threads},
          {"epochs", a.epochs},
          {"steps", a.steps},
          {"batch_size", a.data.batch_size},
          {"seed", a.data.seed},
          {"optimizer", a.optimizer},
          {"learning_rate", a.learning_rate},
          {"momentum", a.momentum},
          {"nesterov", a.nesterov},
          {"threads", a.threads},
          {"kernels", a.kernels},
          {"conv_weights", a.conv_weights},
          {"dense_impl", a.dense_impl},
          {"patience", a.patience},
          {"terminate_on_nan", a.terminate_on_nan},
          {"lr_schedule", a.lr_schedule},
          {"recalibrate_bn", a.recalibrate_bn},
          {"memory_budget", a.memory_budget},
          {"steps_per_epoch", a.steps_per_epoch},
          {"micro_batches", a.micro_batches},
          {"bf16_storage", a.bf16_storage}};
}

// What was loaded: counts and shapes, and how it is held.
void print_input(const InputData& in) {
  if (in.images.has_value()) {
    const data::TrainTest& ds = *in.images;
    std::cout << in.description << ": " << ds.train.count << " training and " << ds.test.count
              << " " << in.validation_name << " images, " << in.image_shape.to_string() << ", "
              << in.classes << " classes (held as u8: "
              << memory::readable_bytes(ds.train.bytes() + ds.test.bytes()) << ")\n";
  } else {
    std::cout << in.description << ": " << in.image_shape.to_string() << " images, " << in.classes
              << " classes, streamed: " << in.train->describe() << "\n";
  }
}

// The optimizer of --optimizer with the learning-rate schedule of --lr-schedule over the run.
train::Optimizer make_scheduled_optimizer(const TrainArgs& a, const InputData& in) {
  const int64_t batch_size = a.data.batch_size;
  train::Optimizer optimizer = make_optimizer(a);
  int64_t steps_per_epoch =
      in.train_count > 0 ? (in.train_count + batch_size - 1) / batch_size : a.steps_per_epoch;
  if (a.steps_per_epoch > 0) steps_per_epoch = std::min(steps_per_epoch, a.steps_per_epoch);
  if (a.lr_schedule == "cosine") {
    LT_CHECK(steps_per_epoch > 0, kInvalidArgument,
             "--lr-schedule cosine needs the steps of the run: pass --steps-per-epoch for data "
             "of unknown length");
    int64_t total = steps_per_epoch * a.epochs;
    if (a.steps > 0) total = std::min(total, a.steps);
    optimizer.schedule = train::CosineDecay(
        {.initial_learning_rate = optimizer.learning_rate, .decay_steps = total});
  } else {
    LT_CHECK(a.lr_schedule == "constant", kInvalidArgument,
             "--lr-schedule must be constant or cosine, got '", a.lr_schedule, "'");
  }
  return optimizer;
}

// The Trainer's memory budget: --memory-budget without the input pipeline's buffers (known from
// the data), which it covers too; 0 without one.
int64_t trainer_budget(const TrainArgs& a, const InputData& in) {
  if (a.memory_budget.empty()) return 0;
  const int64_t pipeline =
      in.images.has_value() ? data::Batcher::bytes_for(in.images->train.count) +
                                  data::Batcher::bytes_for(in.images->test.count)
                            : std::max<int64_t>(0, in.train->max_buffered_bytes()) +
                                  (in.validation.has_value()
                                       ? std::max<int64_t>(0, in.validation->max_buffered_bytes())
                                       : 0);
  return model_budget_bytes(a.memory_budget, pipeline);
}

// The model, its predicted peak memory and, under a budget (or when micro-batching or bf16
// storage shape the training step), the plan.
void print_memory_plan(const TrainArgs& a, const nn::Model& model, const train::Trainer& trainer,
                       const train::MemoryReport& plan) {
  std::cout << "Model '" << model.name() << "': " << model.count_params(true) << " parameters; "
            << trainer.store().names().size() << " persistent tensors; optimizer "
            << make_optimizer(a).name() << "\n";
  print_predicted_peak(plan, std::cout);
  if (plan.memory_budget_bytes > 0) {
    print_plan(plan, std::cout);
  } else if (plan.micro_batches > 1 || a.bf16_storage) {
    std::cout << plan.plan_explanation.to_string();
  }
}

// The fit's callbacks: the run directory's (arguments, per-epoch metrics, best and last weights
// as model files; its path in *run, created here), early stopping, the step limit and
// `batch_losses`.
std::vector<train::CallbackPtr> make_callbacks(const TrainArgs& a, const InputData& in,
                                               const nn::Model& model,
                                               const std::shared_ptr<BatchLossLog>& batch_losses,
                                               std::string* run) {
  std::vector<train::CallbackPtr> callbacks;
  const std::string monitor = in.has_validation() ? "val_accuracy" : "accuracy";
  if (!a.project.empty()) {
    *run = make_run_dir(a.project, a.name);
    std::filesystem::create_directories(*run + "/weights");
    write_file_atomically(*run + "/args.json", args_json(a).dump(2) + "\n");
    write_file_atomically(*run + "/model.json", nn::to_json(model) + "\n");
    callbacks.push_back(train::CSVLogger({.filename = *run + "/metrics.csv"}));
    callbacks.push_back(train::ModelCheckpoint({.filepath = *run + "/weights/best.safetensors",
                                                .monitor = monitor,
                                                .save_best_only = true}));
    callbacks.push_back(train::ModelCheckpoint({.filepath = *run + "/weights/last.safetensors"}));
    std::cout << "Run directory: " << *run << "\n";
  }
  if (a.patience > 0) {
    LT_CHECK(in.has_validation(), kInvalidArgument,
             "--patience watches val_loss: give validation data (--validation-split)");
    callbacks.push_back(
        train::EarlyStopping({.patience = a.patience, .restore_best_weights = true}));
  }
  // First: no later callback sees the non-finite loss, and no checkpoint is written after it.
  if (a.terminate_on_nan) callbacks.insert(callbacks.begin(), train::TerminateOnNaN(true));
  if (a.steps > 0) callbacks.push_back(std::make_shared<StopAfterSteps>(a.steps));
  callbacks.push_back(batch_losses);
  return callbacks;
}

// Fits over the loaded data, validating on its held-out part when there is one.
train::History fit(train::Trainer& trainer, const TrainArgs& a, const InputData& in,
                   std::vector<train::CallbackPtr> callbacks) {
  train::FitOptions fit{.epochs = a.epochs,
                        .batch_size = a.data.batch_size,
                        .callbacks = std::move(callbacks),
                        .steps_per_epoch = a.steps_per_epoch,
                        .recalibrate_batch_norm_steps = a.recalibrate_bn,
                        .verbose = a.verbose};
  if (in.images.has_value()) {
    if (in.images->test.count > 0) fit.validation_data = in.images->test.view();
    return trainer.fit(in.images->train, fit);
  }
  if (in.validation.has_value()) fit.validation_dataset = &*in.validation;
  return trainer.fit(*in.train, fit);
}

// The last epoch's accuracy, and the predicted peak memory against the measured one.
void print_results(const InputData& in, const train::History& history,
                   const train::MemoryReport& plan, int64_t peak, int64_t baseline, bool reset) {
  const int64_t measured = peak - baseline;
  const train::EpochLogs& last = history.epochs.back();
  char buf[512];
  if (in.has_validation()) {
    std::snprintf(buf, sizeof buf, "%s accuracy: %.4f (loss %.4f)\n",
                  in.validation_name == "test" ? "Test" : "Validation", last.get("val_accuracy"),
                  last.get("val_loss"));
  } else {
    std::snprintf(buf, sizeof buf, "Training accuracy: %.4f (loss %.4f)\n", last.get("accuracy"),
                  last.get("loss"));
  }
  std::cout << buf;
  std::snprintf(buf, sizeof buf,
                "Peak memory: predicted %s, measured %s (%+.1f%%; peak RSS %s minus %s before "
                "the model was built%s)\n",
                memory::readable_bytes(plan.predicted_peak_bytes).c_str(),
                memory::readable_bytes(measured).c_str(),
                100.0 * static_cast<double>(measured - plan.predicted_peak_bytes) /
                    static_cast<double>(plan.predicted_peak_bytes),
                memory::readable_bytes(peak).c_str(), memory::readable_bytes(baseline).c_str(),
                reset ? "" : "; peak counter could not be reset, so data loading may count");
  std::cout << buf;
}

void run_train(const TrainArgs& a) {
  const int64_t engine_bytes = runtime::start_engine(a.threads);
  const InputData in = load_input_data(a.data, std::cout);
  print_input(in);
  std::cout << "Engine started with " << a.threads << " threads (+"
            << memory::readable_bytes(engine_bytes)
            << " resident: oneDNN code and shared kernels, the same for every model)\n";
  // Measured peak = peak resident set after this point minus the resident set now.
  const int64_t baseline = memory::current_rss_bytes();
  const bool reset = memory::reset_peak_rss();
  const nn::Model model = make_model(a, in.image_shape, in.classes);
  LT_CHECK(a.kernels == "fast" || a.kernels == "reference", kInvalidArgument,
           "--kernels must be fast or reference, got '", a.kernels, "'");
  LT_CHECK(a.steps >= 0, kInvalidArgument, "--steps must be >= 0, got ", a.steps);
  const train::Optimizer optimizer = make_scheduled_optimizer(a, in);
  const int64_t budget = trainer_budget(a, in);
  train::Trainer trainer(
      model, {.optimizer = optimizer,
              .loss = make_loss(model),
              .seed = a.data.seed,
              .kernels = {.choice = a.kernels == "fast" ? graph::KernelChoice::kFast
                                                        : graph::KernelChoice::kReference,
                          .conv_weights = parse_conv_weights_layout(a.conv_weights),
                          .dense = parse_dense_impl(a.dense_impl)},
              .allocator = {.mode = memory::parse_allocator_mode(a.allocator),
                            .limit_bytes =
                                a.memory_limit.empty() ? 0 : memory::parse_bytes(a.memory_limit)},
              .memory_budget_bytes = budget,
              .bf16_storage = a.bf16_storage,
              .micro_batches = parse_micro_batches(a.micro_batches)});
  const train::MemoryReport plan =
      in.images.has_value()
          ? trainer.plan(a.data.batch_size, in.images->train.count, in.images->test.count)
          : trainer.plan(*in.train, in.validation.has_value() ? &*in.validation : nullptr);
  print_memory_plan(a, model, trainer, plan);

  std::string run;
  const auto batch_losses = std::make_shared<BatchLossLog>();
  const train::History history =
      fit(trainer, a, in, make_callbacks(a, in, model, batch_losses, &run));
  const int64_t peak = memory::peak_rss_bytes();
  const int64_t measured = peak - baseline;
  print_results(in, history, plan, peak, baseline, reset);
  if (!run.empty()) {
    write_plot(run + "/results.svg", history);
    write_report(run + "/report.json", a, history, *batch_losses, plan, measured, baseline,
                 engine_bytes);
    std::cout << "Results saved to " << run << " (args.json, model.json, metrics.csv, "
              << "weights/best.safetensors, weights/last.safetensors, results.svg, report.json)\n";
  }
  if (!a.report.empty()) {
    write_report(a.report, a, history, *batch_losses, plan, measured, baseline, engine_bytes);
    std::cout << "Report written to " << a.report << "\n";
  }
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a model");
  cmd->add_option("--model", a->model, kModelHelp)->capture_default_str();
  cmd->add_option("--alpha", a->alpha, "Width multiplier of MobileNet / MobileNetV2")
      ->capture_default_str();
  DataArgs& d = a->data;
  add_data_options(*cmd, d);
  cmd->add_option("--augment", d.augment,
                  "none, flip (random horizontal flip), crop (random resized crop; files only) "
                  "or flip,crop")
      ->capture_default_str();
  cmd->add_option("--epochs", a->epochs, "Epochs")->capture_default_str();
  cmd->add_option("--steps", a->steps, "Stop after this many steps in all (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--batch-size", d.batch_size, "Batch size")->capture_default_str();
  cmd->add_option("--seed", d.seed, "Seed for initialization, shuffling, augmentation and dropout")
      ->capture_default_str();
  cmd->add_option("--optimizer", a->optimizer, "adam, adamw or sgd")->capture_default_str();
  cmd->add_option("--learning-rate", a->learning_rate, "Learning rate (default: Keras')");
  cmd->add_option("--momentum", a->momentum, "SGD momentum")->capture_default_str();
  cmd->add_flag("--nesterov", a->nesterov, "SGD with Nesterov momentum");
  cmd->add_option("--threads", a->threads, "Threads")->capture_default_str();
  cmd->add_option("--kernels", a->kernels, "fast (oneDNN) or reference")->capture_default_str();
  cmd->add_option("--conv-weights", a->conv_weights,
                  "Fast convolutions' weights: any (oneDNN's layout, reordered) or plain (Keras')")
      ->check(parsed_by(parse_conv_weights_layout))
      ->capture_default_str();
  cmd->add_option("--dense-impl", a->dense_impl,
                  "Fast Dense layers' oneDNN primitives: matmul or inner_product")
      ->check(parsed_by(parse_dense_impl))
      ->capture_default_str();
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
  cmd->add_flag("--terminate-on-nan", a->terminate_on_nan,
                "Stop at the first NaN or infinite loss with an error naming the batch (exit code "
                "2); the run directory keeps the last epoch's checkpoint (Keras' TerminateOnNaN)");
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
  cmd->add_option("--memory-budget", a->memory_budget,
                  "Memory training may use (persistent block, step arena and the input "
                  "pipeline's buffers; the compiled programs' few MB come on top), e.g. 512MiB: "
                  "keeps "
                  "every activation when that fits, else recomputes some (rematerialization, "
                  "same numbers); fails before training, naming what would fit, when nothing "
                  "does");
  cmd->add_flag("--bf16-storage", a->bf16_storage,
                "Allow keeping activations for the backward pass in bf16 (half the bytes, "
                "approximate gradients): with --memory-budget, a plan tried before "
                "rematerialization; without, always");
  cmd->add_option("--micro-batches", a->micro_batches,
                  "Run each batch as this many micro-batches with gradient accumulation (the "
                  "arena is a micro-batch's; batch-norm statistics are per micro-batch); auto: "
                  "with --memory-budget, only when no whole-batch plan fits")
      ->capture_default_str();
  cmd->add_option("--lr-schedule", a->lr_schedule, "constant or cosine (CosineDecay over the run)")
      ->capture_default_str();
  cmd->callback([a] { run_train(*a); });
}

}  // namespace leantrain::cli

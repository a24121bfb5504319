// The Trainer's loops: fit, evaluate, predict and batch-norm recalibration.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/memory/process_memory.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/trainer.h"
#include "train/batch_sources.h"
#include "train/micro_batching.h"
#include "train/objective.h"
#include "train/progress.h"
#include "train/step_graph.h"

namespace leantrain::train {
namespace {

using graph::ValueId;

void check_fit_options(const FitOptions& options) {
  LT_CHECK(options.epochs >= 1, kInvalidArgument, "epochs must be >= 1, got ", options.epochs);
  LT_CHECK(options.steps_per_epoch >= 0, kInvalidArgument, "steps_per_epoch must be >= 0, got ",
           options.steps_per_epoch);
  LT_CHECK(options.initial_epoch >= 0 && options.initial_epoch < options.epochs, kInvalidArgument,
           "initial_epoch must be in [0, epochs), got ", options.initial_epoch);
  LT_CHECK(!options.validation_data.has_value() || options.validation_dataset == nullptr,
           kInvalidArgument, "pass validation_data or validation_dataset, not both");
}

std::vector<std::pair<std::string, double>> as_pairs(const Logs& l) {
  return std::vector<std::pair<std::string, double>>(l.begin(), l.end());
}

}  // namespace

double EpochLogs::get(const std::string& key) const {
  auto it = logs.find(key);
  return it == logs.end() ? std::nan("") : it->second;
}

graph::StepState Trainer::inference_state() const {
  return {std::max<int64_t>(iteration_, 1), static_cast<float>(learning_rate_), options_.seed};
}

void Trainer::check_data(const data::ImagesView& data, bool labels) const {
  const Shape expected = model_.input_shape();
  const Shape given({data.height, data.width, data.channels});
  LT_CHECK(expected == given, kInvalidArgument, "the data's images are ", given.to_string(),
           " but the model expects ", expected.to_string());
  if (!labels) return;
  LT_CHECK(data.labels != nullptr || data.count == 0, kInvalidArgument,
           "the data has no labels: training and evaluation need one class id per image");
  const Shape& out = model_.output_shape();
  const int64_t classes = out.rank() == 1 ? out[0] : 0;
  const bool binary_single = options_.loss.kind == Loss::Kind::kBinaryCrossentropy && classes == 1;
  const int64_t scored = binary_single ? 2 : classes;  // labels 0 .. scored - 1 have an output
  if (data.num_classes <= scored) return;
  // Name the first image whose label has no output, so the user can find it in the data.
  std::string first_bad;
  for (int64_t i = 0; data.labels != nullptr && i < data.count; ++i) {
    if (data.labels[i] >= scored) {
      first_bad = internal::str_cat(": image ", i, " has label ", data.labels[i]);
      break;
    }
  }
  throw Error(
      ErrorCode::kInvalidArgument,
      internal::str_cat("the data has ", data.num_classes, " classes but the model's output has ",
                        classes, " units", first_bad, " (the model scores labels 0 to ", scored - 1,
                        "); build the model with ", data.num_classes, " outputs"));
}

int64_t Trainer::next_batch(BatchSource& source, StepMode mode, runtime::Program** program_out) {
  runtime::Program* program_used = nullptr;
  bool labels_in_program = false;
  bool micro = false;
  float* images = nullptr;
  const int64_t n = source.next([&](int64_t rows) {
    micro = mode == StepMode::kTrain && micro_batches_for(rows) > 1;
    if (micro) {
      // The whole batch into the staging area; MicroBatcher::run_step copies its slices.
      compile_micro_step(rows);
      const BatchSource::Slots staged = micro_->stage(rows);
      images = staged.images;
      return staged;
    }
    runtime::Program& p = program(mode, rows);
    program_used = &p;
    const graph::Graph& g = p.graph();
    const ValueId labels = g.find("labels");
    labels_in_program = labels != graph::kNoValue && g.value(labels).spec.dtype == DType::kI32;
    int32_t* label_slot = nullptr;
    if (labels_in_program) {
      label_slot = p.view("labels").i32();
    } else {
      label_scratch_.resize(static_cast<size_t>(rows));
      label_slot = label_scratch_.data();
    }
    images = p.view(input_name_).f32();
    return BatchSource::Slots{images, label_slot};
  });
  if (n == 0) return 0;
  if (mode == StepMode::kTrain && source.may_hold_non_finite()) {
    // A NaN that a ReLU or a max-pooling drops in the forward pass still reaches the weights
    // through the gradient, with a finite loss: refuse it before the step.
    const int64_t pixels = model_.input_shape().num_elements();
    const float* begin = images;
    const float* end = images + n * pixels;
    const float* bad = std::find_if(begin, end, [](float v) { return !std::isfinite(v); });
    if (bad != end) {
      const Shape& shape = model_.input_shape();
      const int64_t at = bad - images, within = at % pixels;
      const std::string where = shape.rank() == 3
                                    ? internal::str_cat(" at (row ", within / (shape[1] * shape[2]),
                                                        ", column ", within / shape[2] % shape[1],
                                                        ", channel ", within % shape[2], ")")
                                    : internal::str_cat(" at element ", within);
      throw Error(ErrorCode::kInvalidArgument,
                  internal::str_cat("image ", at / pixels, " of a training batch holds ",
                                    format_metric(*bad), where,
                                    ": training needs finite pixels; replace or drop such "
                                    "values first (e.g. numpy.nan_to_num)"));
    }
  }
  const int32_t* labels = micro               ? micro_->staged_labels()
                          : labels_in_program ? program_used->view("labels").i32()
                                              : label_scratch_.data();
  if (mode == StepMode::kTrain || mode == StepMode::kEval) {
    // A label outside the output would index past the loss's row: refuse it here.
    const Shape& out = model_.output_shape();
    const int64_t classes = out.rank() == 1 ? out[0] : 0;
    const int64_t limit =
        options_.loss.kind == Loss::Kind::kBinaryCrossentropy && classes == 1 ? 2 : classes;
    for (int64_t i = 0; i < n; ++i) {
      LT_CHECK(labels[i] >= 0 && labels[i] < limit, kInvalidArgument, "label ", labels[i],
               " (example ", i, " of a batch) is outside [0, ", limit, "): the model's output has ",
               classes, " units");
    }
    if (!labels_in_program && !micro) {
      const TensorView dst = program_used->view("labels");
      encode_labels(objective_->labels, label_scratch_.data(), n, dst.num_elements() / n, dst.data);
    }
  }
  *program_out = program_used;  // null under micro-batching: the batch is in the staging area
  return n;
}

Logs Trainer::run_epoch_eval(BatchSource& data, int64_t* examples) {
  data.start_epoch(0);
  const Objective& o = *objective_;
  double loss_sum = 0;
  std::vector<double> sums(o.metrics.size(), 0.0);
  double count = 0;
  const graph::StepState state = inference_state();
  runtime::Program* p = nullptr;
  while (const int64_t rows = next_batch(data, StepMode::kEval, &p)) {
    const auto n = static_cast<double>(rows);
    p->run(state);
    loss_sum += static_cast<double>(p->view("loss").f32()[0]) * n;
    for (size_t m = 0; m < sums.size(); ++m) sums[m] += p->view(o.metrics[m].name).f32()[0];
    count += n;
  }
  LT_CHECK(count > 0, kInvalidArgument, "evaluate: the data has no examples");
  if (examples != nullptr) *examples = static_cast<int64_t>(count);
  Logs logs{{"loss", loss_sum / count}};
  for (size_t m = 0; m < sums.size(); ++m) {
    logs[o.metrics[m].name] = sums[m] / (count * static_cast<double>(o.metrics[m].per_example));
  }
  return logs;
}

EvalResult Trainer::evaluate(const data::ImagesView& data, int64_t batch_size) {
  check_data(data);
  ImageBatches source(data, batch_size, /*shuffle=*/false, 0);
  EvalResult result;
  result.logs = run_epoch_eval(source, &result.examples);
  return result;
}

EvalResult Trainer::evaluate(const data::Dataset& data) {
  DatasetBatches source(data, model_.input_shape());
  EvalResult result;
  result.logs = run_epoch_eval(source, &result.examples);
  return result;
}

std::vector<float> Trainer::predict(const data::ImagesView& data, int64_t batch_size) {
  std::vector<float> out(static_cast<size_t>(data.count * model_.output_shape().num_elements()));
  predict_into(data, batch_size, out);
  return out;
}

void Trainer::predict_into(const data::ImagesView& data, int64_t batch_size, std::span<float> out) {
  check_data(data, /*labels=*/false);
  const int64_t width = model_.output_shape().num_elements();
  LT_CHECK(static_cast<int64_t>(out.size()) == data.count * width, kInvalidArgument,
           "predict: the output holds ", out.size(), " values; ", data.count, " images of ", width,
           " outputs need ", data.count * width);
  data::Batcher batcher(data, batch_size, /*shuffle=*/false, 0);
  label_scratch_.resize(static_cast<size_t>(batch_size));
  const graph::StepState state = inference_state();
  int64_t row = 0;
  for (int64_t b = 0; b < batcher.num_batches(); ++b) {
    const int64_t n = batcher.batch_count(b);
    runtime::Program& p = program(StepMode::kPredict, n);
    batcher.fill(b, p.view(input_name_).f32(), label_scratch_.data());
    p.run(state);
    const TensorView y = p.view(p.graph().value(the_output(p.graph())).name);
    std::copy(y.f32(), y.f32() + n * width, out.begin() + row * width);
    row += n;
  }
}

std::vector<float> Trainer::predict(const data::Dataset& data) {
  DatasetBatches source(data, model_.input_shape());
  source.start_epoch(0);
  const int64_t width = model_.output_shape().num_elements();
  const graph::StepState state = inference_state();
  std::vector<float> out;
  runtime::Program* p = nullptr;
  while (const int64_t rows = next_batch(source, StepMode::kPredict, &p)) {
    p->run(state);
    const TensorView y = p->view(p->graph().value(the_output(p->graph())).name);
    out.insert(out.end(), y.f32(), y.f32() + rows * width);
  }
  return out;
}

void Trainer::recalibrate_batch_norm(BatchSource& data, int64_t steps, int64_t epoch) {
  data.start_epoch(epoch);
  const int64_t batch_size = data.batch_size();
  // Per batch-norm node: (moving_mean, moving_variance, batch_mean, batch_var) names and the sums
  // of the batch means, of their squares and of the batch variances.
  struct Stats {
    std::string moving_mean, moving_variance, batch_mean, batch_var;
    std::vector<double> sum_mean, sum_mean_sq, sum_var;
  };
  std::vector<Stats> stats;
  int64_t batches = 0;
  const graph::StepState state = inference_state();
  runtime::Program* program_used = nullptr;
  for (int64_t b = 0; b < steps; ++b) {
    const int64_t n = next_batch(data, StepMode::kCalibrate, &program_used);
    if (n == 0) break;
    if (n != batch_size) continue;  // full batches only: one program
    runtime::Program& p = *program_used;
    if (stats.empty()) {
      for (const graph::Node& node : p.graph().nodes()) {
        if (node.op->type() != "BatchNormalization") continue;
        const auto name = [&](int i, bool out) {
          return p.graph()
              .value(out ? node.outputs[static_cast<size_t>(i)]
                         : node.inputs[static_cast<size_t>(i)])
              .name;
        };
        const size_t c = static_cast<size_t>(p.graph().value(node.inputs[3]).spec.shape[0]);
        stats.push_back({name(3, false), name(4, false), name(1, true), name(2, true),
                         std::vector<double>(c), std::vector<double>(c), std::vector<double>(c)});
      }
    }
    p.run(state);
    for (Stats& s : stats) {
      const float* mean = p.view(s.batch_mean).f32();
      const float* var = p.view(s.batch_var).f32();
      for (size_t i = 0; i < s.sum_mean.size(); ++i) {
        s.sum_mean[i] += mean[i];
        s.sum_mean_sq[i] += static_cast<double>(mean[i]) * mean[i];
        s.sum_var[i] += var[i];
      }
    }
    ++batches;
  }
  if (batches == 0) return;
  // Population statistics over the batches (law of total variance): mean of the batch means;
  // mean of the batch variances plus the variance of the batch means.
  const auto k = static_cast<double>(batches);
  for (const Stats& s : stats) {
    float* moving_mean = store_->view(s.moving_mean).f32();
    float* moving_variance = store_->view(s.moving_variance).f32();
    for (size_t i = 0; i < s.sum_mean.size(); ++i) {
      const double mean = s.sum_mean[i] / k;
      moving_mean[i] = static_cast<float>(mean);
      moving_variance[i] =
          static_cast<float>(s.sum_var[i] / k + std::max(0.0, s.sum_mean_sq[i] / k - mean * mean));
    }
  }
}

History Trainer::fit(const data::ImagesView& train, const FitOptions& options) {
  check_fit_options(options);
  check_data(train);
  ImageBatches source(train, options.batch_size, options.shuffle, options_.seed);
  ImageBatches calibration(source, mix64(options_.seed ^ 0x9e37u));
  return fit_batches(source, &calibration, options);
}

History Trainer::fit(BatchProvider& train, const FitOptions& options) {
  check_fit_options(options);
  LT_CHECK(options.recalibrate_batch_norm_steps == 0, kInvalidArgument,
           "batch-norm recalibration needs batches it can read twice: give fit() arrays or a "
           "Dataset");
  ProvidedBatches source(train, model_.input_shape());
  return fit_batches(source, nullptr, options);
}

History Trainer::fit(const data::Dataset& train, const FitOptions& options) {
  check_fit_options(options);
  DatasetBatches source(train, model_.input_shape());
  DatasetBatches calibration(train, model_.input_shape());
  return fit_batches(source, &calibration, options);
}

struct Trainer::EpochSums {
  const Objective& objective;
  double loss_sum = 0;       // the loss times the rows of each batch
  std::vector<double> sums;  // per metric, its counts
  int64_t seen = 0;          // examples
  int64_t not_applied = 0;   // steps whose loss was not finite: no backward pass, no update
  // The epoch's running means, as Keras reports them.
  Logs means() const {
    const double s = static_cast<double>(seen);
    Logs l{{"loss", loss_sum / s}};
    for (size_t m = 0; m < sums.size(); ++m) {
      l[objective.metrics[m].name] =
          sums[m] / (s * static_cast<double>(objective.metrics[m].per_example));
    }
    return l;
  }
};

// Says which step's loss was not finite and where its forward pass first produced a NaN or an
// infinity, found by running that step's forward pass again with checks.
void Trainer::describe_non_finite_step(runtime::Program& p, const graph::StepState& state,
                                       int64_t batch, std::ostream& out) {
  std::ostringstream m;
  m << "\nStep " << state.iteration << " (batch " << batch << " of this epoch): the loss is "
    << format_metric(p.view("loss").f32()[0]) << "; ";
  const graph::NodeId n = p.first_non_finite_node(state);
  if (n >= 0) {
    const graph::Node& node = p.graph().node(n);
    m << "the first NaN or infinity is the output of ";
    if (node.name == node.layer) {
      m << "layer '" << node.layer << "' (" << node.op->type();
    } else {
      m << "'" << node.name << "' (" << node.op->type()
        << (node.layer.empty() ? "" : " of layer '" + node.layer + "'");
    }
    m << ", " << graph::phase_name(node.phase) << ")";
  } else if (n == runtime::Program::kNonFiniteInput) {
    m << "the input batch itself holds NaN or infinite values: check the data";
  } else if (n == runtime::Program::kInputsOverwritten) {
    m << "the step overwrites its input batch in place, so it cannot be run again to find the "
         "op that produced it";
  } else {
    m << "running its forward pass again gave finite values only";
  }
  m << ". The step was not applied: no gradient or update touched the weights. A lower "
       "learning rate often helps; --terminate-on-nan (TerminateOnNaN) stops training here.\n";
  out << m.str();
}

int64_t Trainer::train_epoch(BatchSource& train, int64_t steps, const FitOptions& options,
                             ProgressBar& bar, EpochSums* epoch) {
  std::ostream& out = options.out != nullptr ? *options.out : std::cout;
  int64_t b = 0;
  runtime::Program* program_used = nullptr;
  for (; (steps < 0 || b < steps) && !stop_requested_; ++b) {
    const int64_t n = next_batch(train, StepMode::kTrain, &program_used);
    if (n == 0) break;
    if (options_.optimizer.schedule) set_learning_rate(options_.optimizer.schedule(iteration_));
    ++iteration_;
    const graph::StepState state{iteration_, static_cast<float>(learning_rate_), options_.seed};
    if (program_used == nullptr) {
      const MicroBatcher::NonFinite bad =
          micro_->run_step(n, micro_batches_for(n), state, &epoch->loss_sum, &epoch->sums);
      if (bad.program != nullptr && epoch->not_applied++ == 0) {
        describe_non_finite_step(*bad.program, bad.state, b, out);
      }
    } else {
      runtime::Program& p = *program_used;
      if (!p.run_if_loss_finite(state) && epoch->not_applied++ == 0) {
        describe_non_finite_step(p, state, b, out);
      }
      epoch->loss_sum += static_cast<double>(p.view("loss").f32()[0]) * static_cast<double>(n);
      for (size_t m = 0; m < epoch->sums.size(); ++m) {
        epoch->sums[m] += p.view(epoch->objective.metrics[m].name).f32()[0];
      }
    }
    epoch->seen += n;
    if (!options.callbacks.empty()) {
      const Logs batch_logs = epoch->means();
      for (const CallbackPtr& cb : options.callbacks) {
        cb->on_train_batch_end(*this, b, batch_logs);
      }
    }
    if (options.verbose > 0 && b + 1 != steps) {
      bar.update(b + 1, as_pairs(epoch->means()), "", false);
    }
  }
  return b;
}

History Trainer::fit_batches(BatchSource& train, BatchSource* calibration,
                             const FitOptions& options) {
  std::unique_ptr<BatchSource> validation;
  if (options.validation_data.has_value()) {
    check_data(*options.validation_data);
    // Under micro-batching, in batches of the micro-batch's size (the same results: evaluation
    // has no batch statistics), so that the evaluation arena is no larger than the training one.
    validation = std::make_unique<ImageBatches>(
        *options.validation_data,
        std::max<int64_t>(1, train.batch_size() / micro_batches_for(train.batch_size())),
        /*shuffle=*/false, 0);
  } else if (options.validation_dataset != nullptr) {
    validation =
        std::make_unique<DatasetBatches>(*options.validation_dataset, model_.input_shape());
  }
  std::ostream& out = options.out != nullptr ? *options.out : std::cout;
  const int64_t batch_size = train.batch_size();
  if (options_.micro_batches > 1) check_micro_batch_size(batch_size);

  // Compile every program the run needs before the first step: full and partial batches.
  plan(batch_size);
  for (const int64_t b : train.known_batch_sizes()) {
    if (micro_batches_for(b) > 1) {
      compile_micro_step(b);
    } else {
      training_program(b);
    }
  }
  if (validation) {
    for (const int64_t b : validation->known_batch_sizes()) evaluation_program(b);
  }
  const bool dynamic = options.verbose == 1 && options.out == nullptr && isatty(STDOUT_FILENO);
  stop_requested_ = false;
  for (const CallbackPtr& cb : options.callbacks) cb->on_train_begin(*this);
  History history;
  Logs logs;
  for (int epoch = options.initial_epoch; epoch < options.epochs && !stop_requested_; ++epoch) {
    for (const CallbackPtr& cb : options.callbacks) cb->on_epoch_begin(*this, epoch);
    if (options.verbose > 0 && options.epochs > 1) {
      out << "Epoch " << epoch + 1 << "/" << options.epochs << "\n";
    }
    train.start_epoch(epoch);
    // -1: unknown (a Dataset of unknown cardinality without steps_per_epoch).
    int64_t steps = train.num_batches();
    if (options.steps_per_epoch > 0) {
      steps = steps < 0 ? options.steps_per_epoch : std::min(options.steps_per_epoch, steps);
    }
    ProgressBar bar(
        steps, out, dynamic,
        options.verbose == 2 ? ProgressBar::Style::kEpochLine : ProgressBar::Style::kBar);
    EpochSums sums{.objective = *objective_,
                   .sums = std::vector<double>(objective_->metrics.size())};
    const auto start = std::chrono::steady_clock::now();
    const int64_t b = train_epoch(train, steps, options, bar, &sums);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    logs = sums.means();
    LT_CHECK(sums.seen > 0, kInvalidArgument, "fit: epoch ", epoch + 1,
             " had no training examples");
    if (options.recalibrate_batch_norm_steps > 0 && calibration != nullptr) {
      recalibrate_batch_norm(*calibration, options.recalibrate_batch_norm_steps, epoch);
    }
    if (validation) {  // also after a stop, as Keras
      for (const auto& [key, value] : run_epoch_eval(*validation)) {
        logs["val_" + key] = value;
      }
    }
    for (const CallbackPtr& cb : options.callbacks) cb->on_epoch_end(*this, epoch, logs);
    EpochLogs e;
    e.epoch = epoch + 1;
    e.logs = logs;
    e.seconds = seconds;
    e.images_per_second = static_cast<double>(sums.seen) / seconds;
    e.steps = b;
    if (options.verbose > 0) {
      char extra[96];
      std::snprintf(extra, sizeof extra, " - %.0f img/s - peak_rss: %s", e.images_per_second,
                    memory::readable_bytes(memory::peak_rss_bytes()).c_str());
      bar.update(b, as_pairs(logs), extra, true);
    }
    if (sums.not_applied > 1) {
      out << sums.not_applied << " steps of this epoch had a NaN or infinite loss and were not "
          << "applied\n";
    }
    // Elements a skipping pipeline dropped this epoch: counted and reported, never silent.
    const data::PipelineStats pipeline = train.epoch_stats();
    if (pipeline.skipped > 0) {
      e.skipped = pipeline.skipped;
      out << "Skipped " << pipeline.skipped << " bad input element(s) this epoch";
      for (const std::string& reason : pipeline.skipped_reasons) out << "\n  " << reason;
      out << "\n";
    }
    history.epochs.push_back(std::move(e));
  }
  for (const CallbackPtr& cb : options.callbacks) cb->on_train_end(*this, logs);
  return history;
}

}  // namespace leantrain::train

// compile / fit / evaluate / predict for a model: builds the training program (forward, loss,
// backward, optimizer update), plans its memory before the first step and runs it. The façade
// Keras users see; it includes the headers of everything it is given and returns.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/data/batcher.h"
#include "leantrain/data/dataset.h"
#include "leantrain/data/idx.h"
#include "leantrain/graph/op.h"
#include "leantrain/nn/sequential.h"
#include "leantrain/train/batch_provider.h"
#include "leantrain/train/callbacks.h"
#include "leantrain/train/compile_options.h"
#include "leantrain/train/fit_options.h"
#include "leantrain/train/loss.h"
#include "leantrain/train/memory_report.h"
#include "leantrain/train/optimizer.h"
#include "leantrain/train/plan.h"

namespace leantrain::runtime {
class Program;
class PersistentStore;
class SharedArena;
}  // namespace leantrain::runtime

namespace leantrain::train {

// The Trainer's parts (src/train/): batch_sources.h, step_graph.h, budget_planner.h,
// micro_batching.h, objective.h, progress.h.
class BatchSource;
class BudgetPlanner;
class MicroBatcher;
class ProgressBar;
class StepGraphs;
struct Objective;
enum class StepMode;

// What an inference-only plan (Trainer::plan(Inference, ...)) compiles for: evaluate (loss and
// metrics) or predict (the model's output).
enum class Inference { kEvaluate, kPredict };

// Trains one model (Keras' compile + fit). Owns a copy of the model handle (layers are shared),
// the persistent store (parameters and optimizer state), the shared arena, the compiled
// programs (one per batch size and mode, compiled on first use) and the parts that build, plan
// and run them: the step graphs, the budget planner and the micro-batcher. Not thread-safe.
class Trainer {
 public:
  // Declares and initializes every variable (seeded), and the optimizer state.
  // Throws Error(kInvalidArgument) for a model that cannot be trained: no trainable variable,
  // not one input and one output, or an output the loss cannot read.
  Trainer(nn::Model model, CompileOptions options);
  ~Trainer();

  const nn::Model& model() const { return model_; }
  const CompileOptions& options() const { return options_; }

  // Compiles the training and evaluation programs for `batch_size`, and for the smaller last
  // batches of a fit over `train_count` examples validated on `validation_count` (if not yet),
  // and returns what they will take with that fit's input pipeline. Everything here is known
  // before the first step.
  MemoryReport plan(int64_t batch_size, int64_t train_count = 0, int64_t validation_count = 0);
  // The same for a fit over `train` (which must yield batches, see fit), validated on
  // `validation` (may be null).
  MemoryReport plan(const data::Dataset& train, const data::Dataset* validation = nullptr);
  // The same for evaluate or predict alone over `count` images in batches of `batch_size`:
  // compiles that step's program for batch_size and for the smaller last batch (no training
  // program), and returns what they take with the Batcher of `count` images. arena_bytes is the
  // shared arena (larger when a training program was compiled before), eval_arena_bytes the
  // program's of `step`, train_arena_bytes 0. Under CompileOptions::memory_budget_bytes each
  // program must fit beside the persistent block: Error(kOutOfBudget) naming the budget and what
  // the step needs otherwise. Throws Error(kInvalidArgument) for batch_size < 1 or count < 0.
  MemoryReport plan(Inference step, int64_t batch_size, int64_t count = 0);
  // The same over `data`, which must yield batches (see fit); its buffers
  // (Dataset::max_buffered_bytes) are the pipeline.
  MemoryReport plan(Inference step, const data::Dataset& data);
  // What `batch_size` needs under `budget_bytes` (0: none; then the keep-all plan): the plan the
  // Trainer would choose for its training program, predicted by planning every candidate graph
  // (runtime::planned_arena_bytes) without reserving memory or running a step. Deterministic:
  // compiling the training program with the same budget chooses the same plan and arena.
  // Answers are kept by (batch size, budget) for the Trainer's life.
  // Throws Error(kInvalidArgument) for batch_size < 1 or a negative budget. Cost: kernel
  // compiles for the keep-all and evaluation graphs and, when keep all does not fit, chain
  // extraction, the rematerialization DP and a few more compiles.
  BatchPlan plan_for_budget(int64_t batch_size, int64_t budget_bytes);
  // The largest batch size in [1, max_batch] that fits `budget_bytes` (> 0) by plan_for_budget,
  // or 0 when not even batch 1 fits. Searches analytically, no step runs: doubling from 1 until
  // a batch does not fit (or max_batch), then bisection between the last fitting and the first
  // failing size, so the answer's batch + 1 never fits (when below max_batch). O(log max_batch)
  // plans. Throws Error(kInvalidArgument) for budget_bytes < 1 or max_batch < 1.
  int64_t largest_batch_within(int64_t budget_bytes, int64_t max_batch = 4096);
  // batch_size = AUTO: largest_batch_within(options().memory_budget_bytes, max_batch). Throws
  // Error(kInvalidArgument) when the Trainer has no memory budget, Error(kOutOfBudget) naming
  // what batch 1 needs when no batch fits.
  int64_t find_batch_size(int64_t max_batch = 4096);

  // Per layer: bytes its forward tensors keep for backward, and its share of the planned peak
  // (its activations, gradients and persistent tensors live at the training step's peak, over
  // the planned peak: the predicted peak without the programs' measured runtime_bytes), for
  // model().summary(&...).
  std::map<std::string, nn::LayerMemory> layer_memory(int64_t batch_size);

  // Trains for epochs initial_epoch..epochs-1 over `train` (labels must be < the model's output
  // width), calling the callbacks. The last partial batch is trained on with a program compiled
  // for its size. Returns the epochs run (fewer when a callback stopped training).
  History fit(const data::ImagesView& train, const FitOptions& options);
  History fit(const data::LabeledImages& train, const FitOptions& options) {
    return fit(train.view(), options);
  }
  // The same over a Dataset (Keras' fit(dataset)): it must yield batches (Dataset::batch_size()
  // known) with elements {"image": f32 or u8 (rows <= B, model input shape...), "label": i32
  // (rows) class ids}; other features are ignored. When it ends in batch(B) or
  // batch(B).prefetch(n), each batch is assembled straight into the training step's input slot
  // (otherwise each batch is copied there once); a smaller batch is copied once more, into the
  // program compiled for its size. Pixels are used as they come (no 1/255: put the scaling in
  // the dataset's map or a Rescaling layer, as in Keras). Throws kInvalidArgument when the
  // dataset is not batched, its image shape differs from the model's input, or a label is not
  // in [0, classes) (naming the value), and what the dataset throws (a file's decode error).
  History fit(const data::Dataset& train, const FitOptions& options);
  // The same over batches a provider produces (a Python generator or PyDataset): each batch is
  // copied once into the step's input. The first batch's rows are the batch size the programs
  // are compiled for (a smaller batch gets its own program). FitOptions::validation_data or
  // validation_dataset may be set; batch-norm recalibration is not available (kInvalidArgument).
  History fit(BatchProvider& train, const FitOptions& options);
  EvalResult evaluate(const data::ImagesView& data, int64_t batch_size);
  EvalResult evaluate(const data::LabeledImages& data, int64_t batch_size) {
    return evaluate(data.view(), batch_size);
  }
  EvalResult evaluate(const data::Dataset& data);
  // The model's output for each image, row-major (count, output elements), inference mode.
  // Reads no labels (the view's may be null). predict_into writes into `out`, which must hold
  // data.count * output elements (Error(kInvalidArgument) otherwise).
  // The Dataset form takes batches as fit reads them ({"image", "label"}; the labels are not
  // used) and returns one row per image in the order the dataset yields them; it throws as
  // fit(Dataset) does for a dataset that is not batched or whose images are not the model's
  // input, and what the dataset throws.
  std::vector<float> predict(const data::Dataset& data);
  std::vector<float> predict(const data::ImagesView& data, int64_t batch_size = 32);
  std::vector<float> predict(const data::LabeledImages& data, int64_t batch_size = 32) {
    return predict(data.view(), batch_size);
  }
  void predict_into(const data::ImagesView& data, int64_t batch_size, std::span<float> out);

  // Weights as safetensors: every variable (trainable and not) as "<layer>/<variable>" in the
  // model's order, Keras layouts, f32; written atomically. load_weights matches tensors to
  // variables by name, or, when names differ but the file holds exactly the model's shapes in
  // its order (the same architecture built again: conv2d_1 for conv2d), by position, as Keras
  // loads a .weights.h5 file. It throws Error(kInvalidArgument) naming the first variable
  // without a tensor of its shape, or the counts when the file holds more (nothing is changed
  // then), Error(kDataLoss) for a corrupt file.
  void save_weights(const std::string& path) const;
  void load_weights(const std::string& path);
  // Every variable's values in the model's order (Keras' get_weights), and back.
  std::vector<std::vector<float>> get_weights() const;
  void set_weights(const std::vector<std::vector<float>>& weights);
  // Takes over the training state of `from`, a trainer of the same model built with other
  // compile options (another memory budget, micro-batching or allocator): every variable,
  // moving statistic and optimizer slot, the iteration count and the learning rate, so that
  // training goes on as `from` would have. Gradients are not carried: each step rebuilds them.
  // Throws Error(kInvalidArgument) naming the first tensor the two do not both hold with the
  // same dtype and shape (another model or optimizer); nothing is changed then.
  void copy_training_state(const Trainer& from);

  double learning_rate() const { return learning_rate_; }
  void set_learning_rate(double learning_rate);
  // Asks fit() to stop after the current batch (Keras' model.stop_training = True).
  void stop_training() { stop_requested_ = true; }

  // The training program for a batch size (compiled on first use), for tests and reports. With
  // micro_batches k > 1 it is the micro-batch program (forward, loss, backward of batch_size / k
  // rows, accumulating gradients; no update nodes), and batch_size must be a multiple of k
  // (Error(kInvalidArgument) naming both otherwise); the update runs in update_program().
  runtime::Program& training_program(int64_t batch_size);
  // The optimizer update alone (micro_batches > 1): reads the accumulated gradients.
  runtime::Program& update_program();
  runtime::Program& evaluation_program(int64_t batch_size);
  runtime::PersistentStore& store();
  const runtime::PersistentStore& store() const;
  const runtime::SharedArena& arena() const;
  int64_t iterations() const { return iteration_; }

 private:
  // The program of `mode` for a whole batch (compiled on first use); the training program under
  // a memory budget runs the budget planner's plan, whose choice it records.
  runtime::Program& program(StepMode mode, int64_t batch_size);
  // k for a training step over `batch_rows` rows: CompileOptions::micro_batches, or under
  // kAutoMicroBatches the budget plan's (1 without a budget).
  int micro_batches_for(int64_t batch_rows);
  // Compiles every program a batch of `batch_rows` needs under micro-batching, and records its
  // plan.
  void compile_micro_step(int64_t batch_rows);
  // Throws Error(kInvalidArgument) unless batch_size is a multiple of micro_batches.
  void check_micro_batch_size(int64_t batch_size) const;
  // Throws Error(kInvalidArgument) when the images' shape is not the model's input, or (with
  // labels) their classes do not fit its output.
  void check_data(const data::ImagesView& data, bool labels = true) const;
  // Writes the next batch of `source` into the program of `mode` for its rows (labels checked
  // and encoded as the loss reads them), sets *program to it and returns the rows; 0 at the end.
  // Under micro-batching the batch goes into the staging area and *program is null.
  int64_t next_batch(BatchSource& source, StepMode mode, runtime::Program** program);
  History fit_batches(BatchSource& train, BatchSource* calibration, const FitOptions& options);
  // An epoch's sums of the loss and metrics over its examples: their running means.
  struct EpochSums;
  // The training steps of one epoch (at most `steps`; -1: until the data ends), adding into
  // *epoch; returns the steps run.
  int64_t train_epoch(BatchSource& train, int64_t steps, const FitOptions& options,
                      ProgressBar& bar, EpochSums* epoch);
  void describe_non_finite_step(runtime::Program& p, const graph::StepState& state, int64_t batch,
                                std::ostream& out);
  // The loss and metrics over one pass of `data`; *examples (when not null) is set to the
  // examples seen.
  Logs run_epoch_eval(BatchSource& data, int64_t* examples = nullptr);
  void recalibrate_batch_norm(BatchSource& data, int64_t steps, int64_t epoch);
  // The state of a step that updates nothing (evaluation, prediction, calibration).
  graph::StepState inference_state() const;

  nn::Model model_;
  CompileOptions options_;
  std::string input_name_;
  std::unique_ptr<Objective> objective_;  // labels layout and metrics, resolved once
  std::unique_ptr<runtime::PersistentStore> store_;
  std::unique_ptr<runtime::SharedArena> arena_;
  std::unique_ptr<StepGraphs> graphs_;
  std::unique_ptr<BudgetPlanner> planner_;
  std::unique_ptr<MicroBatcher> micro_;
  std::map<std::pair<StepMode, int64_t>, std::unique_ptr<runtime::Program>> programs_;
  std::map<int64_t, BatchPlan> training_plans_;  // the plan of each compiled training program
  std::vector<int32_t> label_scratch_;
  // MemoryReport::runtime_bytes: resident growth during the constructor and each program's
  // compilation beyond the pages of our own blocks (measured once per program, so plan() gives
  // the same figure every time); the micro-batch programs' is MicroBatcher's.
  int64_t runtime_bytes_ = 0;
  int64_t iteration_ = 0;
  double learning_rate_ = 0;
  bool stop_requested_ = false;
};

}  // namespace leantrain::train

// compile / fit / evaluate / predict for a model: builds the training program (forward, loss,
// backward, optimizer update), plans its memory before the first step and runs it.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/data/batcher.h"
#include "leantrain/data/dataset.h"
#include "leantrain/data/idx.h"
#include "leantrain/graph/op.h"
#include "leantrain/memory/allocator.h"
#include "leantrain/nn/sequential.h"
#include "leantrain/train/callbacks.h"

namespace leantrain::runtime {
class Program;
class PersistentStore;
class SharedArena;
}  // namespace leantrain::runtime

namespace leantrain::train {

class BatchSource;  // trainer.cc: batches from images or from a Dataset

// Keras' optimizers and defaults.
struct Optimizer {
  enum class Kind { kSgd, kAdam, kAdamW } kind = Kind::kAdam;
  float learning_rate = 0.001f;
  float momentum = 0.0f;                                  // SGD
  bool nesterov = false;                                  // SGD
  float beta_1 = 0.9f, beta_2 = 0.999f, epsilon = 1e-7f;  // Adam, AdamW
  float weight_decay = 0.0f;                              // AdamW (Keras default 0.004)
  LearningRateSchedule schedule =
      nullptr;  // when set, the learning rate of each step (over iterations)
  std::string name() const;
};
struct SGDOptions {
  float learning_rate = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
};
struct AdamOptions {
  float learning_rate = 0.001f;
  float beta_1 = 0.9f, beta_2 = 0.999f, epsilon = 1e-7f;
};
struct AdamWOptions {
  float learning_rate = 0.001f;
  float weight_decay = 0.004f;
  float beta_1 = 0.9f, beta_2 = 0.999f, epsilon = 1e-7f;
};
Optimizer SGD(const SGDOptions& o = {});
Optimizer Adam(const AdamOptions& o = {});
Optimizer AdamW(const AdamWOptions& o = {});

// Keras' losses. The labels a loss reads: sparse -> integer class ids; categorical -> one-hot
// rows of the output's width; binary -> 0/1 per output unit; mean squared error -> the one-hot
// rows of the class ids (a classifier trained on MSE).
struct Loss {
  enum class Kind {
    kSparseCategoricalCrossentropy,
    kCategoricalCrossentropy,
    kBinaryCrossentropy,
    kMeanSquaredError
  } kind = Kind::kSparseCategoricalCrossentropy;
  bool from_logits = false;
  // Keras' name, e.g. "sparse_categorical_crossentropy".
  std::string name() const;
  // Parses Keras' loss names ("sparse_categorical_crossentropy", "categorical_crossentropy",
  // "binary_crossentropy", "mean_squared_error"/"mse"); throws Error(kInvalidArgument) listing
  // them otherwise.
  static Loss parse(const std::string& name, bool from_logits = false);
};
struct LossOptions {
  bool from_logits = false;
};
Loss SparseCategoricalCrossentropy(const LossOptions& o = {});
Loss CategoricalCrossentropy(const LossOptions& o = {});
Loss BinaryCrossentropy(const LossOptions& o = {});
Loss MeanSquaredError();

// A metric by Keras name: "accuracy" (resolved against the loss as Keras does),
// "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy",
// "sparse_top_k_categorical_accuracy" (k, default 5; reported under `name` or
// "sparse_top_k_categorical_accuracy").
struct Metric {
  std::string kind;
  int k = 5;
  std::string name;  // the logs key; default: kind ("accuracy" stays "accuracy")
  Metric(const char* kind_in) : kind(kind_in) {}  // NOLINT: "accuracy" reads like Keras
  Metric(std::string kind_in, int k_in = 5, std::string name_in = "")
      : kind(std::move(kind_in)), k(k_in), name(std::move(name_in)) {}
};

struct CompileOptions {
  Optimizer optimizer = Adam();
  Loss loss = SparseCategoricalCrossentropy({.from_logits = true});
  std::vector<Metric> metrics = {"accuracy"};
  uint64_t seed = 0;  // fixes initialization, shuffling and dropout
  graph::KernelChoice kernels = graph::KernelChoice::kFast;
  // How this model's persistent block and step arena are taken: preallocate (default) or grow,
  // and a hard limit on both together (0: none), checked when the Trainer is built and when
  // each program compiles, never during a step.
  memory::AllocatorOptions allocator = {};
  // The memory training may use (0: no budget): the persistent block plus the step arena that
  // every program of the model shares, so the training program and the evaluation, prediction
  // and calibration programs must each fit beside the persistent block. The input pipeline is
  // not included (MemoryReport::pipeline_bytes adds it), nor are the compiled programs' and
  // kernels' own heap and code (MemoryReport::runtime_bytes: measured, so not something a plan
  // can be chosen on deterministically; a few MB, 0.6% of MobileNetV2's at 224x224, batch 32).
  // With a budget, the training program of each batch size is chosen cheapest first when it is
  // compiled (plan() or the first step), the same plan every time:
  // - "keep all": every activation kept for the backward, when it fits;
  // - "bf16 storage" (only with bf16_storage): every activation kept, the large ones in bf16;
  // - "rematerialization": otherwise, the cheapest schedule of graph/remat.h whose planned arena
  //   fits beside the persistent block (fit_remat over the training graph's chain), training
  //   bit for bit as keeping everything would;
  // - "bf16 storage + rematerialization" (only with bf16_storage): instead, when cheaper, a
  //   schedule recomputing less whose rewritten graph fits once the activations it keeps for
  //   the backward are stored in bf16 (the largest such DP budget, by bisection).
  // Plans are measured by runtime::planned_arena_bytes (nothing reserved) before the chosen
  // program is compiled. When nothing fits, compiling throws Error(kOutOfBudget) before any
  // step, naming the smallest budget that fits the batch and the largest batch that fits the
  // budget. Independent of allocator.limit_bytes, which the allocator enforces on reservations.
  int64_t memory_budget_bytes = 0;
  // Allows the budget planner a plan between keeping everything and rematerialization: every
  // large enough kept activation stored in bf16 between its forward and backward uses
  // (train/bf16_storage.h: half the bytes, a cast on each side, gradients approximate). Without
  // a budget it applies to every training program. Off by default: then training is bit for bit
  // the same under any budget.
  bool bf16_storage = false;
  // Micro-batching with gradient accumulation (1: off). With k > 1 a training step over a batch
  // of B rows (B a multiple of k, else Error(kInvalidArgument) naming both) runs k micro-steps of
  // B/k rows: micro-step i runs forward, loss and backward on rows [i*B/k, (i+1)*B/k) and adds
  // (B/k)/B times its gradient into the persistent gradients (zeroed before the first
  // micro-step); then one optimizer update reads them. For a loss that is a mean over the batch
  // the update equals the full batch's up to summation order; the reported loss and metrics are
  // the full batch's (micro losses weighted by rows). The training arena is the micro-batch's:
  // that is the saving. Costs:
  // - the batch is written once into a host-side staging area of B rows (images and labels,
  //   MemoryReport::staging_bytes), and each micro-step copies its slice into the micro-batch
  //   program's input: one extra copy of the batch per step;
  // - a last, smaller batch of r rows runs in micro-batches of ceil(r/k) rows (the last one the
  //   remainder), with weights by rows, so it too trains as the full batch of r would;
  // - validation images passed to fit() are evaluated in batches of B/k (the same results: the
  //   evaluation graph has no batch statistics); batch-norm recalibration runs full batches.
  // Semantics that differ from the full batch:
  // - BatchNormalization's batch statistics (and its moving-statistics updates, one per
  //   micro-step) are computed per micro-batch, not over the whole batch;
  // - Dropout masks depend on (seed, step, layer, element index within the micro-batch), so
  //   micro-step i > 0 runs with a seed mixed with i: masks are independent across micro-batches
  //   but not the masks the full batch would draw (that would need the micro-batch's row offset
  //   in graph::StepState).
  // A fixed k is not combined with memory_budget_bytes' plan search (rematerialization): with a
  // budget, the micro-batch program keeps every activation and must fit beside the persistent
  // block, or compiling throws Error(kOutOfBudget).
  //
  // kAutoMicroBatches (0): the budget planner's last resort. When neither keeping everything,
  // bf16 storage (if allowed) nor rematerialization fits a batch of B, it takes the smallest k
  // dividing B whose micro-batch program (keeping everything), evaluation arena (validation
  // runs in micro-batch-sized batches) and staging area fit beside the persistent block, with
  // the semantics and costs above; the plan explanation says so. Without a budget, or when a
  // whole-batch plan fits, it is 1.
  int micro_batches = 1;
  // Keep each parameter's gradient in the persistent block until the step ends, the optimizer
  // updating every parameter after the whole backward pass (readable after a step as
  // store().view(name + "/grad")). Off (default): each parameter is updated as soon as its
  // gradient is complete, and gradients are step-local values in the arena
  // (graph/step_local_gradients.h): the persistent block holds no gradients and a step's peak
  // only the few alive there; the numbers are bitwise the same. Micro-batching keeps them
  // regardless (micro_batches > 1, or kAutoMicroBatches with a memory budget): they accumulate
  // across micro-steps.
  bool keep_gradients = false;
};

inline constexpr int kAutoMicroBatches = 0;

// The plans a training program can run under, cheapest first (CompileOptions says when each is
// chosen).
enum class PlanKind {
  kKeepAll,           // every activation the backward reads is kept
  kBf16Storage,       // every activation kept, the large ones in bf16
  kRemat,             // some chain stages recomputed during the backward pass
  kBf16StorageRemat,  // rematerialization, the kept activations in bf16
  kMicroBatching,     // micro-batches with gradient accumulation, each keeping everything
};
// "keep all", "bf16 storage", "rematerialization", "bf16 storage + rematerialization",
// "micro-batching".
const char* plan_kind_name(PlanKind kind);
// Whether the plan recomputes chain stages (rematerialization, with or without bf16 storage):
// then BatchPlan's extra_compute_fraction and recomputed_stages say how much.
bool recomputes(PlanKind kind);

// Why a plan was chosen, as data: the summary a command line prints, and the per-stage report
// that only a full memory report shows.
struct PlanExplanation {
  // How the plan was chosen and what it takes: one sentence per line, without newlines.
  std::vector<std::string> summary;
  // graph::explain_remat's report of the schedule (its budget and predicted peak, then one line
  // per chain stage) when the plan, or the smallest plan that does not fit, recomputes; empty
  // otherwise.
  std::string remat_report;
  // The summary's lines, each ended by a newline, then the remat report.
  std::string to_string() const;
};

// What one batch size needs under a memory budget: the plan the Trainer would choose and its
// predicted bytes, found without reserving memory or running a step (Trainer::plan_for_budget).
struct BatchPlan {
  int64_t batch_size = 0;
  int64_t budget_bytes = 0;  // as asked (0: no budget)
  bool fits = false;         // some plan fits the budget (always true without one)
  // The chosen plan, or the smallest plan when none fits.
  PlanKind plan_kind = PlanKind::kKeepAll;
  int micro_batches = 1;          // k of a micro-batching plan (CompileOptions::kAutoMicroBatches)
  int64_t persistent_bytes = 0;   // the persistent block, alignment included
  int64_t train_arena_bytes = 0;  // planned arena of the chosen (or smallest) training program
  int64_t eval_arena_bytes = 0;   // planned arena of the evaluation program
  // persistent + the larger of the two arenas: what the chosen plan takes (<= budget when it
  // fits; when it does not, the same as min_bytes).
  int64_t predicted_bytes = 0;
  int64_t keep_all_train_arena_bytes = 0;  // planned arena keeping every activation
  // The smallest budget this batch fits: persistent + the larger of the evaluation arena and
  // the smaller of the keep-all arena and the arena of the smallest rematerialization schedule
  // (the schedule of graph::min_remat_budget_bytes); with kAutoMicroBatches, the micro-batch
  // plan that needs least when that is smaller (plan_kind and micro_batches then say which).
  // Filled when the plan does not fit (otherwise 0: not computed; predicted_bytes is an upper
  // bound).
  int64_t min_bytes = 0;
  double extra_compute_fraction = 0;  // recomputation over one forward and backward (estimated)
  int32_t recomputed_stages = 0;      // chain stages whose forward runs more than once
  int32_t chain_stages = 0;           // stages of the training graph's chain (0: keep all)
  // How the plan was chosen and, for rematerialization, graph::explain_remat's report.
  PlanExplanation explanation;
};

struct FitOptions {
  int epochs = 1;
  int64_t batch_size = 32;  // images only: a Dataset brings its own batches
  bool shuffle = true;      // images only: a Dataset shuffles itself (Dataset::shuffle)
  // Data to validate on after each epoch (at most one): images, batched by batch_size; or a
  // Dataset of the same features as the training one.
  const data::LabeledImages* validation_data = nullptr;
  const data::Dataset* validation_dataset = nullptr;
  std::vector<CallbackPtr> callbacks = {};
  int initial_epoch = 0;  // epochs run from initial_epoch to epochs - 1, as Keras
  // 0: the whole training set each epoch. With a Dataset, each epoch is a fresh iteration
  // (Dataset::iterate(epoch)) of which at most this many batches are trained on.
  int64_t steps_per_epoch = 0;
  // After each epoch, sets every BatchNormalization's moving statistics to the population
  // statistics of this many training batches run forward in training mode with the weights
  // frozen ("precise BN"); 0: off, Keras' exponential moving averages only. Helps when a slow
  // momentum (MobileNetV2's 0.999) has not forgotten the initial values (mean 0, variance 1)
  // after a short run.
  int64_t recalibrate_batch_norm_steps = 0;
  int verbose = 1;              // 0 silent, 1 progress bar, 2 one line per epoch
  std::ostream* out = nullptr;  // default std::cout
};

struct EpochLogs {
  int epoch = 0;                 // 1-based
  Logs logs;                     // "loss", metrics, "val_loss", "val_<metric>", "learning_rate"
  double seconds = 0;            // wall time of the training steps (validation excluded)
  double images_per_second = 0;  // training images / seconds
  int64_t steps = 0;             // training steps run in the epoch
  int64_t skipped = 0;           // input elements a Dataset's OnError::kSkip dropped
  // The value of `key`, or NaN when the epoch has none.
  double get(const std::string& key) const;
};

struct History {
  std::vector<EpochLogs> epochs;
};

// "loss" and each metric, as Keras' evaluate(return_dict=True).
struct EvalResult {
  Logs logs;
  double loss() const { return logs.at("loss"); }
};

// The memory the run will use, known before the first step.
struct MemoryReport {
  int64_t batch_size = 0;
  int64_t parameters_bytes = 0;  // trainable parameters
  int64_t state_bytes = 0;       // non-trainable (batch-norm statistics)
  int64_t gradients_bytes = 0;   // in the persistent block (0 when step-local)
  // The gradients live in the training step's arena, each until its parameter's update
  // (CompileOptions::keep_gradients off); their bytes are part of train_arena_bytes.
  bool step_local_gradients = false;
  int64_t optimizer_bytes = 0;
  int64_t persistent_bytes = 0;   // the persistent block, alignment included
  int64_t train_arena_bytes = 0;  // planned arena of the training step
  int64_t eval_arena_bytes = 0;   // planned arena of the evaluation step
  int64_t arena_bytes = 0;        // the shared arena: the larger of the two
  // The input pipeline: images: the epoch orders; a Dataset: the bytes its buffers may hold
  // (Dataset::max_buffered_bytes, training and validation), -1 when it cannot be known before
  // running (then predicted_peak_bytes leaves it out).
  int64_t pipeline_bytes = 0;
  // Micro-batching (CompileOptions::micro_batches): k, and the host-side staging area the whole
  // batch is written into before its slices are copied into the micro-batch program's input
  // (B rows of images and i32 labels; 0 when k = 1). The training arena is then the micro-batch
  // program's.
  int32_t micro_batches = 1;
  int64_t staging_bytes = 0;
  int64_t scratch_bytes = 0;            // kernel scratch inside the training arena (sum)
  int64_t step_buffers_bytes = 0;       // sum of the training step's buffers with no reuse
  int64_t kept_for_backward_bytes = 0;  // forward tensors the backward pass reads
  // What the model's graphs, compiled programs and kernels (heap, oneDNN's generated code) hold,
  // measured when plan() has compiled the run's programs: the resident growth since the Trainer
  // was created that the persistent block and the arena do not account for, measured around the
  // constructor and each program's compilation. Not a prediction but a fact before the first
  // step; steps allocate nothing more. Measured process-wide (VmRSS), so another thread
  // allocating meanwhile would be counted too.
  int64_t runtime_bytes = 0;
  // persistent + arena + pipeline (when known) + staging + runtime.
  int64_t predicted_peak_bytes = 0;
  // The training program's plan (CompileOptions::memory_budget_bytes): its kind, its extra
  // compute (fraction of one forward and backward), the chain stages it recomputes, and why it
  // was chosen (with explain_remat's per-stage report).
  int64_t memory_budget_bytes = 0;  // 0: none
  PlanKind plan_kind = PlanKind::kKeepAll;
  double extra_compute_fraction = 0;
  int32_t recomputed_stages = 0;
  PlanExplanation plan_explanation;
  // Printable block, as `leantrain summary` and `fit` show it.
  std::string to_string() const;
};

// Trains one model (Keras' compile + fit). Owns a copy of the model handle (layers are shared),
// the persistent store (parameters and optimizer state), the shared arena and the compiled
// programs (one per batch size and mode, compiled on first use). Not thread-safe.
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
  History fit(const data::LabeledImages& train, const FitOptions& options);
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
  EvalResult evaluate(const data::LabeledImages& data, int64_t batch_size);
  EvalResult evaluate(const data::Dataset& data);
  // The model's output for each image, row-major (count, output elements), inference mode.
  std::vector<float> predict(const data::LabeledImages& data, int64_t batch_size = 32);

  // Weights as safetensors: every variable (trainable and not) as "<layer>/<variable>" in the
  // model's order, Keras layouts, f32; written atomically. load_weights throws
  // Error(kInvalidArgument) naming the first variable whose name or shape differs (nothing is
  // changed then), Error(kDataLoss) for a corrupt file.
  void save_weights(const std::string& path) const;
  void load_weights(const std::string& path);
  // Every variable's values in the model's order (Keras' get_weights), and back.
  std::vector<std::vector<float>> get_weights() const;
  void set_weights(const std::vector<std::vector<float>>& weights);

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
  graph::Graph build_graph(int64_t batch_size, int mode) const;
  // The last rewrite of a whole-batch training graph (after remat or bf16 storage): with
  // step_local_gradients_, updates move into the backward pass and gradients into the arena.
  void finish_training_graph(graph::Graph& g) const;
  // The planned arena of `g` as its program would plan it (training graphs finished first).
  int64_t planned_arena_bytes(const graph::Graph& g) const;
  runtime::Program& program(int mode, int64_t batch_size);
  // plan_for_budget, also returning the chosen training graph when `graph` is not null (left
  // empty when nothing fits).
  BatchPlan choose_plan(int64_t batch_size, int64_t budget_bytes, graph::Graph* graph);
  // choose_plan's search over whole-batch plans: keep all, bf16 storage, rematerialization.
  BatchPlan choose_whole_batch_plan(int64_t batch_size, int64_t budget_bytes, graph::Graph* graph);
  // kAutoMicroBatches' step: `whole` (a plan that does not fit) split into micro-batches; when
  // no k fits, the micro-batch plan that needs least if it needs less than `whole`, else
  // `whole`.
  BatchPlan choose_micro_plan(BatchPlan whole);
  // k for a training step over `batch_rows` rows: CompileOptions::micro_batches, or under
  // kAutoMicroBatches the budget plan's (1 without a budget).
  int micro_batches_for(int64_t batch_rows);
  // Bytes of the host-side staging area for a batch of `batch_rows` under micro-batching.
  int64_t staging_bytes_for(int64_t batch_rows) const;
  // The Error(kOutOfBudget) for a batch that does not fit the Trainer's budget.
  Error out_of_budget(const BatchPlan& plan);
  void initialize_variables();
  // Micro-batching: the micro-batch graph (forward, loss, backward of `rows` rows, each gradient
  // added into its persistent buffer times rows / batch_rows right after it is computed).
  graph::Graph build_micro_graph(int64_t rows, int64_t batch_rows) const;
  // The micro-batch program of `rows` rows of a batch of `batch_rows` (compiled on first use).
  runtime::Program& micro_program(int64_t rows, int64_t batch_rows);
  // Compiles every program a batch of `batch_rows` needs under micro-batching.
  void compile_micro_step(int64_t batch_rows);
  // Throws Error(kInvalidArgument) unless batch_size is a multiple of micro_batches.
  void check_micro_batch_size(int64_t batch_size) const;
  // One training step over the `rows` rows in the staging area: micro-steps, then the update.
  // Adds the batch's loss times rows to *loss_sum and its metric sums to *sums.
  void run_micro_step(int64_t rows, const graph::StepState& state, double* loss_sum,
                      std::vector<double>* sums);
  void check_data(const data::LabeledImages& data) const;
  // Writes the next batch of `source` into the program of `mode` for its rows (labels checked
  // and encoded as the loss reads them), sets *program to it and returns the rows; 0 at the end.
  int64_t next_batch(BatchSource& source, int mode, runtime::Program** program);
  History fit_batches(BatchSource& train, BatchSource* calibration, const FitOptions& options);
  Logs run_epoch_eval(BatchSource& data);
  void recalibrate_batch_norm(BatchSource& data, int64_t steps, int64_t epoch);

  nn::Model model_;
  CompileOptions options_;
  std::string input_name_;
  std::unique_ptr<struct Objective> objective_;  // labels layout and metrics, resolved once
  std::unique_ptr<runtime::PersistentStore> store_;
  std::unique_ptr<runtime::SharedArena> arena_;
  std::map<std::pair<int, int64_t>, std::unique_ptr<runtime::Program>> programs_;
  std::map<int64_t, BatchPlan> training_plans_;  // the plan of each compiled training program
  // Per batch size: figures of a training graph that do not depend on the budget (planned
  // arenas of the keep-all training and evaluation graphs; of the smallest remat schedule, -1
  // until needed), so a search does not plan them twice.
  struct BatchFacts {
    int64_t keep_all_train_arena_bytes = 0;
    int64_t eval_arena_bytes = 0;
    int64_t min_remat_arena_bytes = -1;
  };
  std::map<int64_t, BatchFacts> batch_facts_;
  // plan_for_budget's answers by (batch size, budget): a search asks again for what it probed.
  std::map<std::pair<int64_t, int64_t>, BatchPlan> plans_;
  std::vector<int32_t> label_scratch_;
  // Micro-batching: programs by (micro rows, batch rows), the update-only program, and the
  // staging area a whole batch is written into (images row-major, labels; grown, never shrunk).
  std::map<std::pair<int64_t, int64_t>, std::unique_ptr<runtime::Program>> micro_programs_;
  std::unique_ptr<runtime::Program> update_program_;
  std::vector<float> staging_images_;
  std::vector<int32_t> staging_labels_;
  // MemoryReport::runtime_bytes: resident growth during the constructor and each program's
  // compilation beyond the pages of our own blocks (measured once per program, so plan() gives
  // the same figure every time).
  int64_t runtime_bytes_ = 0;
  // Gradients are step-local, updates run during the backward pass (CompileOptions::
  // keep_gradients): every training program goes through finish_training_graph.
  bool step_local_gradients_ = false;
  int64_t iteration_ = 0;
  double learning_rate_ = 0;
  bool stop_requested_ = false;
};

}  // namespace leantrain::train

// compile / fit / evaluate for a Sequential model: builds the training program (forward, loss,
// backward, optimizer update), plans its memory before the first step and runs it.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "leantrain/data/idx.h"
#include "leantrain/graph/op.h"
#include "leantrain/nn/sequential.h"

namespace leantrain::runtime {
class Program;
class PersistentStore;
class SharedArena;
}  // namespace leantrain::runtime

namespace leantrain::train {

// Keras' optimizers and defaults.
struct Optimizer {
  enum class Kind { kSgd, kAdam, kAdamW } kind = Kind::kAdam;
  float learning_rate = 0.001f;
  float momentum = 0.0f;                                  // SGD
  bool nesterov = false;                                  // SGD
  float beta_1 = 0.9f, beta_2 = 0.999f, epsilon = 1e-7f;  // Adam, AdamW
  float weight_decay = 0.0f;                              // AdamW (Keras default 0.004)
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

struct CompileOptions {
  Optimizer optimizer = Adam();
  uint64_t seed = 0;  // fixes initialization, shuffling and dropout
  graph::KernelChoice kernels = graph::KernelChoice::kFast;
};

struct FitOptions {
  int epochs = 1;
  int64_t batch_size = 32;
  bool shuffle = true;
  const data::LabeledImages* validation_data = nullptr;
  int verbose = 1;              // 0 silent, 1 progress bar, 2 one line per epoch
  std::ostream* out = nullptr;  // default std::cout
};

struct EpochLogs {
  int epoch = 0;  // 1-based
  double loss = 0, accuracy = 0;
  std::optional<double> val_loss, val_accuracy;
  double seconds = 0;            // wall time of the training steps (validation excluded)
  double images_per_second = 0;  // training images / seconds
};

struct History {
  std::vector<EpochLogs> epochs;
};

struct EvalResult {
  double loss = 0, accuracy = 0;
};

// The memory the run will use, known before the first step.
struct MemoryReport {
  int64_t batch_size = 0;
  int64_t parameters_bytes = 0;  // trainable parameters
  int64_t state_bytes = 0;       // non-trainable (batch-norm statistics)
  int64_t gradients_bytes = 0;
  int64_t optimizer_bytes = 0;
  int64_t persistent_bytes = 0;         // the persistent block, alignment included
  int64_t train_arena_bytes = 0;        // planned arena of the training step
  int64_t eval_arena_bytes = 0;         // planned arena of the evaluation step
  int64_t arena_bytes = 0;              // the shared arena: the larger of the two
  int64_t pipeline_bytes = 0;           // the input pipeline's buffers (epoch orders)
  int64_t scratch_bytes = 0;            // kernel scratch inside the training arena (sum)
  int64_t step_buffers_bytes = 0;       // sum of the training step's buffers with no reuse
  int64_t kept_for_backward_bytes = 0;  // forward tensors the backward pass reads
  int64_t predicted_peak_bytes = 0;     // persistent + arena + pipeline
  // Printable block, as `leantrain summary` and `fit` show it.
  std::string to_string() const;
};

// Trains one model. Owns the persistent store (parameters and optimizer state), the shared
// arena and the compiled programs (one per batch size and mode, compiled on first use).
// The model must outlive the trainer. Not thread-safe.
class Trainer {
 public:
  // Declares and initializes every variable (seeded), and the optimizer state.
  // Throws Error(kInvalidArgument) for a model that cannot be trained (no trainable variable).
  Trainer(const nn::Sequential& model, CompileOptions options);
  ~Trainer();

  // Compiles the training and evaluation programs for `batch_size` (if not yet) and returns
  // what they will take, with the input pipeline of a fit over `train_count` examples validated
  // on `validation_count`. Everything here is known before the first step.
  MemoryReport plan(int64_t batch_size, int64_t train_count = 0, int64_t validation_count = 0);
  // Trains for options.epochs epochs over `train` (labels must be < the model's output width).
  // The last partial batch is trained on with a program compiled for its size.
  History fit(const data::LabeledImages& train, const FitOptions& options);
  EvalResult evaluate(const data::LabeledImages& data, int64_t batch_size);

  // The training program for a batch size (compiled on first use), for tests and reports.
  runtime::Program& training_program(int64_t batch_size);
  runtime::Program& evaluation_program(int64_t batch_size);
  runtime::PersistentStore& store();
  const runtime::SharedArena& arena() const;
  int64_t iterations() const { return iteration_; }

 private:
  graph::Graph build_training_graph(int64_t batch_size) const;
  graph::Graph build_evaluation_graph(int64_t batch_size) const;
  void initialize_variables();
  void check_labels(const data::LabeledImages& data) const;

  const nn::Sequential& model_;
  CompileOptions options_;
  std::unique_ptr<runtime::PersistentStore> store_;
  std::unique_ptr<runtime::SharedArena> arena_;
  std::map<int64_t, std::unique_ptr<runtime::Program>> train_programs_, eval_programs_;
  int64_t iteration_ = 0;
};

}  // namespace leantrain::train

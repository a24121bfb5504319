// The graphs of a model's steps, one per mode: training (forward, loss, backward, optimizer
// update), evaluation, prediction, batch-norm calibration and the micro-batch step.
#pragma once

#include <cstdint>

#include "leantrain/graph/graph.h"
#include "leantrain/nn/sequential.h"
#include "leantrain/train/compile_options.h"

namespace leantrain::train {

// kMicro: forward, loss and backward without the update (micro-batching builds on it).
enum class StepMode { kTrain, kEval, kPredict, kCalibrate, kMicro };

// "training", "evaluation", "prediction", "batch-norm calibration", "micro-batch": the step in
// messages.
const char* step_name(StepMode mode);

// Builds the step graphs of one model under its compile options. Holds references to both,
// which must outlive it. Thread-compatible: its methods are const.
class StepGraphs {
 public:
  // `step_local_gradients`: training graphs are finished by finish_training_graph (updates in
  // the backward pass, gradients in the arena; CompileOptions::keep_gradients).
  StepGraphs(const nn::Model& model, const CompileOptions& options, bool step_local_gradients);

  const nn::Model& model() const { return model_; }
  const CompileOptions& options() const { return options_; }
  bool step_local_gradients() const { return step_local_gradients_; }

  // The graph of one step of `batch_size` rows: kTrain, kMicro and kCalibrate run the model in
  // training mode; kEval and kTrain add the loss and metrics, kMicro and kTrain the backward,
  // kTrain the optimizer's update nodes. kPredict marks the output, kCalibrate every batch-norm
  // node's batch statistics as outputs too.
  graph::Graph build(int64_t batch_size, StepMode mode) const;
  // The last rewrite of a whole-batch training graph (after remat or bf16 storage): with
  // step-local gradients, updates move into the backward pass and gradients into the arena.
  // Throws Error(kInternal) when a gradient is read by more than its parameter's update.
  void finish_training_graph(graph::Graph& g) const;
  // The planned arena of `g` as its program would plan it (training graphs finished first).
  int64_t planned_arena_bytes(const graph::Graph& g) const;

 private:
  const nn::Model& model_;
  const CompileOptions& options_;
  bool step_local_gradients_;
};

// The one value a prediction graph's host reads. Throws Error(kInternal) when there is none.
graph::ValueId the_output(const graph::Graph& g);

}  // namespace leantrain::train

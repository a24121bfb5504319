// Micro-batching with gradient accumulation (CompileOptions::micro_batches): a batch written once
// into a host-side staging area, run as micro-steps that add their gradients into the persistent
// ones, then one optimizer update.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "leantrain/graph/graph.h"
#include "leantrain/runtime/program.h"
#include "train/batch_sources.h"
#include "train/objective.h"
#include "train/step_graph.h"

namespace leantrain::train {

// The micro-batch sizes of a batch of `rows` under k micro-batches: ceil(rows / k) each, the last
// the remainder (k of rows / k when k divides rows).
std::vector<int64_t> micro_split(int64_t rows, int k);

// Bytes of the host-side staging area for a batch of `batch_rows` images of `input_shape` (f32)
// and their i32 labels.
int64_t staging_bytes(const Shape& input_shape, int64_t batch_rows);

// The micro-batch graph: the kMicro graph of `rows` rows (forward, loss, backward) through
// passes::accumulate_micro_batch_gradients, which adds each gradient times rows / batch_rows
// into its persistent buffer right after it is computed.
graph::Graph build_micro_graph(const StepGraphs& graphs, int64_t rows, int64_t batch_rows);

// Runs training steps in micro-batches. Owns the micro-batch programs (by micro rows and batch
// rows, compiled on first use), the update-only program and the staging area a whole batch is
// written into (grown, never shrunk). The graphs, store, arena and objective must outlive it.
// Not thread-safe.
class MicroBatcher {
 public:
  MicroBatcher(const StepGraphs& graphs, runtime::PersistentStore& store,
               runtime::SharedArena& arena, const Objective& objective, std::string input_name);

  // The micro-batch program of `rows` rows of a batch of `batch_rows` run in `k` micro-batches
  // (compiled on first use). Throws Error(kOutOfBudget) when, under a memory budget, it does not
  // fit beside the persistent block.
  runtime::Program& program(int64_t rows, int64_t batch_rows, int k);
  // The optimizer update alone: the update nodes of the training graph, reading the accumulated
  // gradients (compiled on first use).
  runtime::Program& update_program();
  // Where a batch of `rows` is written: the staging area, grown to hold it.
  BatchSource::Slots stage(int64_t rows);
  const int32_t* staged_labels() const { return staging_labels_.data(); }
  // A micro-step whose loss was not finite: its program (its slice still in the input slot) and
  // the state it ran with, for Program::first_non_finite_node.
  struct NonFinite {
    runtime::Program* program = nullptr;
    graph::StepState state;
  };
  // One training step over the `rows` rows in the staging area in `k` micro-batches:
  // micro-steps, then the update. Adds the batch's loss times rows to *loss_sum and its metric
  // sums to *sums. A micro-step whose loss is not finite stops before its backward pass and the
  // step is not applied (the later micro-steps and the update do not run; the loss is added as
  // it is): the returned program is then set.
  NonFinite run_step(int64_t rows, int k, const graph::StepState& state, double* loss_sum,
                     std::vector<double>* sums);
  // Resident growth while compiling its programs (MemoryReport::runtime_bytes' share).
  int64_t runtime_bytes() const { return runtime_bytes_; }

 private:
  const StepGraphs& graphs_;
  runtime::PersistentStore& store_;
  runtime::SharedArena& arena_;
  const Objective& objective_;
  std::string input_name_;
  std::map<std::pair<int64_t, int64_t>, std::unique_ptr<runtime::Program>> programs_;
  std::unique_ptr<runtime::Program> update_program_;
  std::vector<float> staging_images_;    // (batch rows, input shape...) f32, row-major
  std::vector<int32_t> staging_labels_;  // (batch rows) i32 class ids
  int64_t runtime_bytes_ = 0;
};

}  // namespace leantrain::train

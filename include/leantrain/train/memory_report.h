// MemoryReport: the memory a run will use, known before its first step.
#pragma once

#include <cstdint>
#include <string>

#include "leantrain/train/plan.h"

namespace leantrain::train {

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

}  // namespace leantrain::train

// CompileOptions: how a Trainer builds, plans and runs its programs (Keras' compile arguments
// and leantrain's memory options).
#pragma once

#include <cstdint>
#include <vector>

#include "leantrain/graph/op.h"
#include "leantrain/memory/allocator.h"
#include "leantrain/train/loss.h"
#include "leantrain/train/optimizer.h"

namespace leantrain::train {

struct CompileOptions {
  Optimizer optimizer = Adam();
  Loss loss = SparseCategoricalCrossentropy({.from_logits = true});
  std::vector<Metric> metrics = {"accuracy"};
  uint64_t seed = 0;  // fixes initialization, shuffling and dropout
  graph::KernelOptions kernels = {};
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
  // - "rematerialization": otherwise, the cheapest schedule of passes/remat.h whose planned arena
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
  // (passes/bf16_storage.h: half the bytes, a cast on each side, gradients approximate). Without
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
  // (passes/step_local_gradients.h): the persistent block holds no gradients and a step's peak
  // only the few alive there; the numbers are bitwise the same. Micro-batching keeps them
  // regardless (micro_batches > 1, or kAutoMicroBatches with a memory budget): they accumulate
  // across micro-steps.
  bool keep_gradients = false;
};

inline constexpr int kAutoMicroBatches = 0;

}  // namespace leantrain::train

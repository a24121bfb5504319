// The training program's plan under a memory budget: which plan, what it takes, and why.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace leantrain::train {

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
  // passes::explain_remat's report of the schedule (its budget and predicted peak, then one line
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
  // (the schedule of passes::min_remat_budget_bytes); with kAutoMicroBatches, the micro-batch
  // plan that needs least when that is smaller (plan_kind and micro_batches then say which).
  // Filled when the plan does not fit (otherwise 0: not computed; predicted_bytes is an upper
  // bound).
  int64_t min_bytes = 0;
  double extra_compute_fraction = 0;  // recomputation over one forward and backward (estimated)
  int32_t recomputed_stages = 0;      // chain stages whose forward runs more than once
  int32_t chain_stages = 0;           // stages of the training graph's chain (0: keep all)
  // How the plan was chosen and, for rematerialization, passes::explain_remat's report.
  PlanExplanation explanation;
};

}  // namespace leantrain::train

// The budget planner: the plan of a training program under a memory budget (CompileOptions::
// memory_budget_bytes), the largest batch within a budget, and the error naming what would fit.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "leantrain/core/error.h"
#include "leantrain/graph/graph.h"
#include "leantrain/passes/remat.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/plan.h"
#include "train/step_graph.h"

namespace leantrain::train {

// Chooses a batch's training plan by planning candidate graphs (runtime::planned_arena_bytes),
// cheapest first, without reserving memory or running a step:
// - keep all: every activation kept, when persistent + the larger of the training and
//   evaluation arenas fits;
// - bf16 storage (CompileOptions::bf16_storage): every activation kept, the large ones in bf16;
// - rematerialization: the cheapest schedule of passes/remat.h whose planned arena fits
//   (fit_remat, then the smallest schedule as a last resort);
// - bf16 storage + rematerialization (bf16_storage): a schedule recomputing less that fits once
//   its kept activations are in bf16 (the largest such DP budget by bisection, 12 probes at most);
// - micro-batching (kAutoMicroBatches): the smallest k dividing the batch whose micro-batch
//   program, evaluation arena and staging area fit.
// Owns per-batch facts that do not depend on the budget and the answers by (batch, budget), so a
// search plans nothing twice. The graphs and store must outlive it. Not thread-safe.
class BudgetPlanner {
 public:
  BudgetPlanner(const StepGraphs& graphs, const runtime::PersistentStore& store);

  // Trainer::plan_for_budget: the plan, kept by (batch size, budget) for the planner's life.
  BatchPlan plan_for_budget(int64_t batch_size, int64_t budget_bytes);
  // The plan (not kept), also returning the chosen training graph when `graph` is not null
  // (left empty when nothing fits). Throws Error(kInvalidArgument) for batch_size < 1 or a
  // negative budget.
  BatchPlan choose(int64_t batch_size, int64_t budget_bytes, graph::Graph* graph);
  // Trainer::largest_batch_within.
  int64_t largest_batch_within(int64_t budget_bytes, int64_t max_batch);
  // The Error(kOutOfBudget) for a plan that does not fit its budget: what the batch needs with
  // its smallest plan, and the largest batch that fits or the budget that would.
  Error out_of_budget(const BatchPlan& plan);
  // The planned evaluation arena of `batch_size`, when a search has planned it.
  std::optional<int64_t> eval_arena_bytes(int64_t batch_size) const;

 private:
  // Per batch size: figures that do not depend on the budget (planned arenas of the keep-all
  // training and evaluation graphs; of the smallest remat schedule, -1 until needed).
  struct BatchFacts {
    int64_t keep_all_train_arena_bytes = 0;
    int64_t eval_arena_bytes = 0;
    int64_t min_remat_arena_bytes = -1;
  };
  // What every phase of a whole-batch search reads.
  struct Search {
    graph::Graph train;  // the keep-all training graph
    BatchFacts& facts;
    BatchPlan base;              // batch, budget, persistent block, keep-all and evaluation arenas
    int64_t keep_all_bytes = 0;  // persistent + the larger of the two keep-all arenas
    graph::Graph* graph_out = nullptr;
    int64_t budget() const { return base.budget_bytes; }
    int64_t persistent() const { return base.persistent_bytes; }
    // "keeping every activation needs ..., over the memory budget ...".
    std::string over() const;
  };

  int64_t arena_of(const graph::Graph& g) const { return graphs_.planned_arena_bytes(g); }
  // choose's search over whole-batch plans, phase by phase: keep all, bf16 storage,
  // rematerialization (and its bf16 variant).
  BatchPlan choose_whole_batch_plan(int64_t batch_size, int64_t budget_bytes, graph::Graph* graph);
  Search start_search(int64_t batch_size, int64_t budget_bytes, graph::Graph* graph);
  BatchPlan keep_all_plan(Search& s) const;
  std::optional<BatchPlan> bf16_storage_plan(const Search& s) const;
  BatchPlan remat_plan(Search& s) const;
  // The cheapest remat schedule whose arena fits, else the smallest schedule's (then *smallest
  // is that schedule, and schedule.fits is false when it does not fit either).
  passes::FittedRemat fit_schedule(Search& s, const passes::Chain& chain,
                                   passes::RematSchedule* smallest) const;
  // The smallest plan, when no schedule fits: the smallest schedule or keeping everything.
  BatchPlan smallest_plan(const Search& s, const passes::Chain& chain,
                          const passes::RematSchedule& smallest) const;
  // Replaces *fit by a schedule recomputing less whose graph fits with its kept activations in
  // bf16, and returns true, when there is one.
  bool cheaper_in_bf16(const Search& s, const passes::Chain& chain, passes::FittedRemat* fit) const;
  // kAutoMicroBatches' step: `whole` (a plan that does not fit) split into micro-batches; when
  // no k fits, the micro-batch plan that needs least if it needs less than `whole`, else
  // `whole`.
  BatchPlan choose_micro_plan(BatchPlan whole) const;

  const StepGraphs& graphs_;
  const runtime::PersistentStore& store_;
  std::map<int64_t, BatchFacts> batch_facts_;
  // plan_for_budget's answers by (batch size, budget): a search asks again for what it probed.
  std::map<std::pair<int64_t, int64_t>, BatchPlan> plans_;
};

}  // namespace leantrain::train

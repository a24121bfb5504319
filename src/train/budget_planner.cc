#include "train/budget_planner.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "leantrain/memory/allocator.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/memory/process_memory.h"
#include "leantrain/passes/passes.h"
#include "ops/ops.h"
#include "train/micro_batching.h"

namespace leantrain::train {
namespace {

// "12.00 MiB": bytes as parse_bytes reads them back (what --memory-budget accepts).
std::string iec(int64_t bytes) { return memory::format_iec_bytes(bytes); }

int32_t count_recomputed(const passes::RematSchedule& s) {
  return static_cast<int32_t>(
      std::count_if(s.forward_runs.begin(), s.forward_runs.end(), [](int32_t r) { return r > 1; }));
}

}  // namespace

BudgetPlanner::BudgetPlanner(const StepGraphs& graphs, const runtime::PersistentStore& store)
    : graphs_(graphs), store_(store) {}

BatchPlan BudgetPlanner::plan_for_budget(int64_t batch_size, int64_t budget_bytes) {
  const auto key = std::make_pair(batch_size, budget_bytes);
  auto it = plans_.find(key);
  if (it == plans_.end()) it = plans_.emplace(key, choose(batch_size, budget_bytes, nullptr)).first;
  return it->second;
}

std::optional<int64_t> BudgetPlanner::eval_arena_bytes(int64_t batch_size) const {
  const auto it = batch_facts_.find(batch_size);
  if (it == batch_facts_.end()) return std::nullopt;
  return it->second.eval_arena_bytes;
}

BatchPlan BudgetPlanner::choose(int64_t batch_size, int64_t budget_bytes, graph::Graph* graph_out) {
  BatchPlan whole = choose_whole_batch_plan(batch_size, budget_bytes, graph_out);
  BatchPlan chosen =
      whole.fits || graphs_.options().micro_batches != kAutoMicroBatches || batch_size == 1
          ? std::move(whole)
          : choose_micro_plan(std::move(whole));
  // The search compiled graphs it no longer needs: drop their kernels and give their heap pages
  // back, so that they do not stay resident beside the arena the plan is measured against, and
  // the programs compiled next create (and count) their own kernels.
  ops::release_unused_kernels();
  memory::release_free_heap_memory();
  return chosen;
}

BatchPlan BudgetPlanner::choose_micro_plan(BatchPlan whole) const {
  const int64_t b = whole.batch_size;
  const int64_t budget = whole.budget_bytes;
  const int64_t persistent = whole.persistent_bytes;
  const int64_t staging = staging_bytes(graphs_.model().input_shape(), b);
  const graph::KernelOptions& kernels = graphs_.options().kernels;
  BatchPlan smallest;  // the micro-batch plan that needs the least, when none fits
  // Largest micro-batch first: fewer, larger micro-steps run faster.
  for (int64_t k = 2; k <= b; ++k) {
    if (b % k != 0) continue;
    const int64_t rows = b / k;
    BatchPlan r = whole;
    r.plan_kind = PlanKind::kMicroBatching;
    r.micro_batches = static_cast<int>(k);
    r.train_arena_bytes =
        runtime::planned_arena_bytes(build_micro_graph(graphs_, rows, b), kernels);
    r.eval_arena_bytes =
        runtime::planned_arena_bytes(graphs_.build(rows, StepMode::kEval), kernels);
    r.predicted_bytes = persistent + std::max(r.train_arena_bytes, r.eval_arena_bytes) + staging;
    r.extra_compute_fraction = 0;
    r.recomputed_stages = 0;
    const std::string takes = internal::str_cat(
        k, " micro-batches of ", rows, " rows with gradient accumulation take persistent ",
        iec(persistent), " + arena ", iec(r.predicted_bytes - persistent - staging),
        " + staging (the whole batch, host side) ", iec(staging), " = ", iec(r.predicted_bytes));
    if (r.predicted_bytes <= budget) {
      r.fits = true;
      r.min_bytes = 0;
      r.explanation.summary = {
          internal::str_cat("micro-batching: no whole-batch plan fits the memory budget ",
                            iec(budget), " (", plan_kind_name(whole.plan_kind),
                            ", the smallest, needs ", iec(whole.min_bytes), "); ", takes,
                            "; the effective batch stays ", b,
                            ", but batch-norm statistics are computed per ", "micro-batch of ",
                            rows, " rows, not over the batch"),
          "keep all: every activation the backward of a micro-batch reads is kept; "
          "gradients are accumulated over the micro-batches, then one optimizer "
          "update"};
      return r;
    }
    if (smallest.micro_batches == 1 || r.predicted_bytes < smallest.predicted_bytes) {
      r.min_bytes = r.predicted_bytes;
      r.explanation = whole.explanation;
      r.explanation.summary.push_back("micro-batching does not fit either: the smallest, " + takes);
      smallest = std::move(r);
    }
  }
  return smallest.micro_batches > 1 && smallest.min_bytes < whole.min_bytes ? smallest : whole;
}

std::string BudgetPlanner::Search::over() const {
  return internal::str_cat("keeping every activation needs persistent ", iec(persistent()),
                           " + arena ", iec(keep_all_bytes - persistent()), " = ",
                           iec(keep_all_bytes), ", over the memory budget ", iec(budget()));
}

BatchPlan BudgetPlanner::choose_whole_batch_plan(int64_t batch_size, int64_t budget_bytes,
                                                 graph::Graph* graph_out) {
  LT_CHECK(batch_size >= 1, kInvalidArgument, "batch_size must be >= 1, got ", batch_size);
  LT_CHECK(budget_bytes >= 0, kInvalidArgument, "a memory budget must be >= 0 bytes, got ",
           budget_bytes);
  Search s = start_search(batch_size, budget_bytes, graph_out);
  // 1. Keep everything, when it fits.
  if (budget_bytes == 0 || s.keep_all_bytes <= budget_bytes) return keep_all_plan(s);
  // 1b. Keep everything, stored in bf16 between the forward and the backward (when allowed).
  if (graphs_.options().bf16_storage) {
    if (std::optional<BatchPlan> bf16 = bf16_storage_plan(s)) return *std::move(bf16);
  }
  // 2. Rematerialization, its bf16 variant, or the smallest plan when none fits.
  return remat_plan(s);
}

BudgetPlanner::Search BudgetPlanner::start_search(int64_t batch_size, int64_t budget_bytes,
                                                  graph::Graph* graph_out) {
  graph::Graph train = graphs_.build(batch_size, StepMode::kTrain);
  auto facts_it = batch_facts_.find(batch_size);
  if (facts_it == batch_facts_.end()) {
    BatchFacts f;
    f.keep_all_train_arena_bytes = arena_of(train);
    f.eval_arena_bytes = arena_of(graphs_.build(batch_size, StepMode::kEval));
    facts_it = batch_facts_.emplace(batch_size, f).first;
  }
  BatchFacts& facts = facts_it->second;
  BatchPlan r;
  r.batch_size = batch_size;
  r.budget_bytes = budget_bytes;
  r.persistent_bytes = store_.total_bytes();
  r.keep_all_train_arena_bytes = facts.keep_all_train_arena_bytes;
  r.eval_arena_bytes = facts.eval_arena_bytes;
  const int64_t keep_all =
      r.persistent_bytes + std::max(facts.keep_all_train_arena_bytes, facts.eval_arena_bytes);
  return Search{.train = std::move(train),
                .facts = facts,
                .base = std::move(r),
                .keep_all_bytes = keep_all,
                .graph_out = graph_out};
}

BatchPlan BudgetPlanner::keep_all_plan(Search& s) const {
  BatchPlan r = s.base;
  r.fits = true;
  r.plan_kind = PlanKind::kKeepAll;
  r.train_arena_bytes = s.facts.keep_all_train_arena_bytes;
  r.predicted_bytes = s.keep_all_bytes;
  r.explanation.summary = {
      s.budget() == 0
          ? "keep all: every activation the backward reads is kept (no memory budget)"
          : internal::str_cat("keep all: every activation the backward reads is kept; ",
                              "persistent ", iec(s.persistent()), " + arena ",
                              iec(s.keep_all_bytes - s.persistent()), " = ", iec(s.keep_all_bytes),
                              " fits the memory budget ", iec(s.budget()))};
  if (s.graph_out != nullptr) *s.graph_out = std::move(s.train);
  return r;
}

// No recomputation, gradients approximate (bf16_storage.h says which ops read what).
std::optional<BatchPlan> BudgetPlanner::bf16_storage_plan(const Search& s) const {
  const passes::Bf16StoragePlan conversions = passes::plan_bf16_storage(s.train);
  if (conversions.converted_values() == 0) return std::nullopt;
  graph::Graph bf16 = passes::store_kept_in_bf16(s.train);
  const int64_t arena = arena_of(bf16);
  const int64_t total = s.persistent() + std::max(arena, s.facts.eval_arena_bytes);
  if (total > s.budget()) return std::nullopt;
  BatchPlan r = s.base;
  r.fits = true;
  r.plan_kind = PlanKind::kBf16Storage;
  r.train_arena_bytes = arena;
  r.predicted_bytes = total;
  r.explanation.summary = {internal::str_cat(
      s.over(), "; bf16 storage: ", conversions.converted_values(), " kept activations (",
      iec(conversions.converted_f32_bytes()),
      " in f32) are stored in bf16 between their forward and backward uses: persistent ",
      iec(s.persistent()), " + arena ", iec(total - s.persistent()), " = ", iec(total),
      " fits; no recomputation, gradients approximate (bf16 rounding of what the backward "
      "reads)")};
  if (s.graph_out != nullptr) *s.graph_out = std::move(bf16);
  return r;
}

// The cheapest schedule whose planned arena fits beside the persistent block (and above the
// evaluation step's arena, which shares it).
BatchPlan BudgetPlanner::remat_plan(Search& s) const {
  passes::Chain chain;
  try {
    chain = passes::extract_chain(s.train);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kUnimplemented) throw;
    // The graph is not a chain rematerialization handles: keeping everything is the only plan.
    BatchPlan r = s.base;
    r.plan_kind = PlanKind::kKeepAll;
    r.train_arena_bytes = s.facts.keep_all_train_arena_bytes;
    r.predicted_bytes = r.min_bytes = s.keep_all_bytes;
    r.explanation.summary = {
        internal::str_cat(s.over(), "; rematerialization cannot run this graph: ", e.what())};
    return r;
  }
  s.base.chain_stages = static_cast<int32_t>(chain.stages.size());
  passes::RematSchedule smallest;
  passes::FittedRemat fit = fit_schedule(s, chain, &smallest);
  if (!fit.schedule.fits) return smallest_plan(s, chain, smallest);
  // With bf16 storage allowed, the kept activations of the rewritten graph in bf16 too.
  const bool with_bf16 = graphs_.options().bf16_storage && fit.schedule.extra_cost() > 0 &&
                         cheaper_in_bf16(s, chain, &fit);
  const int64_t arena_budget = s.budget() - s.persistent();
  BatchPlan r = s.base;
  r.fits = true;
  r.plan_kind = with_bf16 ? PlanKind::kBf16StorageRemat : PlanKind::kRemat;
  r.train_arena_bytes = fit.arena_bytes;
  r.predicted_bytes = s.persistent() + std::max(fit.arena_bytes, s.facts.eval_arena_bytes);
  r.extra_compute_fraction = fit.schedule.extra_fraction();
  r.recomputed_stages = count_recomputed(fit.schedule);
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.1f%%", 100.0 * r.extra_compute_fraction);
  r.explanation = {
      .summary = {internal::str_cat(
          plan_kind_name(r.plan_kind), ": ", s.over(), "; recomputing ", r.recomputed_stages,
          " of ", r.chain_stages, " stages (extra compute ", pct, ")",
          with_bf16 ? " and keeping the other activations the backward reads in bf16 (gradients "
                      "approximate)"
                    : "",
          " takes persistent ", iec(s.persistent()), " + arena ",
          iec(r.predicted_bytes - s.persistent()), " = ", iec(r.predicted_bytes),
          " (the schedule below was solved for the arena's share of the budget, ",
          iec(arena_budget), with_bf16 ? ", counting kept activations in f32" : "", ")")},
      .remat_report = passes::explain_remat(chain, fit.schedule)};
  if (s.graph_out != nullptr) *s.graph_out = std::move(fit.graph);
  return r;
}

passes::FittedRemat BudgetPlanner::fit_schedule(Search& s, const passes::Chain& chain,
                                                passes::RematSchedule* smallest) const {
  const int64_t arena_budget = s.budget() - s.persistent();
  BatchFacts& facts = s.facts;
  passes::FittedRemat fit;
  if (arena_budget > 0 && facts.eval_arena_bytes <= arena_budget) {
    fit = passes::fit_remat(s.train, chain, arena_budget,
                            [this](const graph::Graph& g) { return arena_of(g); });
  }
  if (fit.schedule.fits) return fit;
  // fit_remat may give up before reaching the smallest schedule (its attempts); that schedule is
  // the plan of last resort, and what the smallest budget is made of.
  *smallest = passes::solve_remat(chain, passes::min_remat_budget_bytes(chain));
  LT_CHECK(smallest->fits, kInternal, "the smallest rematerialization budget does not fit");
  graph::Graph g = passes::apply_remat(s.train, {.chain = chain, .schedule = *smallest});
  if (facts.min_remat_arena_bytes < 0) facts.min_remat_arena_bytes = arena_of(g);
  if (facts.eval_arena_bytes <= arena_budget && facts.min_remat_arena_bytes <= arena_budget) {
    fit.schedule = *smallest;
    fit.graph = std::move(g);
    fit.arena_bytes = facts.min_remat_arena_bytes;
  }
  return fit;
}

BatchPlan BudgetPlanner::smallest_plan(const Search& s, const passes::Chain& chain,
                                       const passes::RematSchedule& smallest) const {
  const BatchFacts& facts = s.facts;
  const bool remat_smaller = facts.min_remat_arena_bytes < facts.keep_all_train_arena_bytes;
  BatchPlan r = s.base;
  r.plan_kind = remat_smaller ? PlanKind::kRemat : PlanKind::kKeepAll;
  r.train_arena_bytes =
      remat_smaller ? facts.min_remat_arena_bytes : facts.keep_all_train_arena_bytes;
  r.min_bytes = r.predicted_bytes =
      s.persistent() + std::max(r.train_arena_bytes, facts.eval_arena_bytes);
  if (remat_smaller) {
    r.extra_compute_fraction = smallest.extra_fraction();
    r.recomputed_stages = count_recomputed(smallest);
  }
  r.explanation = {
      .summary = {internal::str_cat(s.over(), "; no plan fits: the smallest is ",
                                    plan_kind_name(r.plan_kind), " at persistent ",
                                    iec(s.persistent()), " + arena ",
                                    iec(r.min_bytes - s.persistent()), " = ", iec(r.min_bytes))},
      .remat_report = remat_smaller ? passes::explain_remat(chain, smallest) : std::string()};
  return r;
}

// The chain model counts kept activations in f32, so a larger DP budget (less recomputation) may
// fit once they are stored in bf16: the largest such budget by bisection between the f32
// schedule's peak and keeping everything.
bool BudgetPlanner::cheaper_in_bf16(const Search& s, const passes::Chain& chain,
                                    passes::FittedRemat* fit) const {
  const int64_t arena_budget = s.budget() - s.persistent();
  const auto bf16_fit = [&](int64_t dp_budget, passes::FittedRemat* out) {
    const passes::RematSchedule schedule = passes::solve_remat(chain, dp_budget);
    if (!schedule.fits) return false;
    graph::Graph g = passes::store_kept_in_bf16(
        passes::apply_remat(s.train, {.chain = chain, .schedule = schedule}));
    const int64_t arena = arena_of(g);
    if (arena > arena_budget) return false;
    if (schedule.cost < out->schedule.cost) *out = {schedule, std::move(g), arena, out->attempts};
    return true;
  };
  passes::FittedRemat cheaper = *fit;
  int64_t lo = fit->schedule.peak_bytes;
  int64_t hi = fit->schedule.keep_all_peak_bytes;
  const int64_t quantum = std::max<int64_t>(fit->schedule.slot_bytes, 1);
  constexpr int kMaxProbes = 12;  // each probe rewrites and plans the whole graph
  for (int i = 0; i < kMaxProbes && hi - lo > quantum; ++i) {
    const int64_t mid = lo + (hi - lo) / 2;
    (bf16_fit(mid, &cheaper) ? lo : hi) = mid;
  }
  if (cheaper.schedule.cost >= fit->schedule.cost) return false;
  *fit = std::move(cheaper);
  return true;
}

int64_t BudgetPlanner::largest_batch_within(int64_t budget_bytes, int64_t max_batch) {
  LT_CHECK(budget_bytes >= 1, kInvalidArgument, "a memory budget must be >= 1 byte, got ",
           budget_bytes);
  LT_CHECK(max_batch >= 1, kInvalidArgument, "max_batch must be >= 1, got ", max_batch);
  const auto fits = [&](int64_t b) { return plan_for_budget(b, budget_bytes).fits; };
  if (!fits(1)) return 0;
  // Doubling: lo fits; hi (when found) does not.
  int64_t lo = 1, hi = 0;
  while (hi == 0) {
    if (lo == max_batch) return lo;
    const int64_t next = std::min(lo * 2, max_batch);
    if (fits(next)) {
      lo = next;
    } else {
      hi = next;
    }
  }
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (fits(mid)) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

Error BudgetPlanner::out_of_budget(const BatchPlan& plan) {
  const int64_t budget = plan.budget_bytes;
  const int64_t largest =
      plan.batch_size > 1 ? largest_batch_within(budget, plan.batch_size - 1) : 0;
  std::string message = internal::str_cat(
      "memory budget ", iec(budget), ": batch ", plan.batch_size, " needs ", iec(plan.min_bytes),
      " with its smallest plan (persistent ", iec(plan.persistent_bytes), " + arena ",
      iec(plan.min_bytes - plan.persistent_bytes), " ",
      recomputes(plan.plan_kind) ? "with rematerialization"
      : plan.plan_kind == PlanKind::kMicroBatching
          ? internal::str_cat("in ", plan.micro_batches, " micro-batches of ",
                              plan.batch_size / plan.micro_batches, " rows")
          : "keeping everything",
      "); ");
  if (largest > 0) {
    message += internal::str_cat("the largest batch that fits is ", largest,
                                 "; use it, or a budget of at least ", iec(plan.min_bytes));
  } else if (plan.persistent_bytes >= budget) {
    // The budget to name is one that works: what batch 1 needs, not the persistent block alone.
    const int64_t one_bytes =
        plan.batch_size == 1 ? plan.min_bytes : plan_for_budget(1, budget).min_bytes;
    message += internal::str_cat("the ", store_.what(), " alone takes ", iec(plan.persistent_bytes),
                                 ", so no batch fits; use a budget of at least ", iec(one_bytes),
                                 plan.batch_size == 1 ? "" : " (what batch 1 needs)");
  } else if (plan.batch_size == 1) {
    message += internal::str_cat("no batch fits; use a budget of at least ", iec(plan.min_bytes));
  } else {
    const BatchPlan one = plan_for_budget(1, budget);
    message += internal::str_cat("no batch fits (batch 1 needs ", iec(one.min_bytes),
                                 "); use a budget of at least ", iec(one.min_bytes));
  }
  return Error(ErrorCode::kOutOfBudget, message);
}

}  // namespace leantrain::train

#include "leantrain/train/trainer.h"

#include <algorithm>
#include <cmath>

#include "leantrain/core/error.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/passes/passes.h"
#include "leantrain/runtime/program.h"
#include "train/budget_planner.h"
#include "train/initializers.h"
#include "train/micro_batching.h"
#include "train/objective.h"
#include "train/resident_growth.h"
#include "train/step_graph.h"

namespace leantrain::train {

using graph::ValueKind;
using memory::format_iec_bytes;

Trainer::Trainer(nn::Model model, CompileOptions options)
    : model_(std::move(model)),
      options_(std::move(options)),
      store_(std::make_unique<runtime::PersistentStore>(
          std::make_shared<memory::Allocator>(options_.allocator))),
      arena_(std::make_unique<runtime::SharedArena>(store_->allocator())) {
  const ResidentGrowth growth;
  LT_CHECK(model_.inputs().size() == 1 && model_.outputs().size() == 1, kInvalidArgument, "model '",
           model_.name(), "' has ", model_.inputs().size(), " inputs and ", model_.outputs().size(),
           " outputs; training needs one of each");
  LT_CHECK(model_.count_params(true) > 0, kInvalidArgument, "model '", model_.name(),
           "' has no trainable variables");
  LT_CHECK(options_.optimizer.learning_rate > 0, kInvalidArgument,
           "learning_rate must be positive, got ", options_.optimizer.learning_rate);
  LT_CHECK(options_.micro_batches >= 0, kInvalidArgument,
           "micro_batches must be >= 1 (or kAutoMicroBatches, 0), got ", options_.micro_batches);
  input_name_ = model_.inputs()[0].call().layer->name();
  objective_ = std::make_unique<Objective>(
      resolve_objective(options_.loss, options_.metrics, model_.output_shape()));
  learning_rate_ = options_.optimizer.learning_rate;
  // Gradients outlive the step only when they accumulate over micro-steps or are asked for.
  const bool step_local_gradients =
      !options_.keep_gradients &&
      (options_.micro_batches == 1 ||
       (options_.micro_batches == kAutoMicroBatches && options_.memory_budget_bytes <= 0));
  graphs_ = std::make_unique<StepGraphs>(model_, options_, step_local_gradients);
  planner_ = std::make_unique<BudgetPlanner>(*graphs_, *store_);
  micro_ = std::make_unique<MicroBatcher>(*graphs_, *store_, *arena_, *objective_, input_name_);
  // Every persistent tensor the training graph uses, declared from a graph of batch 1 (without
  // the gradients when finish_training_graph makes them step-local).
  const graph::Graph g = graphs_->build(1, StepMode::kTrain);
  for (const graph::Value& v : g.values()) {
    if (!graph::is_persistent(v.kind)) continue;
    if (step_local_gradients && v.kind == ValueKind::kGradient) continue;
    store_->declare(v.name, v.spec, v.kind);
  }
  store_->allocate();
  initialize_variables(model_, *store_, options_.seed);
  runtime_bytes_ += growth.beyond_our_blocks();
}

Trainer::~Trainer() = default;

runtime::Program& Trainer::program(StepMode mode, int64_t batch_size) {
  auto& p = programs_[{mode, batch_size}];
  if (p) return *p;
  const ResidentGrowth growth;
  const int64_t budget = options_.memory_budget_bytes;
  graph::Graph g;
  BatchPlan chosen;
  if (mode == StepMode::kTrain && budget > 0) {
    chosen = planner_->choose(batch_size, budget, &g);
    if (!chosen.fits) throw planner_->out_of_budget(chosen);
    LT_CHECK(chosen.micro_batches == 1, kInternal, "batch ", batch_size,
             " trains in micro-batches: its steps go through training_program()");
  } else {
    g = graphs_->build(batch_size, mode);
    if (mode == StepMode::kTrain && options_.bf16_storage) g = passes::store_kept_in_bf16(g);
    if (budget > 0) {
      // Every program shares the arena: each must fit beside the persistent block.
      const std::optional<int64_t> planned = planner_->eval_arena_bytes(batch_size);
      const int64_t arena = mode == StepMode::kEval && planned.has_value()
                                ? *planned
                                : runtime::planned_arena_bytes(g, options_.kernels);
      const int64_t need = store_->total_bytes() + arena;
      LT_CHECK(need <= budget, kOutOfBudget, "memory budget ", format_iec_bytes(budget), ": the ",
               step_name(mode), " step for batch ", batch_size, " needs ", format_iec_bytes(need),
               " (persistent ", format_iec_bytes(store_->total_bytes()), " + arena ",
               format_iec_bytes(arena), "); use a smaller batch size or a budget of at least ",
               format_iec_bytes(need));
    }
  }
  if (mode == StepMode::kTrain) graphs_->finish_training_graph(g);
  p = std::make_unique<runtime::Program>(std::move(g), *store_, *arena_, options_.kernels);
  if (mode == StepMode::kTrain) {
    if (budget > 0) {
      LT_CHECK(p->arena_bytes() == chosen.train_arena_bytes, kInternal,
               "the training program for batch ", batch_size, " planned an arena of ",
               p->arena_bytes(), " bytes, but its dry run planned ", chosen.train_arena_bytes);
    } else {
      chosen.batch_size = batch_size;
      chosen.fits = true;
      chosen.plan_kind = options_.bf16_storage ? PlanKind::kBf16Storage : PlanKind::kKeepAll;
      chosen.persistent_bytes = store_->total_bytes();
      chosen.train_arena_bytes = chosen.keep_all_train_arena_bytes = p->arena_bytes();
      chosen.explanation.summary = {
          options_.bf16_storage
              ? "bf16 storage: every activation the backward reads is kept, the large ones in "
                "bf16 between their forward and backward uses (no memory budget)"
              : "keep all: every activation the backward reads is kept (no memory budget)"};
    }
    training_plans_[batch_size] = chosen;
  }
  runtime_bytes_ += growth.beyond_our_blocks();
  return *p;
}

BatchPlan Trainer::plan_for_budget(int64_t batch_size, int64_t budget_bytes) {
  return planner_->plan_for_budget(batch_size, budget_bytes);
}

int64_t Trainer::largest_batch_within(int64_t budget_bytes, int64_t max_batch) {
  return planner_->largest_batch_within(budget_bytes, max_batch);
}

int64_t Trainer::find_batch_size(int64_t max_batch) {
  const int64_t budget = options_.memory_budget_bytes;
  LT_CHECK(budget > 0, kInvalidArgument,
           "find_batch_size needs a memory budget: set CompileOptions::memory_budget_bytes");
  const int64_t b = largest_batch_within(budget, max_batch);
  if (b == 0) throw planner_->out_of_budget(plan_for_budget(1, budget));
  return b;
}

int Trainer::micro_batches_for(int64_t batch_rows) {
  if (options_.micro_batches != kAutoMicroBatches) return options_.micro_batches;
  if (options_.memory_budget_bytes <= 0) return 1;
  // Asked on every step: the compiled batch's plan, without copying it.
  if (auto it = training_plans_.find(batch_rows); it != training_plans_.end()) {
    return it->second.micro_batches;
  }
  const BatchPlan plan = plan_for_budget(batch_rows, options_.memory_budget_bytes);
  if (!plan.fits) throw planner_->out_of_budget(plan);
  return plan.micro_batches;
}

void Trainer::check_micro_batch_size(int64_t batch_size) const {
  const int k = options_.micro_batches;
  LT_CHECK(batch_size % k == 0, kInvalidArgument, "batch_size ", batch_size,
           " is not a multiple of micro_batches ", k, "; use a batch size of ",
           std::max<int64_t>(k, batch_size / k * k), " or ", (batch_size / k + 1) * k,
           ", or micro_batches dividing ", batch_size);
}

void Trainer::compile_micro_step(int64_t batch_rows) {
  const int k = micro_batches_for(batch_rows);
  for (const int64_t rows : micro_split(batch_rows, k)) micro_->program(rows, batch_rows, k);
  micro_->update_program();
  if (training_plans_.contains(batch_rows)) return;
  const int64_t first_rows = micro_split(batch_rows, k)[0];
  const runtime::Program& p = micro_->program(first_rows, batch_rows, k);
  BatchPlan chosen;
  if (options_.micro_batches == kAutoMicroBatches) {
    chosen = plan_for_budget(batch_rows, options_.memory_budget_bytes);
    LT_CHECK(p.arena_bytes() == chosen.train_arena_bytes, kInternal, "the micro-batch program for ",
             batch_rows, " rows planned an arena of ", p.arena_bytes(),
             " bytes, but its dry run planned ", chosen.train_arena_bytes);
  } else {
    chosen.batch_size = batch_rows;
    chosen.budget_bytes = options_.memory_budget_bytes;
    chosen.fits = true;
    chosen.plan_kind = PlanKind::kKeepAll;
    chosen.micro_batches = k;
    chosen.persistent_bytes = store_->total_bytes();
    chosen.train_arena_bytes = chosen.keep_all_train_arena_bytes = p.arena_bytes();
    chosen.explanation.summary = {
        internal::str_cat("micro-batching: ", k, " micro-batches of ", first_rows,
                          batch_rows % k == 0 ? "" : " (the last one smaller)",
                          "; batch-norm statistics are computed per micro-batch"),
        "keep all: every activation the backward of a micro-batch reads is kept; gradients are "
        "accumulated over the micro-batches, then one optimizer update"};
  }
  training_plans_[batch_rows] = chosen;
}

runtime::Program& Trainer::training_program(int64_t batch_size) {
  LT_CHECK(batch_size >= 1, kInvalidArgument, "batch_size must be >= 1, got ", batch_size);
  if (const int k = micro_batches_for(batch_size); k > 1) {
    if (options_.micro_batches > 1) check_micro_batch_size(batch_size);
    compile_micro_step(batch_size);
    return micro_->program(micro_split(batch_size, k)[0], batch_size, k);
  }
  return program(StepMode::kTrain, batch_size);
}
runtime::Program& Trainer::update_program() { return micro_->update_program(); }
runtime::Program& Trainer::evaluation_program(int64_t batch_size) {
  return program(StepMode::kEval, batch_size);
}

runtime::PersistentStore& Trainer::store() { return *store_; }
const runtime::PersistentStore& Trainer::store() const { return *store_; }
const runtime::SharedArena& Trainer::arena() const { return *arena_; }

void Trainer::set_learning_rate(double learning_rate) {
  LT_CHECK(learning_rate >= 0 && std::isfinite(learning_rate), kInvalidArgument,
           "learning_rate must be finite and >= 0, got ", learning_rate);
  learning_rate_ = learning_rate;
}

}  // namespace leantrain::train

// What a run's memory will be before its first step: MemoryReport, Trainer::plan and
// Trainer::layer_memory.
#include "leantrain/train/memory_report.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "leantrain/core/error.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/memory_profile.h"
#include "leantrain/train/trainer.h"
#include "train/micro_batching.h"
#include "train/step_graph.h"

namespace leantrain::train {
namespace {

using graph::ValueId;
using graph::ValueKind;

// Bytes of the forward tensors `p` keeps for its backward pass.
int64_t kept_for_backward_bytes(const runtime::Program& p) {
  int64_t total = 0;
  for (const ValueId v : kept_for_backward(p.graph(), p.plan())) {
    total += p.graph().value(v).spec.bytes();
  }
  return total;
}

// A report of `batch_size` with the persistent block's figures filled in from `store`.
MemoryReport persistent_report(int64_t batch_size, const runtime::PersistentStore& store,
                               bool step_local_gradients) {
  MemoryReport r;
  r.batch_size = batch_size;
  r.parameters_bytes = store.bytes_of(ValueKind::kParameter);
  r.state_bytes = store.bytes_of(ValueKind::kState);
  r.gradients_bytes = store.bytes_of(ValueKind::kGradient);
  r.step_local_gradients = step_local_gradients;
  r.optimizer_bytes = store.bytes_of(ValueKind::kOptimizerState);
  r.persistent_bytes = store.total_bytes();
  return r;
}

std::string line(const char* label, int64_t bytes) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "  %-34s %14s  (%lld bytes)\n", label,
                memory::readable_bytes(bytes).c_str(), static_cast<long long>(bytes));
  return buf;
}

}  // namespace

std::string MemoryReport::to_string() const {
  std::string out = "Memory plan (batch " + std::to_string(batch_size) + "):\n";
  out += line("parameters (trainable)", parameters_bytes);
  out += line("non-trainable state", state_bytes);
  out += step_local_gradients
             ? "  gradients: step-local, in the training arena from their producer to their "
               "parameter's update\n"
             : line("gradients", gradients_bytes);
  out += line("optimizer state", optimizer_bytes);
  out += line("persistent block (64-B aligned)", persistent_bytes);
  out += line("arena: training step", train_arena_bytes);
  out += line("  of which kernel scratch (max)", scratch_bytes);
  out += line("  kept for backward", kept_for_backward_bytes);
  out += line("arena: evaluation step", eval_arena_bytes);
  out += line("arena (shared)", arena_bytes);
  out += line("input pipeline", pipeline_bytes);
  if (micro_batches > 1) out += line("micro-batch staging (host)", staging_bytes);
  out += line("programs and kernels (measured)", runtime_bytes);
  out += line("predicted peak", predicted_peak_bytes);
  char buf[160];
  std::snprintf(
      buf, sizeof buf, "  step buffers without reuse would take %s: the arena is %.2fx smaller\n",
      memory::readable_bytes(step_buffers_bytes).c_str(),
      train_arena_bytes > 0
          ? static_cast<double>(step_buffers_bytes) / static_cast<double>(train_arena_bytes)
          : 0.0);
  out += buf;
  if (memory_budget_bytes > 0) {
    std::snprintf(buf, sizeof buf, "  plan: %s (memory budget %s", plan_kind_name(plan_kind),
                  memory::format_iec_bytes(memory_budget_bytes).c_str());
  } else {
    std::snprintf(buf, sizeof buf, "  plan: %s (no memory budget", plan_kind_name(plan_kind));
  }
  out += buf;
  if (recomputes(plan_kind)) {
    std::snprintf(buf, sizeof buf, "; %d stages recomputed, extra compute %.1f%%",
                  recomputed_stages, 100.0 * extra_compute_fraction);
    out += buf;
  }
  out += ")\n";
  if (plan_kind != PlanKind::kKeepAll || micro_batches > 1) out += plan_explanation.to_string();
  return out;
}

MemoryReport Trainer::plan(int64_t batch_size, int64_t train_count, int64_t validation_count) {
  LT_CHECK(batch_size > 0, kInvalidArgument, "batch_size must be positive, got ", batch_size);
  const int k = micro_batches_for(batch_size);
  runtime::Program& train = training_program(batch_size);
  // Under micro-batching fit() evaluates validation images in batches of the micro-batch's size.
  const int64_t eval_batch = batch_size / k;
  runtime::Program& eval = evaluation_program(eval_batch);
  // The programs of the last, smaller batches: compiled now so that their memory is counted.
  if (train_count % batch_size != 0) {
    if (micro_batches_for(train_count % batch_size) > 1) {
      compile_micro_step(train_count % batch_size);
    } else {
      training_program(train_count % batch_size);
    }
  }
  if (validation_count % eval_batch != 0) evaluation_program(validation_count % eval_batch);
  MemoryReport r = persistent_report(batch_size, *store_, graphs_->step_local_gradients());
  r.train_arena_bytes = train.arena_bytes();
  r.eval_arena_bytes = eval.arena_bytes();
  r.arena_bytes = std::max(r.train_arena_bytes, r.eval_arena_bytes);
  for (graph::NodeId n = 0; n < train.graph().num_nodes(); ++n) {
    r.scratch_bytes = std::max(r.scratch_bytes, train.scratch_bytes(n));
  }
  r.step_buffers_bytes = train.plan().sum_of_buffers_bytes();
  r.kept_for_backward_bytes = kept_for_backward_bytes(train);
  r.pipeline_bytes =
      data::Batcher::bytes_for(train_count) + data::Batcher::bytes_for(validation_count);
  r.micro_batches = k;
  if (k > 1) r.staging_bytes = staging_bytes(model_.input_shape(), batch_size);
  r.runtime_bytes = runtime_bytes_ + micro_->runtime_bytes();
  r.predicted_peak_bytes =
      r.persistent_bytes + r.arena_bytes + r.pipeline_bytes + r.staging_bytes + r.runtime_bytes;
  const BatchPlan& chosen = training_plans_.at(batch_size);
  r.memory_budget_bytes = options_.memory_budget_bytes;
  r.plan_kind = chosen.plan_kind;
  r.extra_compute_fraction = chosen.extra_compute_fraction;
  r.recomputed_stages = chosen.recomputed_stages;
  r.plan_explanation = chosen.explanation;
  return r;
}

MemoryReport Trainer::plan(const data::Dataset& train, const data::Dataset* validation) {
  const std::optional<int64_t> b = train.batch_size();
  LT_CHECK(b.has_value(), kInvalidArgument,
           "plan: the dataset must yield batches (batch(batch_size), optionally followed by "
           "prefetch, repeat, take, map, ...); it is ",
           train.describe());
  MemoryReport r = plan(*b);
  const int64_t train_bytes = train.max_buffered_bytes();
  const int64_t validation_bytes = validation != nullptr ? validation->max_buffered_bytes() : 0;
  r.pipeline_bytes = train_bytes < 0 || validation_bytes < 0 ? -1 : train_bytes + validation_bytes;
  r.predicted_peak_bytes = r.persistent_bytes + r.arena_bytes +
                           std::max<int64_t>(r.pipeline_bytes, 0) + r.staging_bytes +
                           r.runtime_bytes;
  return r;
}

MemoryReport Trainer::plan(Inference step, int64_t batch_size, int64_t count) {
  LT_CHECK(batch_size > 0, kInvalidArgument, "batch_size must be positive, got ", batch_size);
  LT_CHECK(count >= 0, kInvalidArgument, "the image count must be >= 0, got ", count);
  const StepMode mode = step == Inference::kEvaluate ? StepMode::kEval : StepMode::kPredict;
  const runtime::Program& p = program(mode, batch_size);
  if (count % batch_size != 0) program(mode, count % batch_size);
  MemoryReport r = persistent_report(batch_size, *store_, graphs_->step_local_gradients());
  r.eval_arena_bytes = p.arena_bytes();
  r.arena_bytes = std::max(r.eval_arena_bytes, arena_->bytes());
  r.pipeline_bytes = data::Batcher::bytes_for(count);
  r.runtime_bytes = runtime_bytes_ + micro_->runtime_bytes();
  r.predicted_peak_bytes = r.persistent_bytes + r.arena_bytes + r.pipeline_bytes + r.runtime_bytes;
  r.memory_budget_bytes = options_.memory_budget_bytes;
  r.plan_explanation.summary = {internal::str_cat(
      step_name(mode), " only: no backward pass, so nothing is kept for one (batch ", batch_size,
      ")")};
  return r;
}

MemoryReport Trainer::plan(Inference step, const data::Dataset& data) {
  const std::optional<int64_t> b = data.batch_size();
  LT_CHECK(b.has_value(), kInvalidArgument,
           "plan: the dataset must yield batches (batch(batch_size), optionally followed by "
           "prefetch, repeat, take, map, ...); it is ",
           data.describe());
  MemoryReport r = plan(step, *b);
  r.pipeline_bytes = data.max_buffered_bytes();
  r.predicted_peak_bytes =
      r.persistent_bytes + r.arena_bytes + std::max<int64_t>(r.pipeline_bytes, 0) + r.runtime_bytes;
  return r;
}

std::map<std::string, nn::LayerMemory> Trainer::layer_memory(int64_t batch_size) {
  const MemoryReport report = plan(batch_size);
  runtime::Program& p = training_program(batch_size);
  const graph::Graph& g = p.graph();
  const graph::GraphMemoryPlan& plan = p.plan();
  std::map<std::string, nn::LayerMemory> out;

  for (const ValueId v : kept_for_backward(g, plan)) {
    const graph::Value& value = g.value(v);
    if (!value.layer.empty()) out[value.layer].kept_for_backward_bytes += value.spec.bytes();
  }

  // Share of the peak: the slots live at the step where the arena's live bytes peak, each
  // counted for the layer of a value (or scratch) live in it then, plus the layer's
  // persistent tensors.
  const std::vector<memory::Buffer>& slots = plan.slots.slots;
  int32_t steps = 0;
  for (const memory::Buffer& b : slots) steps = std::max(steps, b.last_step + 1);
  std::vector<int64_t> live(static_cast<size_t>(steps), 0);
  for (const memory::Buffer& b : slots) {
    for (int32_t s = b.first_step; s <= b.last_step; ++s) live[static_cast<size_t>(s)] += b.bytes;
  }
  const int32_t peak_step =
      static_cast<int32_t>(std::max_element(live.begin(), live.end()) - live.begin());
  std::map<int32_t, std::string> layer_of_buffer;
  for (ValueId v = 0; v < g.num_values(); ++v) {
    const int32_t b = plan.buffer_of_value[static_cast<size_t>(v)];
    if (b >= 0) layer_of_buffer.emplace(b, g.value(v).layer);
  }
  for (graph::NodeId n = 0; n < g.num_nodes(); ++n) {
    const int32_t b = plan.scratch_buffer_of_node[static_cast<size_t>(n)];
    if (b >= 0) layer_of_buffer.emplace(b, g.node(n).layer);
  }
  std::map<std::string, int64_t> at_peak;
  std::set<int32_t> counted_slots;
  for (size_t b = 0; b < plan.buffers.size(); ++b) {
    const memory::Buffer& buf = plan.buffers[b];
    if (buf.first_step > peak_step || buf.last_step < peak_step) continue;
    const int32_t slot = plan.slots.slot_of[b];
    if (!counted_slots.insert(slot).second) continue;
    auto it = layer_of_buffer.find(static_cast<int32_t>(b));
    if (it != layer_of_buffer.end() && !it->second.empty()) {
      at_peak[it->second] += slots[static_cast<size_t>(slot)].bytes;
    }
  }
  for (const graph::Value& v : g.values()) {
    if (graph::is_persistent(v.kind) && !v.layer.empty()) at_peak[v.layer] += v.spec.bytes();
  }
  for (const auto& [layer, bytes] : at_peak) {
    out[layer].share_of_peak =
        static_cast<double>(bytes) /
        static_cast<double>(report.predicted_peak_bytes - report.runtime_bytes);
  }
  return out;
}

}  // namespace leantrain::train

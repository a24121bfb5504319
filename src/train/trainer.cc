#include "leantrain/train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <set>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "leantrain/data/batcher.h"
#include "leantrain/graph/autodiff.h"
#include "leantrain/graph/remat.h"
#include "leantrain/graph/step_local_gradients.h"
#include "leantrain/memory/arena.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/memory/process_memory.h"
#include "leantrain/nn/serialization.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/memory_profile.h"
#include "leantrain/train/safetensors.h"
#include "ops/ops.h"
#include "train/bf16_storage.h"
#include "train/objective.h"
#include "train/progress.h"

namespace leantrain::train {
namespace {

using graph::ValueId;
using graph::ValueKind;

// Keras' truncated-normal initializers divide the standard deviation by this to make the
// variance of the truncated distribution match.
constexpr double kTruncatedStddevCorrection = 0.87962566103423978;

void initialize(const nn::Variable& v, float* data, uint64_t seed) {
  const int64_t n = v.shape.num_elements();
  Rng rng(seed);
  const std::string& init = v.initializer;
  const double fan_in = static_cast<double>(std::max<int64_t>(v.fan_in, 1));
  const double fan_out = static_cast<double>(std::max<int64_t>(v.fan_out, 1));
  auto uniform = [&](double limit) {
    for (int64_t i = 0; i < n; ++i)
      data[i] = rng.uniform(static_cast<float>(-limit), static_cast<float>(limit));
  };
  auto truncated = [&](double stddev) {
    const double s = stddev / kTruncatedStddevCorrection;
    for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(s * rng.truncated_normal());
  };
  if (init == "zeros") {
    std::fill(data, data + n, 0.0f);
  } else if (init == "ones") {
    std::fill(data, data + n, 1.0f);
  } else if (init == "glorot_uniform") {
    uniform(std::sqrt(6.0 / (fan_in + fan_out)));
  } else if (init == "glorot_normal") {
    truncated(std::sqrt(2.0 / (fan_in + fan_out)));
  } else if (init == "he_uniform") {
    uniform(std::sqrt(6.0 / fan_in));
  } else if (init == "he_normal") {
    truncated(std::sqrt(2.0 / fan_in));
  } else if (init == "lecun_uniform") {
    uniform(std::sqrt(3.0 / fan_in));
  } else if (init == "lecun_normal") {
    truncated(std::sqrt(1.0 / fan_in));
  } else if (nn::VarianceScaling vs; nn::parse_variance_scaling(init, &vs)) {
    const double fan = vs.mode == "fan_in"    ? fan_in
                       : vs.mode == "fan_out" ? fan_out
                                              : (fan_in + fan_out) / 2;
    const double s = vs.scale / std::max(1.0, fan);
    if (vs.distribution == "uniform") {
      uniform(std::sqrt(3.0 * s));
    } else if (vs.distribution == "truncated_normal") {
      truncated(std::sqrt(s));
    } else {
      for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(std::sqrt(s) * rng.normal());
    }
  } else {
    throw Error(ErrorCode::kUnimplemented,
                "initializer '" + init +
                    "' is not supported; use glorot_uniform, glorot_normal, he_uniform, "
                    "he_normal, lecun_uniform, lecun_normal, zeros or ones");
  }
}

// Bytes of the forward tensors `p` keeps for its backward pass.
int64_t kept_for_backward_bytes(const runtime::Program& p) {
  int64_t total = 0;
  for (const ValueId v : kept_for_backward(p.graph(), p.plan())) {
    total += p.graph().value(v).spec.bytes();
  }
  return total;
}

std::string line(const char* label, int64_t bytes) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "  %-34s %14s  (%lld bytes)\n", label,
                memory::readable_bytes(bytes).c_str(), static_cast<long long>(bytes));
  return buf;
}

}  // namespace

std::string Optimizer::name() const {
  switch (kind) {
    case Kind::kSgd:
      return "SGD";
    case Kind::kAdam:
      return "Adam";
    case Kind::kAdamW:
      return "AdamW";
  }
  return "?";
}

Optimizer SGD(const SGDOptions& o) {
  return {.kind = Optimizer::Kind::kSgd,
          .learning_rate = o.learning_rate,
          .momentum = o.momentum,
          .nesterov = o.nesterov};
}

Optimizer Adam(const AdamOptions& o) {
  return {.kind = Optimizer::Kind::kAdam,
          .learning_rate = o.learning_rate,
          .beta_1 = o.beta_1,
          .beta_2 = o.beta_2,
          .epsilon = o.epsilon};
}

Optimizer AdamW(const AdamWOptions& o) {
  return {.kind = Optimizer::Kind::kAdamW,
          .learning_rate = o.learning_rate,
          .beta_1 = o.beta_1,
          .beta_2 = o.beta_2,
          .epsilon = o.epsilon,
          .weight_decay = o.weight_decay};
}

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

std::string Loss::name() const {
  switch (kind) {
    case Kind::kSparseCategoricalCrossentropy:
      return "sparse_categorical_crossentropy";
    case Kind::kCategoricalCrossentropy:
      return "categorical_crossentropy";
    case Kind::kBinaryCrossentropy:
      return "binary_crossentropy";
    case Kind::kMeanSquaredError:
      return "mean_squared_error";
  }
  return "?";
}

Loss Loss::parse(const std::string& name, bool from_logits) {
  if (name == "sparse_categorical_crossentropy") {
    return SparseCategoricalCrossentropy({.from_logits = from_logits});
  }
  if (name == "categorical_crossentropy") {
    return CategoricalCrossentropy({.from_logits = from_logits});
  }
  if (name == "binary_crossentropy") return BinaryCrossentropy({.from_logits = from_logits});
  if (name == "mean_squared_error" || name == "mse") return MeanSquaredError();
  throw Error(ErrorCode::kInvalidArgument,
              "unknown loss '" + name +
                  "'; supported: sparse_categorical_crossentropy, categorical_crossentropy, "
                  "binary_crossentropy, mean_squared_error");
}

Loss SparseCategoricalCrossentropy(const LossOptions& o) {
  return {Loss::Kind::kSparseCategoricalCrossentropy, o.from_logits};
}
Loss CategoricalCrossentropy(const LossOptions& o) {
  return {Loss::Kind::kCategoricalCrossentropy, o.from_logits};
}
Loss BinaryCrossentropy(const LossOptions& o) {
  return {Loss::Kind::kBinaryCrossentropy, o.from_logits};
}
Loss MeanSquaredError() { return {Loss::Kind::kMeanSquaredError, false}; }

double EpochLogs::get(const std::string& key) const {
  auto it = logs.find(key);
  return it == logs.end() ? std::nan("") : it->second;
}

namespace {

// kMicro: forward, loss and backward without the update (micro-batching builds on it).
enum Mode { kTrain = 0, kEval = 1, kPredict = 2, kCalibrate = 3, kMicro = 4 };

// Resident bytes gained since construction that are not pages of our allocator's blocks (the
// persistent block and arenas): heap and generated code.
class ResidentGrowth {
 public:
  ResidentGrowth()
      : rss_(memory::current_rss_bytes()), committed_(memory::memory_stats().current_bytes) {}
  int64_t beyond_our_blocks() const {
    const int64_t rss = memory::current_rss_bytes() - rss_;
    const int64_t ours = memory::memory_stats().current_bytes - committed_;
    return std::max<int64_t>(0, rss - ours);
  }

 private:
  int64_t rss_, committed_;
};

// The one value a prediction graph's host reads.
ValueId the_output(const graph::Graph& g) {
  for (ValueId v = 0; v < g.num_values(); ++v) {
    if (g.value(v).is_output) return v;
  }
  throw Error(ErrorCode::kInternal, "a prediction graph has no output");
}

}  // namespace

// Batches for the Trainer's loops: from images (a Batcher: sizes known up front) or from a
// Dataset (rows known once a batch is written).
class BatchSource {
 public:
  // Where a batch of `rows` goes: the program's input and a label buffer of `rows` i32.
  struct Slots {
    float* images;
    int32_t* labels;
  };
  using SlotsFor = std::function<Slots(int64_t rows)>;

  virtual ~BatchSource() = default;
  virtual int64_t batch_size() const = 0;
  // Batches per epoch, or -1 when unknown.
  virtual int64_t num_batches() const = 0;
  // Batch sizes every epoch uses, for compiling before the first step.
  virtual std::vector<int64_t> known_batch_sizes() const = 0;
  virtual void start_epoch(int64_t epoch) = 0;
  // Writes the next batch into slots_for(rows) and returns rows; 0 at the end. slots_for may be
  // called more than once; the last call names where the batch is.
  virtual int64_t next(const SlotsFor& slots_for) = 0;
  // Elements the epoch's pipeline skipped (OnError::kSkip) and the first reasons.
  virtual data::PipelineStats epoch_stats() const { return {}; }
};

namespace {

class ImageBatches final : public BatchSource {
 public:
  ImageBatches(const data::LabeledImages& images, int64_t batch_size, bool shuffle, uint64_t seed)
      : owned_(std::in_place, images, batch_size, shuffle, seed), batcher_(*owned_) {}
  // `other`'s images and batch size in an order of their own, always shuffled with `seed`,
  // through other's Batcher (no second epoch order held): for batch-norm calibration between
  // epochs, since other's next start_epoch restores its own order.
  ImageBatches(ImageBatches& other, uint64_t seed) : batcher_(other.batcher_), seed_(seed) {}
  int64_t batch_size() const override { return batcher_.batch_size(); }
  int64_t num_batches() const override { return batcher_.num_batches(); }
  std::vector<int64_t> known_batch_sizes() const override {
    std::vector<int64_t> sizes{batcher_.batch_size()};
    if (batcher_.count() % batcher_.batch_size() != 0) {
      sizes.push_back(batcher_.count() % batcher_.batch_size());
    }
    return sizes;
  }
  void start_epoch(int64_t epoch) override {
    if (seed_.has_value()) {
      batcher_.start_epoch(epoch, *seed_);
    } else {
      batcher_.start_epoch(epoch);
    }
    next_ = 0;
  }
  int64_t next(const SlotsFor& slots_for) override {
    if (next_ == batcher_.num_batches()) return 0;
    const Slots slots = slots_for(batcher_.batch_count(next_));
    return batcher_.fill(next_++, slots.images, slots.labels);
  }

 private:
  std::optional<data::Batcher> owned_;
  data::Batcher& batcher_;
  std::optional<uint64_t> seed_;  // set: an order of its own (see the borrowing constructor)
  int64_t next_ = 0;
};

class DatasetBatches final : public BatchSource {
 public:
  // `dataset` must end in batch(B); `image_shape` is the model's input (without the batch).
  DatasetBatches(const data::Dataset& dataset, Shape image_shape)
      : dataset_(dataset), image_shape_(std::move(image_shape)) {
    const std::optional<int64_t> b = dataset.batch_size();
    LT_CHECK(b.has_value(), kInvalidArgument,
             "the dataset must yield batches (batch(batch_size), optionally followed by "
             "prefetch, repeat, take, map, ...), whose rows are written into the step's input; "
             "it is ",
             dataset.describe());
    batch_size_ = *b;
  }
  int64_t batch_size() const override { return batch_size_; }
  int64_t num_batches() const override {
    const int64_t c = dataset_.cardinality();
    return c >= 0 ? c : -1;
  }
  std::vector<int64_t> known_batch_sizes() const override { return {batch_size_}; }
  void start_epoch(int64_t epoch) override { iterator_.emplace(dataset_.iterate(epoch)); }
  int64_t next(const SlotsFor& slots_for) override {
    Slots slots = slots_for(batch_size_);
    const int64_t rows = iterator_->next_batch_into(destination(slots, batch_size_));
    if (rows == 0 || rows == batch_size_) return rows;
    // A last, smaller batch: into the program compiled for its size, through a copy (the
    // programs share the arena, so their input slots may overlap).
    const int64_t image_elements = rows * image_shape_.num_elements();
    std::vector<float> images(slots.images, slots.images + image_elements);
    std::vector<int32_t> labels(slots.labels, slots.labels + rows);
    slots = slots_for(rows);
    std::copy(images.begin(), images.end(), slots.images);
    std::copy(labels.begin(), labels.end(), slots.labels);
    return rows;
  }
  data::PipelineStats epoch_stats() const override {
    return iterator_.has_value() ? iterator_->stats() : data::PipelineStats{};
  }

 private:
  data::BatchDestination destination(const Slots& slots, int64_t rows) const {
    std::vector<int64_t> dims{rows};
    for (int i = 0; i < image_shape_.rank(); ++i) dims.push_back(image_shape_[i]);
    return {{"image", TensorView(slots.images, Shape(dims))},
            {"label", TensorView(slots.labels, Shape{rows})}};
  }

  data::Dataset dataset_;
  Shape image_shape_;
  int64_t batch_size_ = 0;
  std::optional<data::Iterator> iterator_;
};

}  // namespace

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
  step_local_gradients_ =
      !options_.keep_gradients &&
      (options_.micro_batches == 1 ||
       (options_.micro_batches == kAutoMicroBatches && options_.memory_budget_bytes <= 0));
  // Every persistent tensor the training graph uses, declared from a graph of batch 1 (without
  // the gradients when finish_training_graph makes them step-local).
  const graph::Graph g = build_graph(1, kTrain);
  for (const graph::Value& v : g.values()) {
    if (!graph::is_persistent(v.kind)) continue;
    if (step_local_gradients_ && v.kind == ValueKind::kGradient) continue;
    store_->declare(v.name, v.spec, v.kind);
  }
  store_->allocate();
  initialize_variables();
  runtime_bytes_ += growth.beyond_our_blocks();
}

Trainer::~Trainer() = default;

void Trainer::initialize_variables() {
  const std::vector<nn::ModelVariable> vars = model_.variables();
  for (size_t i = 0; i < vars.size(); ++i) {
    const TensorView view = store_->view(vars[i].full_name());
    initialize(vars[i].variable, view.f32(), mix64(options_.seed ^ mix64(i + 1)));
  }
}

graph::Graph Trainer::build_graph(int64_t batch_size, int mode) const {
  graph::Graph g;
  const nn::BuiltModel built =
      model_.build(g, batch_size, mode == kTrain || mode == kMicro || mode == kCalibrate);
  const ValueId output = built.outputs[0];
  if (mode == kCalibrate) {
    // The training-mode forward pass only: every batch-norm node's batch statistics are read.
    for (const graph::Node& node : g.nodes()) {
      if (node.op->type() != "BatchNormalization") continue;
      g.value(node.outputs[1]).is_output = true;
      g.value(node.outputs[2]).is_output = true;
    }
    g.value(output).is_output = true;
    return g;
  }
  if (mode == kPredict) {
    g.value(output).is_output = true;
    return g;
  }
  std::vector<std::pair<ValueId, float>> l2;
  for (const nn::ModelVariable& v : model_.variables()) {
    if (v.variable.l2 != 0.0f) l2.push_back({g.find(v.full_name()), v.variable.l2});
  }
  const ValueId loss = add_objective(g, output, options_.loss, options_.metrics, l2);
  if (mode != kTrain && mode != kMicro) return g;

  const std::map<ValueId, ValueId> grads = graph::add_backward(g, loss, ops::add(), ops::copy());
  if (mode == kMicro) return g;
  const Optimizer& opt = options_.optimizer;
  for (const auto& [param, grad] : grads) {
    const std::string name = g.value(param).name;
    const graph::TensorSpec spec = g.value(param).spec;
    const std::string layer = g.value(param).layer;
    std::vector<ValueId> in{param, grad};
    ops::OpPtr op;
    if (opt.kind == Optimizer::Kind::kSgd) {
      if (opt.momentum > 0) {
        in.push_back(g.add_value(name + "/momentum", spec, ValueKind::kOptimizerState, layer));
      }
      op = ops::sgd_update(opt.momentum, opt.nesterov);
    } else {
      in.push_back(g.add_value(name + "/m", spec, ValueKind::kOptimizerState, layer));
      in.push_back(g.add_value(name + "/v", spec, ValueKind::kOptimizerState, layer));
      op = ops::adam_update(opt.beta_1, opt.beta_2, opt.epsilon,
                            opt.kind == Optimizer::Kind::kAdamW ? opt.weight_decay : 0.0f);
    }
    g.add_node(op, in, name + "/update", graph::Phase::kUpdate, layer);
  }
  return g;
}

void Trainer::finish_training_graph(graph::Graph& g) const {
  if (!step_local_gradients_) return;
  graph::make_gradients_step_local(g);
  for (const graph::Value& v : g.values()) {
    LT_CHECK(v.kind != ValueKind::kGradient, kInternal, "the gradient '", v.name,
             "' is read by more than its parameter's update: it cannot be step-local");
  }
}

int64_t Trainer::planned_arena_bytes(const graph::Graph& g) const {
  if (!step_local_gradients_) return runtime::planned_arena_bytes(g, options_.kernels);
  graph::Graph finished = g;
  finish_training_graph(finished);
  return runtime::planned_arena_bytes(finished, options_.kernels);
}

namespace {

const char* step_name(int mode) {
  switch (mode) {
    case kTrain:
      return "training";
    case kEval:
      return "evaluation";
    case kPredict:
      return "prediction";
    default:
      return "batch-norm calibration";
  }
}

// "12.00 MiB": bytes as parse_bytes reads them back (what --memory-budget accepts).
std::string iec(int64_t bytes) { return memory::format_iec_bytes(bytes); }

int32_t count_recomputed(const graph::RematSchedule& s) {
  return static_cast<int32_t>(
      std::count_if(s.forward_runs.begin(), s.forward_runs.end(), [](int32_t r) { return r > 1; }));
}

}  // namespace

runtime::Program& Trainer::program(int mode, int64_t batch_size) {
  auto& p = programs_[{mode, batch_size}];
  if (p) return *p;
  const ResidentGrowth growth;
  const int64_t budget = options_.memory_budget_bytes;
  graph::Graph g;
  BatchPlan chosen;
  if (mode == kTrain && budget > 0) {
    chosen = choose_plan(batch_size, budget, &g);
    if (!chosen.fits) throw out_of_budget(chosen);
    LT_CHECK(chosen.micro_batches == 1, kInternal, "batch ", batch_size,
             " trains in micro-batches: its steps go through training_program()");
  } else {
    g = build_graph(batch_size, mode);
    if (mode == kTrain && options_.bf16_storage) g = store_kept_in_bf16(g);
    if (budget > 0) {
      // Every program shares the arena: each must fit beside the persistent block.
      auto facts = batch_facts_.find(batch_size);
      const int64_t arena = mode == kEval && facts != batch_facts_.end()
                                ? facts->second.eval_arena_bytes
                                : runtime::planned_arena_bytes(g, options_.kernels);
      const int64_t need = store_->total_bytes() + arena;
      LT_CHECK(need <= budget, kOutOfBudget, "memory budget ", iec(budget), ": the ",
               step_name(mode), " step for batch ", batch_size, " needs ", iec(need),
               " (persistent ", iec(store_->total_bytes()), " + arena ", iec(arena),
               "); use a smaller batch size or a budget of at least ", iec(need));
    }
  }
  if (mode == kTrain) finish_training_graph(g);
  p = std::make_unique<runtime::Program>(std::move(g), *store_, *arena_, options_.kernels);
  if (mode == kTrain) {
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
  const auto key = std::make_pair(batch_size, budget_bytes);
  auto it = plans_.find(key);
  if (it == plans_.end())
    it = plans_.emplace(key, choose_plan(batch_size, budget_bytes, nullptr)).first;
  return it->second;
}

BatchPlan Trainer::choose_plan(int64_t batch_size, int64_t budget_bytes, graph::Graph* graph_out) {
  BatchPlan whole = choose_whole_batch_plan(batch_size, budget_bytes, graph_out);
  BatchPlan chosen = whole.fits || options_.micro_batches != kAutoMicroBatches || batch_size == 1
                         ? std::move(whole)
                         : choose_micro_plan(std::move(whole));
  // The search compiled graphs it no longer needs: drop their kernels and give their heap pages
  // back, so that they do not stay resident beside the arena the plan is measured against, and
  // the programs compiled next create (and count) their own kernels.
  ops::release_unused_kernels();
  memory::release_free_heap_memory();
  return chosen;
}

int64_t Trainer::staging_bytes_for(int64_t batch_rows) const {
  return batch_rows *
         (model_.input_shape().num_elements() * dtype_size(DType::kF32) + dtype_size(DType::kI32));
}

BatchPlan Trainer::choose_micro_plan(BatchPlan whole) {
  const int64_t b = whole.batch_size;
  const int64_t budget = whole.budget_bytes;
  const int64_t persistent = whole.persistent_bytes;
  const int64_t staging = staging_bytes_for(b);
  BatchPlan smallest;  // the micro-batch plan that needs the least, when none fits
  // Largest micro-batch first: fewer, larger micro-steps run faster.
  for (int64_t k = 2; k <= b; ++k) {
    if (b % k != 0) continue;
    const int64_t rows = b / k;
    BatchPlan r = whole;
    r.plan_kind = PlanKind::kMicroBatching;
    r.micro_batches = static_cast<int>(k);
    r.train_arena_bytes =
        runtime::planned_arena_bytes(build_micro_graph(rows, b), options_.kernels);
    r.eval_arena_bytes = runtime::planned_arena_bytes(build_graph(rows, kEval), options_.kernels);
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
          "keep all: every activation the backward of a micro-batch reads is kept; gradients "
          "are accumulated over the micro-batches, then one optimizer update"};
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

int Trainer::micro_batches_for(int64_t batch_rows) {
  if (options_.micro_batches != kAutoMicroBatches) return options_.micro_batches;
  if (options_.memory_budget_bytes <= 0) return 1;
  // Asked on every step: the compiled batch's plan, without copying it.
  if (auto it = training_plans_.find(batch_rows); it != training_plans_.end()) {
    return it->second.micro_batches;
  }
  const BatchPlan plan = plan_for_budget(batch_rows, options_.memory_budget_bytes);
  if (!plan.fits) throw out_of_budget(plan);
  return plan.micro_batches;
}

BatchPlan Trainer::choose_whole_batch_plan(int64_t batch_size, int64_t budget_bytes,
                                           graph::Graph* graph_out) {
  LT_CHECK(batch_size >= 1, kInvalidArgument, "batch_size must be >= 1, got ", batch_size);
  LT_CHECK(budget_bytes >= 0, kInvalidArgument, "a memory budget must be >= 0 bytes, got ",
           budget_bytes);
  const auto arena_of = [&](const graph::Graph& g) { return planned_arena_bytes(g); };
  graph::Graph train = build_graph(batch_size, kTrain);
  auto facts_it = batch_facts_.find(batch_size);
  if (facts_it == batch_facts_.end()) {
    BatchFacts f;
    f.keep_all_train_arena_bytes = arena_of(train);
    f.eval_arena_bytes = arena_of(build_graph(batch_size, kEval));
    facts_it = batch_facts_.emplace(batch_size, f).first;
  }
  BatchFacts& facts = facts_it->second;
  BatchPlan r;
  r.batch_size = batch_size;
  r.budget_bytes = budget_bytes;
  r.persistent_bytes = store_->total_bytes();
  r.keep_all_train_arena_bytes = facts.keep_all_train_arena_bytes;
  r.eval_arena_bytes = facts.eval_arena_bytes;
  const int64_t persistent = r.persistent_bytes;
  const int64_t keep_all =
      persistent + std::max(facts.keep_all_train_arena_bytes, facts.eval_arena_bytes);

  // 1. Keep everything, when it fits.
  if (budget_bytes == 0 || keep_all <= budget_bytes) {
    r.fits = true;
    r.plan_kind = PlanKind::kKeepAll;
    r.train_arena_bytes = facts.keep_all_train_arena_bytes;
    r.predicted_bytes = keep_all;
    r.explanation.summary = {
        budget_bytes == 0
            ? "keep all: every activation the backward reads is kept (no memory budget)"
            : internal::str_cat("keep all: every activation the backward reads is kept; ",
                                "persistent ", iec(persistent), " + arena ",
                                iec(keep_all - persistent), " = ", iec(keep_all),
                                " fits the memory budget ", iec(budget_bytes))};
    if (graph_out != nullptr) *graph_out = std::move(train);
    return r;
  }

  const std::string over =
      internal::str_cat("keeping every activation needs persistent ", iec(persistent), " + arena ",
                        iec(keep_all - persistent), " = ", iec(keep_all),
                        ", over the memory budget ", iec(budget_bytes));

  // 1b. Keep everything, stored in bf16 between the forward and the backward (when allowed):
  // no recomputation, gradients approximate (bf16_storage.h says which ops read what).
  if (options_.bf16_storage) {
    const Bf16StoragePlan conversions = plan_bf16_storage(train);
    if (conversions.converted_values() > 0) {
      graph::Graph bf16 = store_kept_in_bf16(train);
      const int64_t arena = arena_of(bf16);
      const int64_t total = persistent + std::max(arena, facts.eval_arena_bytes);
      if (total <= budget_bytes) {
        r.fits = true;
        r.plan_kind = PlanKind::kBf16Storage;
        r.train_arena_bytes = arena;
        r.predicted_bytes = total;
        r.explanation.summary = {internal::str_cat(
            over, "; bf16 storage: ", conversions.converted_values(), " kept activations (",
            iec(conversions.converted_f32_bytes()),
            " in f32) are stored in bf16 between their forward and backward uses: persistent ",
            iec(persistent), " + arena ", iec(total - persistent), " = ", iec(total),
            " fits; no recomputation, gradients approximate (bf16 rounding of what the backward "
            "reads)")};
        if (graph_out != nullptr) *graph_out = std::move(bf16);
        return r;
      }
    }
  }

  // 2. Rematerialization: the cheapest schedule whose planned arena fits beside the persistent
  // block (and above the evaluation step's arena, which shares it).
  graph::Chain chain;
  try {
    chain = graph::extract_chain(train);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kUnimplemented) throw;
    // The graph is not a chain rematerialization handles: keeping everything is the only plan.
    r.plan_kind = PlanKind::kKeepAll;
    r.train_arena_bytes = facts.keep_all_train_arena_bytes;
    r.predicted_bytes = r.min_bytes = keep_all;
    r.explanation.summary = {
        internal::str_cat(over, "; rematerialization cannot run this graph: ", e.what())};
    return r;
  }
  r.chain_stages = static_cast<int32_t>(chain.stages.size());
  const int64_t arena_budget = budget_bytes - persistent;
  graph::FittedRemat fit;
  if (arena_budget > 0 && facts.eval_arena_bytes <= arena_budget) {
    fit = graph::fit_remat(train, chain, arena_budget, arena_of);
  }
  graph::RematSchedule smallest;
  const auto smallest_schedule = [&] {
    smallest = graph::solve_remat(chain, graph::min_remat_budget_bytes(chain));
    LT_CHECK(smallest.fits, kInternal, "the smallest rematerialization budget does not fit");
    return graph::apply_remat(train, chain, smallest);
  };
  if (!fit.schedule.fits) {
    // fit_remat may give up before reaching the smallest schedule (its attempts); that
    // schedule is the plan of last resort, and what the smallest budget is made of.
    graph::Graph g = smallest_schedule();
    if (facts.min_remat_arena_bytes < 0) facts.min_remat_arena_bytes = arena_of(g);
    if (facts.eval_arena_bytes <= arena_budget && facts.min_remat_arena_bytes <= arena_budget) {
      fit.schedule = smallest;
      fit.graph = std::move(g);
      fit.arena_bytes = facts.min_remat_arena_bytes;
    }
  }
  if (!fit.schedule.fits) {
    const bool remat_smaller = facts.min_remat_arena_bytes < facts.keep_all_train_arena_bytes;
    r.plan_kind = remat_smaller ? PlanKind::kRemat : PlanKind::kKeepAll;
    r.train_arena_bytes =
        remat_smaller ? facts.min_remat_arena_bytes : facts.keep_all_train_arena_bytes;
    r.min_bytes = r.predicted_bytes =
        persistent + std::max(r.train_arena_bytes, facts.eval_arena_bytes);
    if (remat_smaller) {
      r.extra_compute_fraction = smallest.extra_fraction();
      r.recomputed_stages = count_recomputed(smallest);
    }
    r.explanation = {
        .summary = {internal::str_cat(over, "; no plan fits: the smallest is ",
                                      plan_kind_name(r.plan_kind), " at persistent ",
                                      iec(persistent), " + arena ", iec(r.min_bytes - persistent),
                                      " = ", iec(r.min_bytes))},
        .remat_report = remat_smaller ? graph::explain_remat(chain, smallest) : std::string()};
    return r;
  }
  // 3b. With bf16 storage allowed, the kept activations of the rewritten graph in bf16 too: the
  // chain model counts them in f32, so a larger DP budget (less recomputation) may fit. The
  // largest such budget by bisection between the f32 schedule's peak and keeping everything.
  bool with_bf16 = false;
  if (options_.bf16_storage && fit.schedule.extra_cost() > 0) {
    const auto bf16_fit = [&](int64_t dp_budget, graph::FittedRemat* out) {
      const graph::RematSchedule s = graph::solve_remat(chain, dp_budget);
      if (!s.fits) return false;
      graph::Graph g = store_kept_in_bf16(graph::apply_remat(train, chain, s));
      const int64_t arena = arena_of(g);
      if (arena > arena_budget) return false;
      if (s.cost < out->schedule.cost) *out = {s, std::move(g), arena, out->attempts};
      return true;
    };
    graph::FittedRemat cheaper = fit;
    int64_t lo = fit.schedule.peak_bytes;
    int64_t hi = fit.schedule.keep_all_peak_bytes;
    const int64_t quantum = std::max<int64_t>(fit.schedule.slot_bytes, 1);
    constexpr int kMaxProbes = 12;  // each probe rewrites and plans the whole graph
    for (int i = 0; i < kMaxProbes && hi - lo > quantum; ++i) {
      const int64_t mid = lo + (hi - lo) / 2;
      (bf16_fit(mid, &cheaper) ? lo : hi) = mid;
    }
    if (cheaper.schedule.cost < fit.schedule.cost) {
      fit = std::move(cheaper);
      with_bf16 = true;
    }
  }
  r.fits = true;
  r.plan_kind = with_bf16 ? PlanKind::kBf16StorageRemat : PlanKind::kRemat;
  r.train_arena_bytes = fit.arena_bytes;
  r.predicted_bytes = persistent + std::max(fit.arena_bytes, facts.eval_arena_bytes);
  r.extra_compute_fraction = fit.schedule.extra_fraction();
  r.recomputed_stages = count_recomputed(fit.schedule);
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.1f%%", 100.0 * r.extra_compute_fraction);
  r.explanation = {
      .summary = {internal::str_cat(
          plan_kind_name(r.plan_kind), ": ", over, "; recomputing ", r.recomputed_stages, " of ",
          r.chain_stages, " stages (extra compute ", pct, ")",
          with_bf16 ? " and keeping the other activations the backward reads in bf16 (gradients "
                      "approximate)"
                    : "",
          " takes persistent ", iec(persistent), " + arena ", iec(r.predicted_bytes - persistent),
          " = ", iec(r.predicted_bytes),
          " (the schedule below was solved for the arena's share of the budget, ",
          iec(arena_budget), with_bf16 ? ", counting kept activations in f32" : "", ")")},
      .remat_report = graph::explain_remat(chain, fit.schedule)};
  if (graph_out != nullptr) *graph_out = std::move(fit.graph);
  return r;
}

int64_t Trainer::largest_batch_within(int64_t budget_bytes, int64_t max_batch) {
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

int64_t Trainer::find_batch_size(int64_t max_batch) {
  const int64_t budget = options_.memory_budget_bytes;
  LT_CHECK(budget > 0, kInvalidArgument,
           "find_batch_size needs a memory budget: set CompileOptions::memory_budget_bytes");
  const int64_t b = largest_batch_within(budget, max_batch);
  if (b == 0) throw out_of_budget(plan_for_budget(1, budget));
  return b;
}

Error Trainer::out_of_budget(const BatchPlan& plan) {
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
    message += internal::str_cat(
        "the persistent block alone (", store_->what(), ") takes ", iec(plan.persistent_bytes),
        ", so no batch fits; use a budget of at least ",
        iec(plan.batch_size == 1 ? plan.min_bytes : plan.persistent_bytes));
  } else if (plan.batch_size == 1) {
    message += internal::str_cat("no batch fits; use a budget of at least ", iec(plan.min_bytes));
  } else {
    const BatchPlan one = plan_for_budget(1, budget);
    message += internal::str_cat("no batch fits (batch 1 needs ", iec(one.min_bytes),
                                 "); use a budget of at least ", iec(one.min_bytes));
  }
  return Error(ErrorCode::kOutOfBudget, message);
}

namespace {

// The micro-batch sizes of a batch of `rows` under k micro-batches: ceil(rows / k) each, the last
// the remainder (k of rows / k when k divides rows).
std::vector<int64_t> micro_split(int64_t rows, int k) {
  const int64_t m = (rows + k - 1) / k;
  std::vector<int64_t> sizes;
  for (int64_t done = 0; done < rows; done += m) sizes.push_back(std::min(m, rows - done));
  return sizes;
}

}  // namespace

void Trainer::check_micro_batch_size(int64_t batch_size) const {
  const int k = options_.micro_batches;
  LT_CHECK(batch_size % k == 0, kInvalidArgument, "batch_size ", batch_size,
           " is not a multiple of micro_batches ", k, "; use a batch size of ",
           std::max<int64_t>(k, batch_size / k * k), " or ", (batch_size / k + 1) * k,
           ", or micro_batches dividing ", batch_size);
}

// The micro-batch graph: the kMicro graph (forward, loss, backward) rebuilt node by node, with
// each gradient made step-local and an Accumulate node right after its producer, which adds it
// times rows / batch_rows into the persistent gradient. Accumulating right away keeps a
// gradient's step-local buffer alive for one node only, so the arena holds at most a few.
graph::Graph Trainer::build_micro_graph(int64_t rows, int64_t batch_rows) const {
  const graph::Graph g = build_graph(rows, kMicro);
  const float alpha =
      static_cast<float>(static_cast<double>(rows) / static_cast<double>(batch_rows));
  graph::Graph out;
  std::vector<ValueId> current(static_cast<size_t>(g.num_values()), graph::kNoValue);
  std::vector<graph::NodeId> node_map(static_cast<size_t>(g.num_nodes()), -1);
  // Producer-less values first, in their order and under their names; then the accumulators.
  for (ValueId v = 0; v < g.num_values(); ++v) {
    if (g.value(v).producer < 0) current[static_cast<size_t>(v)] = graph::copy_value(g, v, out);
  }
  std::map<ValueId, ValueId> accumulator;  // gradient in g -> persistent gradient in out
  for (ValueId v = 0; v < g.num_values(); ++v) {
    const graph::Value& value = g.value(v);
    if (value.kind != ValueKind::kGradient) continue;
    LT_CHECK(value.producer >= 0, kInternal, "gradient '", value.name, "' has no producer");
    accumulator[v] = out.add_value(value.name, value.spec, ValueKind::kGradient, value.layer);
  }
  const auto free_name = [&](const std::string& base) {
    std::string name = base;
    for (int i = 1; g.find(name) != graph::kNoValue || out.find(name) != graph::kNoValue; ++i) {
      name = base + "_" + std::to_string(i);
    }
    return name;
  };
  std::vector<std::pair<ValueId, std::string>> final_names;
  for (graph::NodeId n = 0; n < g.num_nodes(); ++n) {
    const graph::Node& node = g.node(n);
    std::vector<ValueId> inputs;
    for (ValueId in : node.inputs) {
      const ValueId mapped = current[static_cast<size_t>(in)];
      LT_CHECK(mapped != graph::kNoValue, kInternal, "micro-batch graph: '", node.name, "' reads '",
               g.value(in).name, "' before it is written");
      inputs.push_back(mapped);
    }
    const graph::NodeId forward_of =
        node.forward_of >= 0 ? node_map[static_cast<size_t>(node.forward_of)] : -1;
    out.add_node(node.op, std::move(inputs), out.unique_name("\x01micro/" + node.name), node.phase,
                 node.layer, forward_of);
    const graph::NodeId id = out.num_nodes() - 1;
    node_map[static_cast<size_t>(n)] = id;
    out.node(id).name = node.name;
    out.node(id).recomputed = node.recomputed;
    const std::vector<ValueId> outs = out.node(id).outputs;
    LT_CHECK(outs.size() == node.outputs.size(), kInternal, "micro-batch graph: '", node.name,
             "' has ", node.outputs.size(), " outputs but its op infers ", outs.size());
    for (size_t i = 0; i < outs.size(); ++i) {
      const ValueId original = node.outputs[i];
      const graph::Value& value = g.value(original);
      graph::Value& copy = out.value(outs[i]);
      copy.layer = value.layer;
      copy.is_output = value.is_output;
      current[static_cast<size_t>(original)] = outs[i];
      if (value.kind != ValueKind::kGradient) {
        copy.kind = value.kind;
        final_names.push_back({outs[i], value.name});
        continue;
      }
      copy.kind = ValueKind::kActivation;  // this micro-batch's gradient, step-local
      final_names.push_back({outs[i], free_name(value.name + "/micro")});
      out.add_node(ops::accumulate(alpha), {accumulator.at(original), outs[i]},
                   value.name + "/accumulate", graph::Phase::kBackward, value.layer);
    }
  }
  // Every node output holds a "\x01micro/" name until now, so the final names are free.
  for (const auto& [v, name] : final_names) out.rename(v, name);
  return out;
}

runtime::Program& Trainer::micro_program(int64_t rows, int64_t batch_rows) {
  auto& p = micro_programs_[{rows, batch_rows}];
  if (p) return *p;
  const ResidentGrowth growth;
  graph::Graph g = build_micro_graph(rows, batch_rows);
  const int64_t budget = options_.memory_budget_bytes;
  if (budget > 0) {
    const int64_t arena = runtime::planned_arena_bytes(g, options_.kernels);
    const int64_t need = store_->total_bytes() + arena;
    LT_CHECK(need <= budget, kOutOfBudget, "memory budget ", iec(budget), ": the micro-batch step",
             " of ", rows, " rows (of a batch of ", batch_rows, ", micro_batches ",
             micro_batches_for(batch_rows), ") needs ", iec(need), " (persistent ",
             iec(store_->total_bytes()), " + arena ", iec(arena),
             "); use more micro-batches, a smaller batch size or a budget of at least ", iec(need));
  }
  p = std::make_unique<runtime::Program>(std::move(g), *store_, *arena_, options_.kernels);
  runtime_bytes_ += growth.beyond_our_blocks();
  return *p;
}

runtime::Program& Trainer::update_program() {
  if (update_program_) return *update_program_;
  const ResidentGrowth growth;
  // The update nodes of the training graph (their inputs are all persistent), in its order.
  const graph::Graph train = build_graph(1, kTrain);
  graph::Graph g;
  for (const graph::Node& node : train.nodes()) {
    if (node.phase != graph::Phase::kUpdate) continue;
    std::vector<ValueId> inputs;
    for (ValueId in : node.inputs) {
      const graph::Value& value = train.value(in);
      LT_CHECK(graph::is_persistent(value.kind), kInternal, "update node '", node.name,
               "' reads the step-local value '", value.name, "'");
      ValueId id = g.find(value.name);
      if (id == graph::kNoValue) id = g.add_value(value.name, value.spec, value.kind, value.layer);
      inputs.push_back(id);
    }
    g.add_node(node.op, std::move(inputs), node.name, graph::Phase::kUpdate, node.layer);
  }
  update_program_ =
      std::make_unique<runtime::Program>(std::move(g), *store_, *arena_, options_.kernels);
  runtime_bytes_ += growth.beyond_our_blocks();
  return *update_program_;
}

void Trainer::compile_micro_step(int64_t batch_rows) {
  const int k = micro_batches_for(batch_rows);
  for (const int64_t rows : micro_split(batch_rows, k)) micro_program(rows, batch_rows);
  update_program();
  if (training_plans_.contains(batch_rows)) return;
  const int64_t first_rows = micro_split(batch_rows, k)[0];
  const runtime::Program& p = micro_program(first_rows, batch_rows);
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

void Trainer::run_micro_step(int64_t rows, const graph::StepState& state, double* loss_sum,
                             std::vector<double>* sums) {
  const Objective& o = *objective_;
  const int64_t image_elements = model_.input_shape().num_elements();
  const std::vector<int64_t> sizes = micro_split(rows, micro_batches_for(rows));
  // The first micro-step adds into zeros.
  for (const std::string& name : store_->names()) {
    if (store_->kind(name) != ValueKind::kGradient) continue;
    const TensorView t = store_->view(name);
    std::fill(t.f32(), t.f32() + t.num_elements(), 0.0f);
  }
  int64_t offset = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int64_t m = sizes[i];
    runtime::Program& p = micro_program(m, rows);
    // The extra copy micro-batching costs: this slice of the staged batch into the input slot.
    const float* images = staging_images_.data() + offset * image_elements;
    std::copy(images, images + m * image_elements, p.view(input_name_).f32());
    const int32_t* labels = staging_labels_.data() + offset;
    const TensorView dst = p.view("labels");
    if (dst.dtype == DType::kI32) {
      std::copy(labels, labels + m, dst.i32());
    } else {
      encode_labels(o.labels, labels, m, dst.num_elements() / m, dst.data);
    }
    graph::StepState micro_state = state;
    if (i > 0) micro_state.seed = mix64(state.seed ^ mix64(static_cast<uint64_t>(i)));
    p.run(micro_state);
    *loss_sum += static_cast<double>(p.view("loss").f32()[0]) * static_cast<double>(m);
    for (size_t k = 0; k < sums->size(); ++k) (*sums)[k] += p.view(o.metrics[k].name).f32()[0];
    offset += m;
  }
  update_program().run(state);
}

runtime::Program& Trainer::training_program(int64_t batch_size) {
  LT_CHECK(batch_size >= 1, kInvalidArgument, "batch_size must be >= 1, got ", batch_size);
  if (const int k = micro_batches_for(batch_size); k > 1) {
    if (options_.micro_batches > 1) check_micro_batch_size(batch_size);
    compile_micro_step(batch_size);
    return micro_program(micro_split(batch_size, k)[0], batch_size);
  }
  return program(kTrain, batch_size);
}
runtime::Program& Trainer::evaluation_program(int64_t batch_size) {
  return program(kEval, batch_size);
}

runtime::PersistentStore& Trainer::store() { return *store_; }
const runtime::PersistentStore& Trainer::store() const { return *store_; }
const runtime::SharedArena& Trainer::arena() const { return *arena_; }

void Trainer::set_learning_rate(double learning_rate) {
  LT_CHECK(learning_rate >= 0 && std::isfinite(learning_rate), kInvalidArgument,
           "learning_rate must be finite and >= 0, got ", learning_rate);
  learning_rate_ = learning_rate;
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
  MemoryReport r;
  r.batch_size = batch_size;
  r.parameters_bytes = store_->bytes_of(ValueKind::kParameter);
  r.state_bytes = store_->bytes_of(ValueKind::kState);
  r.gradients_bytes = store_->bytes_of(ValueKind::kGradient);
  r.step_local_gradients = step_local_gradients_;
  r.optimizer_bytes = store_->bytes_of(ValueKind::kOptimizerState);
  r.persistent_bytes = store_->total_bytes();
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
  if (k > 1) r.staging_bytes = staging_bytes_for(batch_size);
  r.runtime_bytes = runtime_bytes_;
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

void Trainer::check_data(const data::LabeledImages& data) const {
  const Shape& out = model_.output_shape();
  const int64_t classes = out.rank() == 1 ? out[0] : 0;
  const bool binary_single = options_.loss.kind == Loss::Kind::kBinaryCrossentropy && classes == 1;
  LT_CHECK(binary_single ? data.num_classes <= 2 : data.num_classes <= classes, kInvalidArgument,
           "the data has ", data.num_classes, " classes but the model's output has ", classes,
           " units");
  const Shape expected = model_.input_shape();
  LT_CHECK(expected == Shape({data.height, data.width, data.channels}), kInvalidArgument,
           "the data's images are ", Shape({data.height, data.width, data.channels}).to_string(),
           " but the model expects ", expected.to_string());
}

int64_t Trainer::next_batch(BatchSource& source, int mode, runtime::Program** program_out) {
  runtime::Program* program_used = nullptr;
  bool labels_in_program = false;
  bool micro = false;
  const int64_t n = source.next([&](int64_t rows) {
    micro = mode == kTrain && micro_batches_for(rows) > 1;
    if (micro) {
      // The whole batch into the staging area; run_micro_step copies its slices.
      compile_micro_step(rows);
      const auto images = static_cast<size_t>(rows * model_.input_shape().num_elements());
      if (staging_images_.size() < images) staging_images_.resize(images);
      if (staging_labels_.size() < static_cast<size_t>(rows)) {
        staging_labels_.resize(static_cast<size_t>(rows));
      }
      return BatchSource::Slots{staging_images_.data(), staging_labels_.data()};
    }
    runtime::Program& p = program(mode, rows);
    program_used = &p;
    const graph::Graph& g = p.graph();
    const ValueId labels = g.find("labels");
    labels_in_program = labels != graph::kNoValue && g.value(labels).spec.dtype == DType::kI32;
    int32_t* label_slot = nullptr;
    if (labels_in_program) {
      label_slot = p.view("labels").i32();
    } else {
      label_scratch_.resize(static_cast<size_t>(rows));
      label_slot = label_scratch_.data();
    }
    return BatchSource::Slots{p.view(input_name_).f32(), label_slot};
  });
  if (n == 0) return 0;
  const int32_t* labels = micro               ? staging_labels_.data()
                          : labels_in_program ? program_used->view("labels").i32()
                                              : label_scratch_.data();
  if (mode == kTrain || mode == kEval) {
    // A label outside the output would index past the loss's row: refuse it here.
    const Shape& out = model_.output_shape();
    const int64_t classes = out.rank() == 1 ? out[0] : 0;
    const int64_t limit =
        options_.loss.kind == Loss::Kind::kBinaryCrossentropy && classes == 1 ? 2 : classes;
    for (int64_t i = 0; i < n; ++i) {
      LT_CHECK(labels[i] >= 0 && labels[i] < limit, kInvalidArgument, "label ", labels[i],
               " (example ", i, " of a batch) is outside [0, ", limit, "): the model's output has ",
               classes, " units");
    }
    if (!labels_in_program && !micro) {
      const TensorView dst = program_used->view("labels");
      encode_labels(objective_->labels, label_scratch_.data(), n, dst.num_elements() / n, dst.data);
    }
  }
  *program_out = program_used;  // null under micro-batching: the batch is in the staging area
  return n;
}

Logs Trainer::run_epoch_eval(BatchSource& data) {
  data.start_epoch(0);
  const Objective& o = *objective_;
  double loss_sum = 0;
  std::vector<double> sums(o.metrics.size(), 0.0);
  double count = 0;
  const graph::StepState state{std::max<int64_t>(iteration_, 1), static_cast<float>(learning_rate_),
                               options_.seed};
  runtime::Program* p = nullptr;
  while (const int64_t rows = next_batch(data, kEval, &p)) {
    const auto n = static_cast<double>(rows);
    p->run(state);
    loss_sum += static_cast<double>(p->view("loss").f32()[0]) * n;
    for (size_t m = 0; m < sums.size(); ++m) sums[m] += p->view(o.metrics[m].name).f32()[0];
    count += n;
  }
  LT_CHECK(count > 0, kInvalidArgument, "evaluate: the data has no examples");
  Logs logs{{"loss", loss_sum / count}};
  for (size_t m = 0; m < sums.size(); ++m) {
    logs[o.metrics[m].name] = sums[m] / (count * static_cast<double>(o.metrics[m].per_example));
  }
  return logs;
}

EvalResult Trainer::evaluate(const data::LabeledImages& data, int64_t batch_size) {
  check_data(data);
  ImageBatches source(data, batch_size, /*shuffle=*/false, 0);
  return EvalResult{run_epoch_eval(source)};
}

EvalResult Trainer::evaluate(const data::Dataset& data) {
  DatasetBatches source(data, model_.input_shape());
  return EvalResult{run_epoch_eval(source)};
}

std::vector<float> Trainer::predict(const data::LabeledImages& data, int64_t batch_size) {
  const Shape expected = model_.input_shape();
  LT_CHECK(expected == Shape({data.height, data.width, data.channels}), kInvalidArgument,
           "the data's images are ", Shape({data.height, data.width, data.channels}).to_string(),
           " but the model expects ", expected.to_string());
  data::Batcher batcher(data, batch_size, /*shuffle=*/false, 0);
  batcher.start_epoch(0);
  const int64_t width = model_.output_shape().num_elements();
  std::vector<float> out(static_cast<size_t>(data.count * width));
  label_scratch_.resize(static_cast<size_t>(batch_size));
  const graph::StepState state{std::max<int64_t>(iteration_, 1), static_cast<float>(learning_rate_),
                               options_.seed};
  int64_t row = 0;
  for (int64_t b = 0; b < batcher.num_batches(); ++b) {
    const int64_t n = batcher.batch_count(b);
    runtime::Program& p = program(kPredict, n);
    batcher.fill(b, p.view(input_name_).f32(), label_scratch_.data());
    p.run(state);
    const TensorView y = p.view(p.graph().value(the_output(p.graph())).name);
    std::copy(y.f32(), y.f32() + n * width, out.begin() + row * width);
    row += n;
  }
  return out;
}

std::vector<std::vector<float>> Trainer::get_weights() const {
  std::vector<std::vector<float>> out;
  for (const nn::ModelVariable& v : model_.variables()) {
    const TensorView t = store_->view(v.full_name());
    out.emplace_back(t.f32(), t.f32() + t.num_elements());
  }
  return out;
}

void Trainer::set_weights(const std::vector<std::vector<float>>& weights) {
  const std::vector<nn::ModelVariable> vars = model_.variables();
  LT_CHECK(weights.size() == vars.size(), kInvalidArgument, "set_weights: the model has ",
           vars.size(), " variables, got ", weights.size(), " arrays");
  for (size_t i = 0; i < vars.size(); ++i) {
    LT_CHECK(static_cast<int64_t>(weights[i].size()) == vars[i].variable.shape.num_elements(),
             kInvalidArgument, "set_weights: '", vars[i].full_name(), "' has ",
             vars[i].variable.shape.num_elements(), " elements, got ", weights[i].size());
  }
  for (size_t i = 0; i < vars.size(); ++i) {
    std::copy(weights[i].begin(), weights[i].end(), store_->view(vars[i].full_name()).f32());
  }
}

void Trainer::save_weights(const std::string& path) const {
  std::vector<NamedTensorView> tensors;
  for (const nn::ModelVariable& v : model_.variables()) {
    tensors.push_back({v.full_name(), store_->view(v.full_name())});
  }
  write_safetensors(
      path, tensors,
      {{"format", "leantrain"}, {"model", model_.name()}, {"keras_config", nn::to_json(model_)}});
}

void Trainer::load_weights(const std::string& path) {
  const SafetensorsFile file = read_safetensors(path);
  const std::vector<nn::ModelVariable> vars = model_.variables();
  // Check everything before changing anything.
  for (const nn::ModelVariable& v : vars) {
    const StoredTensor* t = file.find(v.full_name());
    LT_CHECK(t != nullptr, kInvalidArgument, path, ": no tensor '", v.full_name(),
             "' for the model's variable of that name (model '", model_.name(),
             "'); the file was saved from a different model");
    LT_CHECK(t->dtype == DType::kF32 && t->shape == v.variable.shape, kInvalidArgument, path,
             ": tensor '", v.full_name(), "' is ", dtype_name(t->dtype), " ", t->shape.to_string(),
             " but the model's variable is f32 ", v.variable.shape.to_string());
  }
  for (const StoredTensor& t : file.tensors()) {
    const bool known = std::any_of(vars.begin(), vars.end(), [&](const nn::ModelVariable& v) {
      return v.full_name() == t.name;
    });
    LT_CHECK(known, kInvalidArgument, path, ": tensor '", t.name, "' is not a variable of model '",
             model_.name(), "'; the file was saved from a different model");
  }
  for (const nn::ModelVariable& v : vars) {
    file.at(v.full_name()).copy_to(store_->view(v.full_name()));
  }
}

void Trainer::recalibrate_batch_norm(BatchSource& data, int64_t steps, int64_t epoch) {
  data.start_epoch(epoch);
  const int64_t batch_size = data.batch_size();
  // Per batch-norm node: (moving_mean, moving_variance, batch_mean, batch_var) names and the sums
  // of the batch means, of their squares and of the batch variances.
  struct Stats {
    std::string moving_mean, moving_variance, batch_mean, batch_var;
    std::vector<double> sum_mean, sum_mean_sq, sum_var;
  };
  std::vector<Stats> stats;
  int64_t batches = 0;
  const graph::StepState state{std::max<int64_t>(iteration_, 1), static_cast<float>(learning_rate_),
                               options_.seed};
  runtime::Program* program_used = nullptr;
  for (int64_t b = 0; b < steps; ++b) {
    const int64_t n = next_batch(data, kCalibrate, &program_used);
    if (n == 0) break;
    if (n != batch_size) continue;  // full batches only: one program
    runtime::Program& p = *program_used;
    if (stats.empty()) {
      for (const graph::Node& node : p.graph().nodes()) {
        if (node.op->type() != "BatchNormalization") continue;
        const auto name = [&](int i, bool out) {
          return p.graph()
              .value(out ? node.outputs[static_cast<size_t>(i)]
                         : node.inputs[static_cast<size_t>(i)])
              .name;
        };
        const size_t c = static_cast<size_t>(p.graph().value(node.inputs[3]).spec.shape[0]);
        stats.push_back({name(3, false), name(4, false), name(1, true), name(2, true),
                         std::vector<double>(c), std::vector<double>(c), std::vector<double>(c)});
      }
    }
    p.run(state);
    for (Stats& s : stats) {
      const float* mean = p.view(s.batch_mean).f32();
      const float* var = p.view(s.batch_var).f32();
      for (size_t i = 0; i < s.sum_mean.size(); ++i) {
        s.sum_mean[i] += mean[i];
        s.sum_mean_sq[i] += static_cast<double>(mean[i]) * mean[i];
        s.sum_var[i] += var[i];
      }
    }
    ++batches;
  }
  if (batches == 0) return;
  // Population statistics over the batches (law of total variance): mean of the batch means;
  // mean of the batch variances plus the variance of the batch means.
  const auto k = static_cast<double>(batches);
  for (const Stats& s : stats) {
    float* moving_mean = store_->view(s.moving_mean).f32();
    float* moving_variance = store_->view(s.moving_variance).f32();
    for (size_t i = 0; i < s.sum_mean.size(); ++i) {
      const double mean = s.sum_mean[i] / k;
      moving_mean[i] = static_cast<float>(mean);
      moving_variance[i] =
          static_cast<float>(s.sum_var[i] / k + std::max(0.0, s.sum_mean_sq[i] / k - mean * mean));
    }
  }
}

namespace {

void check_fit_options(const FitOptions& options) {
  LT_CHECK(options.epochs >= 1, kInvalidArgument, "epochs must be >= 1, got ", options.epochs);
  LT_CHECK(options.steps_per_epoch >= 0, kInvalidArgument, "steps_per_epoch must be >= 0, got ",
           options.steps_per_epoch);
  LT_CHECK(options.initial_epoch >= 0 && options.initial_epoch < options.epochs, kInvalidArgument,
           "initial_epoch must be in [0, epochs), got ", options.initial_epoch);
  LT_CHECK(options.validation_data == nullptr || options.validation_dataset == nullptr,
           kInvalidArgument, "pass validation_data or validation_dataset, not both");
}

}  // namespace

History Trainer::fit(const data::LabeledImages& train, const FitOptions& options) {
  check_fit_options(options);
  check_data(train);
  ImageBatches source(train, options.batch_size, options.shuffle, options_.seed);
  ImageBatches calibration(source, mix64(options_.seed ^ 0x9e37u));
  return fit_batches(source, &calibration, options);
}

History Trainer::fit(const data::Dataset& train, const FitOptions& options) {
  check_fit_options(options);
  DatasetBatches source(train, model_.input_shape());
  DatasetBatches calibration(train, model_.input_shape());
  return fit_batches(source, &calibration, options);
}

History Trainer::fit_batches(BatchSource& train, BatchSource* calibration,
                             const FitOptions& options) {
  std::unique_ptr<BatchSource> validation;
  if (options.validation_data != nullptr) {
    check_data(*options.validation_data);
    // Under micro-batching, in batches of the micro-batch's size (the same results: evaluation
    // has no batch statistics), so that the evaluation arena is no larger than the training one.
    validation = std::make_unique<ImageBatches>(
        *options.validation_data,
        std::max<int64_t>(1, train.batch_size() / micro_batches_for(train.batch_size())),
        /*shuffle=*/false, 0);
  } else if (options.validation_dataset != nullptr) {
    validation =
        std::make_unique<DatasetBatches>(*options.validation_dataset, model_.input_shape());
  }
  std::ostream& out = options.out != nullptr ? *options.out : std::cout;
  const int64_t batch_size = train.batch_size();
  const Objective& objective = *objective_;
  if (options_.micro_batches > 1) check_micro_batch_size(batch_size);

  // Compile every program the run needs before the first step: full and partial batches.
  plan(batch_size);
  for (const int64_t b : train.known_batch_sizes()) {
    if (micro_batches_for(b) > 1) {
      compile_micro_step(b);
    } else {
      training_program(b);
    }
  }
  if (validation) {
    for (const int64_t b : validation->known_batch_sizes()) evaluation_program(b);
  }
  const bool dynamic = options.verbose == 1 && options.out == nullptr && isatty(STDOUT_FILENO);
  stop_requested_ = false;
  for (const CallbackPtr& cb : options.callbacks) cb->on_train_begin(*this);
  History history;
  Logs logs;
  for (int epoch = options.initial_epoch; epoch < options.epochs && !stop_requested_; ++epoch) {
    for (const CallbackPtr& cb : options.callbacks) cb->on_epoch_begin(*this, epoch);
    if (options.verbose > 0 && options.epochs > 1) {
      out << "Epoch " << epoch + 1 << "/" << options.epochs << "\n";
    }
    train.start_epoch(epoch);
    // -1: unknown (a Dataset of unknown cardinality without steps_per_epoch).
    int64_t steps = train.num_batches();
    if (options.steps_per_epoch > 0) {
      steps = steps < 0 ? options.steps_per_epoch : std::min(options.steps_per_epoch, steps);
    }
    ProgressBar bar(steps, out, dynamic);
    double loss_sum = 0;
    std::vector<double> sums(objective.metrics.size(), 0.0);
    int64_t seen = 0;
    // The epoch's running means, as Keras reports them.
    auto running = [&] {
      const double s = static_cast<double>(seen);
      Logs l{{"loss", loss_sum / s}};
      for (size_t m = 0; m < sums.size(); ++m) {
        l[objective.metrics[m].name] =
            sums[m] / (s * static_cast<double>(objective.metrics[m].per_example));
      }
      return l;
    };
    auto as_pairs = [](const Logs& l) {
      return std::vector<std::pair<std::string, double>>(l.begin(), l.end());
    };
    const auto start = std::chrono::steady_clock::now();
    int64_t b = 0;
    runtime::Program* program_used = nullptr;
    for (; (steps < 0 || b < steps) && !stop_requested_; ++b) {
      const int64_t n = next_batch(train, kTrain, &program_used);
      if (n == 0) break;
      if (options_.optimizer.schedule) set_learning_rate(options_.optimizer.schedule(iteration_));
      ++iteration_;
      const graph::StepState state{iteration_, static_cast<float>(learning_rate_), options_.seed};
      if (program_used == nullptr) {
        run_micro_step(n, state, &loss_sum, &sums);
      } else {
        runtime::Program& p = *program_used;
        p.run(state);
        loss_sum += static_cast<double>(p.view("loss").f32()[0]) * static_cast<double>(n);
        for (size_t m = 0; m < sums.size(); ++m) {
          sums[m] += p.view(objective.metrics[m].name).f32()[0];
        }
      }
      seen += n;
      if (!options.callbacks.empty()) {
        const Logs batch_logs = running();
        for (const CallbackPtr& cb : options.callbacks) {
          cb->on_train_batch_end(*this, b, batch_logs);
        }
      }
      if (options.verbose == 1 && b + 1 != steps) {
        bar.update(b + 1, as_pairs(running()), "", false);
      }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    logs = running();
    LT_CHECK(seen > 0, kInvalidArgument, "fit: epoch ", epoch + 1, " had no training examples");
    if (options.recalibrate_batch_norm_steps > 0 && calibration != nullptr) {
      recalibrate_batch_norm(*calibration, options.recalibrate_batch_norm_steps, epoch);
    }
    if (validation) {  // also after a stop, as Keras
      for (const auto& [key, value] : run_epoch_eval(*validation)) {
        logs["val_" + key] = value;
      }
    }
    for (const CallbackPtr& cb : options.callbacks) cb->on_epoch_end(*this, epoch, logs);
    EpochLogs e;
    e.epoch = epoch + 1;
    e.logs = logs;
    e.seconds = seconds;
    e.images_per_second = static_cast<double>(seen) / seconds;
    e.steps = b;
    if (options.verbose > 0) {
      char extra[96];
      std::snprintf(extra, sizeof extra, " - %.0f img/s - peak_rss: %s", e.images_per_second,
                    memory::readable_bytes(memory::peak_rss_bytes()).c_str());
      bar.update(b, as_pairs(logs), extra, true);
    }
    // Elements a skipping pipeline dropped this epoch: counted and reported, never silent.
    const data::PipelineStats pipeline = train.epoch_stats();
    if (pipeline.skipped > 0) {
      e.skipped = pipeline.skipped;
      out << "Skipped " << pipeline.skipped << " bad input element(s) this epoch";
      for (const std::string& reason : pipeline.skipped_reasons) out << "\n  " << reason;
      out << "\n";
    }
    history.epochs.push_back(std::move(e));
  }
  for (const CallbackPtr& cb : options.callbacks) cb->on_train_end(*this, logs);
  return history;
}

}  // namespace leantrain::train

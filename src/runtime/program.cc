#include "leantrain/runtime/program.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "leantrain/core/cpu_features.h"
#include "leantrain/core/error.h"

namespace leantrain::runtime {
namespace {
constexpr int64_t kAlignment = 64;
int64_t align_up(int64_t x) { return (x + kAlignment - 1) / kAlignment * kAlignment; }

// "training step arena for batch 32": what an arena reservation for `g` is called.
std::string describe_arena(const graph::Graph& g) {
  bool update = false, loss = false;
  for (const graph::Node& node : g.nodes()) {
    update = update || node.phase == graph::Phase::kUpdate;
    loss = loss || node.phase == graph::Phase::kLoss;
  }
  std::string what = update ? "training step arena"
                     : loss ? "evaluation step arena"
                            : "prediction step arena";
  for (const graph::Value& v : g.values()) {
    if (v.kind == graph::ValueKind::kInput && v.spec.shape.rank() > 0) {
      return internal::str_cat(what, " for batch ", v.spec.shape[0]);
    }
  }
  return what;
}
}  // namespace

PersistentStore::PersistentStore() : PersistentStore(memory::Allocator::default_allocator()) {}

PersistentStore::PersistentStore(std::shared_ptr<memory::Allocator> allocator)
    : allocator_(std::move(allocator)) {
  LT_CHECK(allocator_ != nullptr, kInvalidArgument, "PersistentStore needs an allocator");
}

void PersistentStore::declare(const std::string& name, const graph::TensorSpec& spec,
                              graph::ValueKind kind) {
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    LT_CHECK(it->second.spec.shape == spec.shape && it->second.spec.dtype == spec.dtype,
             kInvalidArgument, "persistent tensor '", name, "' was declared as ",
             it->second.spec.shape.to_string(), " and now as ", spec.shape.to_string());
    return;
  }
  LT_CHECK(!allocated_, kInternal, "persistent tensor '", name, "' declared after allocation");
  entries_[name] = Entry{spec, kind, 0};
  order_.push_back(name);
}

void PersistentStore::allocate() {
  LT_ASSERT(!allocated_);
  int64_t offset = 0;
  for (const std::string& name : order_) {
    Entry& e = entries_[name];
    e.offset = offset;
    offset += align_up(e.spec.bytes());
  }
  arena_ = memory::Arena(offset, allocator_, what());
  allocated_ = true;
}

std::string PersistentStore::what() const {
  // Kinds in the order a reader expects them, whatever the declaration order.
  static constexpr std::pair<graph::ValueKind, const char*> kKinds[] = {
      {graph::ValueKind::kParameter, "parameters"},
      {graph::ValueKind::kGradient, "gradients"},
      {graph::ValueKind::kOptimizerState, "optimizer state"},
      {graph::ValueKind::kState, "batch-norm statistics"}};
  std::string kinds;
  for (const auto& entry : kKinds) {
    // (Not a structured binding: clang 14, the fuzz build's compiler, cannot capture one.)
    const graph::ValueKind kind = entry.first;
    const bool any = std::any_of(entries_.begin(), entries_.end(),
                                 [&](const auto& e) { return e.second.kind == kind; });
    if (!any) continue;
    kinds += kinds.empty() ? entry.second : internal::str_cat(", ", entry.second);
  }
  return kinds.empty() ? "persistent block" : internal::str_cat("persistent block (", kinds, ")");
}

TensorView PersistentStore::view(const std::string& name) const {
  auto it = entries_.find(name);
  LT_CHECK(it != entries_.end(), kNotFound, "no persistent tensor named '", name, "'");
  LT_CHECK(allocated_, kInternal, "persistent store used before allocate()");
  return TensorView(static_cast<std::byte*>(arena_.base()) + it->second.offset,
                    it->second.spec.dtype, it->second.spec.shape);
}

graph::ValueKind PersistentStore::kind(const std::string& name) const {
  auto it = entries_.find(name);
  LT_CHECK(it != entries_.end(), kNotFound, "no persistent tensor named '", name, "'");
  return it->second.kind;
}

int64_t PersistentStore::bytes_of(graph::ValueKind kind) const {
  int64_t total = 0;
  for (const auto& [name, e] : entries_) {
    if (e.kind == kind) total += e.spec.bytes();
  }
  return total;
}

SharedArena::SharedArena() : SharedArena(memory::Allocator::default_allocator()) {}

SharedArena::SharedArena(std::shared_ptr<memory::Allocator> allocator)
    : arena_(0, std::move(allocator), "step arena") {}

void SharedArena::reserve(int64_t bytes) { reserve(bytes, "step arena"); }

void SharedArena::reserve(int64_t bytes, const std::string& what) {
  if (bytes > arena_.bytes()) arena_.grow_to(bytes, what);
}

namespace {
// Every node's kernel for `g`, compiled with `options`, and the scratch each asks for.
void compile_kernels(const graph::Graph& g, const graph::KernelOptions& options,
                     std::vector<std::unique_ptr<graph::Kernel>>* kernels,
                     std::vector<int64_t>* scratch) {
  require_kernel_cpu_features();  // the kernels are built for x86-64-v3
  for (const graph::Node& node : g.nodes()) {
    std::vector<graph::TensorSpec> in, out;
    for (graph::ValueId v : node.inputs) in.push_back(g.value(v).spec);
    for (graph::ValueId v : node.outputs) out.push_back(g.value(v).spec);
    kernels->push_back(node.op->compile(in, out, options));
    scratch->push_back(kernels->back()->scratch_bytes());
  }
}
}  // namespace

int64_t planned_arena_bytes(const graph::Graph& graph, const graph::KernelOptions& options) {
  std::vector<std::unique_ptr<graph::Kernel>> kernels;
  std::vector<int64_t> scratch;
  compile_kernels(graph, options, &kernels, &scratch);
  return graph::plan_graph_memory(graph, scratch).arena_bytes();
}

Program::Program(graph::Graph graph, PersistentStore& store, SharedArena& arena,
                 const graph::KernelOptions& kernels)
    : graph_(std::move(graph)), store_(store), arena_(arena) {
  for (const graph::Value& v : graph_.values()) {
    if (!graph::is_persistent(v.kind)) continue;
    LT_CHECK(store_.contains(v.name), kInternal, "persistent tensor '", v.name,
             "' is not in the store");
    const TensorView stored = store_.view(v.name);
    LT_CHECK(stored.shape == v.spec.shape, kInvalidArgument, "'", v.name, "' has shape ",
             stored.shape.to_string(), " but the graph needs ", v.spec.shape.to_string());
  }
  compile_kernels(graph_, kernels, &kernels_, &scratch_);
  while (first_backward_ < kernels_.size() &&
         graph_.node(static_cast<graph::NodeId>(first_backward_)).phase !=
             graph::Phase::kBackward &&
         graph_.node(static_cast<graph::NodeId>(first_backward_)).phase != graph::Phase::kUpdate) {
    ++first_backward_;
  }
  plan_ = graph::plan_graph_memory(graph_, scratch_);
  arena_.reserve(plan_.arena_bytes(), describe_arena(graph_));
  bind();
}

Program::~Program() = default;

int64_t Program::scratch_bytes() const {
  int64_t total = 0;
  for (int64_t s : scratch_) total += s;
  return total;
}

void Program::bind() {
  std::byte* base = arena_.base();
  value_views_.assign(static_cast<size_t>(graph_.num_values()), TensorView());
  for (graph::ValueId v = 0; v < graph_.num_values(); ++v) {
    const graph::Value& value = graph_.value(v);
    if (graph::is_persistent(value.kind)) {
      value_views_[static_cast<size_t>(v)] = store_.view(value.name);
    } else {
      value_views_[static_cast<size_t>(v)] =
          TensorView(base + plan_.value_offset(v), value.spec.dtype, value.spec.shape);
    }
  }
  inputs_.assign(static_cast<size_t>(graph_.num_nodes()), {});
  outputs_.assign(static_cast<size_t>(graph_.num_nodes()), {});
  scratch_ptrs_.assign(static_cast<size_t>(graph_.num_nodes()), nullptr);
  for (graph::NodeId n = 0; n < graph_.num_nodes(); ++n) {
    const graph::Node& node = graph_.node(n);
    for (graph::ValueId v : node.inputs) {
      inputs_[static_cast<size_t>(n)].push_back(value_views_[static_cast<size_t>(v)]);
    }
    for (graph::ValueId v : node.outputs) {
      outputs_[static_cast<size_t>(n)].push_back(value_views_[static_cast<size_t>(v)]);
    }
    const int64_t offset = plan_.scratch_offset(n);
    if (offset >= 0) scratch_ptrs_[static_cast<size_t>(n)] = base + offset;
  }
  bound_base_ = base;
}

void Program::run(const graph::StepState& state, std::vector<double>* node_seconds) {
  if (arena_.base() != bound_base_) bind();
  if (node_seconds != nullptr) node_seconds->resize(kernels_.size(), 0.0);
  for (size_t n = 0; n < kernels_.size(); ++n) {
    graph::RunArgs args{inputs_[n], outputs_[n], scratch_ptrs_[n], &state};
    if (node_seconds == nullptr) {
      kernels_[n]->run(args);
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    kernels_[n]->run(args);
    (*node_seconds)[n] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
}

bool Program::run_if_loss_finite(const graph::StepState& state, const std::string& loss) {
  if (arena_.base() != bound_base_) bind();
  for (size_t n = 0; n < kernels_.size(); ++n) {
    if (n == first_backward_ && !std::isfinite(view(loss).f32()[0])) return false;
    kernels_[n]->run(graph::RunArgs{inputs_[n], outputs_[n], scratch_ptrs_[n], &state});
  }
  return true;
}

namespace {

bool all_finite(const TensorView& t) {
  if (t.dtype != DType::kF32) return true;
  const float* p = t.f32();
  return std::all_of(p, p + t.num_elements(), [](float v) { return std::isfinite(v); });
}

bool overlaps(const TensorView& a, const std::byte* begin, int64_t bytes) {
  const auto* p = static_cast<const std::byte*>(a.data);
  return p < begin + bytes && begin < p + a.bytes();
}

}  // namespace

graph::NodeId Program::first_non_finite_node(const graph::StepState& state) {
  if (arena_.base() != bound_base_) bind();
  const size_t guard = first_backward_;
  for (graph::ValueId v = 0; v < graph_.num_values(); ++v) {
    if (graph_.value(v).kind != graph::ValueKind::kInput) continue;
    const TensorView input = value_views_[static_cast<size_t>(v)];
    if (!all_finite(input)) return kNonFiniteInput;
    for (size_t n = 0; n < guard; ++n) {  // what the forward pass writes must leave it alone
      const auto* scratch = static_cast<const std::byte*>(scratch_ptrs_[n]);
      if (scratch != nullptr && overlaps(input, scratch, scratch_[n])) return kInputsOverwritten;
      for (const TensorView& out : outputs_[n]) {
        if (overlaps(input, static_cast<const std::byte*>(out.data), out.bytes())) {
          return kInputsOverwritten;
        }
      }
    }
  }
  // The forward pass moves batch-norm statistics: put them back afterwards.
  std::vector<std::pair<TensorView, std::vector<std::byte>>> saved;
  for (const graph::Value& value : graph_.values()) {
    if (value.kind != graph::ValueKind::kState) continue;
    const TensorView t = store_.view(value.name);
    const auto* p = static_cast<const std::byte*>(t.data);
    saved.emplace_back(t, std::vector<std::byte>(p, p + t.bytes()));
  }
  graph::NodeId found = -1;
  for (size_t n = 0; n < guard && found < 0; ++n) {
    kernels_[n]->run(graph::RunArgs{inputs_[n], outputs_[n], scratch_ptrs_[n], &state});
    if (!std::all_of(outputs_[n].begin(), outputs_[n].end(), all_finite)) {
      found = static_cast<graph::NodeId>(n);
    }
  }
  for (const auto& [view, bytes] : saved) std::memcpy(view.data, bytes.data(), bytes.size());
  return found;
}

TensorView Program::view(const std::string& name) {
  if (arena_.base() != bound_base_) bind();
  const graph::ValueId v = graph_.find(name);
  LT_CHECK(v != graph::kNoValue, kNotFound, "the program has no tensor named '", name, "'");
  return value_views_[static_cast<size_t>(v)];
}

bool Program::all_pointers_inside() const {
  auto inside = [&](const void* p, int64_t n) {
    return arena_.arena().contains(p, n) || store_.arena().contains(p, n);
  };
  for (size_t n = 0; n < kernels_.size(); ++n) {
    for (const TensorView& v : inputs_[n]) {
      if (!inside(v.data, v.bytes())) return false;
    }
    for (const TensorView& v : outputs_[n]) {
      if (!inside(v.data, v.bytes())) return false;
    }
    if (scratch_[n] > 0 && !inside(scratch_ptrs_[n], scratch_[n])) return false;
  }
  return true;
}

}  // namespace leantrain::runtime

// A compiled training or inference step: kernels in schedule order, every step-local tensor at
// a planned offset in one shared arena, every persistent tensor in the PersistentStore.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "leantrain/graph/graph.h"
#include "leantrain/graph/memory_plan.h"
#include "leantrain/memory/allocator.h"
#include "leantrain/memory/arena.h"

namespace leantrain::runtime {

// Parameters, their gradients, optimizer state and batch-norm statistics: one 64-byte-aligned
// block shared by every program of a model, found by value name. Declare everything, then
// allocate() once. Not thread-safe.
class PersistentStore {
 public:
  // Allocates through the default allocator: preallocate, no limit.
  PersistentStore();
  // Allocates through `allocator` (not null), which a model's SharedArena should share so that
  // one limit covers both.
  explicit PersistentStore(std::shared_ptr<memory::Allocator> allocator);

  // Declares a buffer; declaring the same name again with the same spec is a no-op, with another
  // spec an Error(kInvalidArgument). Throws Error(kInternal) after allocate().
  void declare(const std::string& name, const graph::TensorSpec& spec, graph::ValueKind kind);
  // Reserves the block through the allocator, zero-initialized (preallocate: zero-filled now;
  // grow: pages committed as they are first written). Names it in messages by the kinds it
  // holds, e.g. "persistent block (parameters, gradients, optimizer state)". Throws
  // Error(kOutOfBudget) from the allocator when its limit would be exceeded or the system
  // refuses.
  void allocate();
  bool allocated() const { return allocated_; }
  bool contains(const std::string& name) const { return entries_.contains(name); }
  // Returns the buffer's view; throws Error(kNotFound) for an undeclared name.
  TensorView view(const std::string& name) const;
  // Names in declaration order.
  const std::vector<std::string>& names() const { return order_; }
  graph::ValueKind kind(const std::string& name) const;
  // Bytes of all buffers of `kind` (without alignment padding).
  int64_t bytes_of(graph::ValueKind kind) const;
  // The whole block, alignment padding included.
  int64_t total_bytes() const { return arena_.bytes(); }
  const memory::Arena& arena() const { return arena_; }
  const std::shared_ptr<memory::Allocator>& allocator() const { return allocator_; }
  // What the block is called in messages: "persistent block (...)", the kinds declared so far.
  std::string what() const;

 private:
  struct Entry {
    graph::TensorSpec spec;
    graph::ValueKind kind;
    int64_t offset = 0;
  };
  std::map<std::string, Entry> entries_;
  std::vector<std::string> order_;
  std::shared_ptr<memory::Allocator> allocator_;
  memory::Arena arena_;
  bool allocated_ = false;
};

// The arena all programs of a model share (they never run at the same time), grown to the
// largest plan. Not thread-safe.
class SharedArena {
 public:
  // Reserves through the default allocator: preallocate, no limit.
  SharedArena();
  // Reserves through `allocator` (not null); share it with the model's PersistentStore.
  explicit SharedArena(std::shared_ptr<memory::Allocator> allocator);

  // Makes the arena at least `bytes` large: a larger request frees the old block and reserves a
  // new zero-initialized one (contents are not kept, nothing is copied; in grow mode the new
  // pages are committed as the kernels first touch them). `what` names the request in a refusal
  // and in the allocator's list of held blocks (e.g. "training step arena for batch 256"); the
  // first form says "step arena". Throws Error(kOutOfBudget) from the allocator when its limit
  // would be exceeded (the arena keeps its old block) or the system refuses.
  void reserve(int64_t bytes);
  void reserve(int64_t bytes, const std::string& what);
  std::byte* base() const { return static_cast<std::byte*>(arena_.base()); }
  int64_t bytes() const { return arena_.bytes(); }
  const memory::Arena& arena() const { return arena_; }
  const std::shared_ptr<memory::Allocator>& allocator() const { return arena_.allocator(); }

 private:
  memory::Arena arena_;
};

// One compiled step. Owns its graph and kernels; borrows the store and the arena, which must
// outlive it. run() does not allocate and does not throw (kernels were validated at compile
// time). Not thread-safe.
class Program {
 public:
  // Compiles every node's kernel as `kernels` chooses, plans the arena (verified), reserves it in
  // `arena`, and checks every persistent value of the graph is declared in `store` with the same
  // shape. The reservation is named after the graph: "training step arena for batch 32" when it
  // has update nodes, "evaluation step ..." when it has a loss, "prediction step ..." otherwise;
  // the batch is the leading dimension of its first input.
  // Throws Error(kInvalidArgument) for shape problems, Error(kInternal) for a bad plan,
  // Error(kOutOfBudget) when the arena's allocator refuses the reservation (its limit, or the
  // system): at compile time, never in run().
  Program(graph::Graph graph, PersistentStore& store, SharedArena& arena,
          const graph::KernelOptions& kernels = {});
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  // Runs every node in schedule order. When `node_seconds` is given, adds each node's wall time
  // to it (resized to the node count): a profile at the cost of two clock reads per node.
  void run(const graph::StepState& state, std::vector<double>* node_seconds = nullptr);
  // Runs the step as run() does, but reads the scalar `loss` once the forward and loss nodes
  // have run: when it is a NaN or an infinity, stops there and returns false, so that no
  // backward or update node runs and parameters and optimizer state keep their values (the
  // forward pass has updated batch-norm moving statistics, as in any training step).
  bool run_if_loss_finite(const graph::StepState& state, const std::string& loss = "loss");
  // Where the step's forward pass first produced a NaN or an infinity: runs the forward and loss
  // nodes again on the inputs as they are (after run_if_loss_finite returned false: the same
  // batch, parameters and state, so the same values) and checks every f32 output of each node
  // as it is produced. Returns the first such node, or -1 when every output is finite; -2 when
  // an input already holds one (the data), -3 when the step overwrote its inputs (an in-place
  // op on them) so that they cannot be run again. Batch-norm moving statistics are restored
  // after the run: it has no effect on the model.
  graph::NodeId first_non_finite_node(const graph::StepState& state);
  static constexpr graph::NodeId kNonFiniteInput = -2, kInputsOverwritten = -3;
  // The memory of value `name` (an input to fill, an output to read, or any tensor), valid until
  // another program grows the arena.
  TensorView view(const std::string& name);

  const graph::Graph& graph() const { return graph_; }
  const graph::GraphMemoryPlan& plan() const { return plan_; }
  int64_t arena_bytes() const { return plan_.arena_bytes(); }
  // Sum of the scratch every kernel asked for (each lives only during its own node).
  int64_t scratch_bytes() const;
  int64_t scratch_bytes(graph::NodeId n) const { return scratch_[static_cast<size_t>(n)]; }
  // True when every tensor and scratch pointer the kernels are given lies inside the arena or
  // the persistent store (tests assert it).
  bool all_pointers_inside() const;

 private:
  void bind();

  graph::Graph graph_;
  PersistentStore& store_;
  SharedArena& arena_;
  std::vector<std::unique_ptr<graph::Kernel>> kernels_;
  std::vector<int64_t> scratch_;
  size_t first_backward_ = 0;  // the first backward or update node: where the loss is checked
  graph::GraphMemoryPlan plan_;
  // Bound views, rebuilt when the arena moves.
  std::byte* bound_base_ = nullptr;
  std::vector<TensorView> value_views_;
  std::vector<std::vector<TensorView>> inputs_, outputs_;
  std::vector<void*> scratch_ptrs_;
};

// Planning without running: the arena a Program compiled from `graph` with `kernels` would
// reserve (Program::arena_bytes()), found without reserving or touching any arena memory. Compiles
// every node's kernel for its scratch size (as Program's constructor does; oneDNN's primitive
// cache makes a later Program of the same shapes cheaper), plans the step's buffers (verified)
// and drops the kernels. Used to choose between plans under a memory budget before committing
// memory to one. Throws Error(kInvalidArgument) for shape problems and Error(kInternal) for a bad
// plan, as Program's constructor does; never Error(kOutOfBudget). Needs no PersistentStore:
// persistent values are not part of the arena.
int64_t planned_arena_bytes(const graph::Graph& graph, const graph::KernelOptions& kernels = {});

}  // namespace leantrain::runtime

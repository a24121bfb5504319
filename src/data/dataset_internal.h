// Internals of the input pipeline: the node graph a Dataset describes, the iterators that run
// it, and the context one running pipeline shares (cancellation, byte accounting, stats).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "leantrain/data/dataset.h"

namespace leantrain::data::internal {

// Thrown inside a pipeline whose iterator is being destroyed, so that a thread blocked in an
// upstream stage gets out; caught at each worker thread's top. Never reaches the user.
struct Cancelled {};

class PipelineContext;

// Recycles the large tensor buffers of one running pipeline: a buffer freed anywhere (most
// often by the consumer, after copying an element into its batch) goes back to the pool, and
// the next allocation of the same size in any pipeline thread reuses it. Without it, a worker
// thread's freshly allocated image buffers are freed by another thread, glibc trims the
// worker's arena and every image faults its pages in again (measured: ~70 page faults per
// 224x224x3 f32 image with 2 workers, against ~9 in one thread).
// Footprint: a buffer is cached only after it was live, and reused before any new allocation,
// so live + cached bytes never exceed the most bytes that were live at once. Everything is
// freed when the pool goes (the iterator's end); buffers still held elsewhere then are freed
// normally by their last holder.
// Thread-safety: all methods may be called from any thread.
class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  // Buffers smaller than this come from malloc directly.
  static constexpr int64_t kMinPooledBytes = 16 * 1024;

  // Returns a buffer of `bytes` (uninitialized) that returns to this pool when released.
  std::shared_ptr<uint8_t[]> allocate(int64_t bytes);
  // The pool of the pipeline the calling thread works for, or null (see PoolScope).
  static BufferPool* current();

 private:
  friend class PoolScope;
  void give_back(uint8_t* block, int64_t bytes);

  std::mutex mu_;
  std::vector<std::pair<int64_t, std::unique_ptr<uint8_t[]>>> free_;  // guarded by mu_
};

// Makes `pool` the calling thread's current pool until the scope ends (pipeline threads and
// the consumer while it is inside next()).
class PoolScope {
 public:
  explicit PoolScope(BufferPool* pool);
  ~PoolScope();
  PoolScope(const PoolScope&) = delete;
  PoolScope& operator=(const PoolScope&) = delete;

 private:
  BufferPool* previous_;
};

// The counters of one buffering stage, registered with its pipeline's context for stats().
// Owned by the stage; its bytes are removed from the pipeline's total when it is destroyed.
// Thread-safety: all methods may be called from any thread.
class StageCounters {
 public:
  // static_element_bytes: the largest element the stage buffers if known in advance, else -1.
  StageCounters(PipelineContext& ctx, std::string name, int64_t capacity_elements,
                int64_t static_element_bytes, int64_t parallelism = 0);
  ~StageCounters();
  StageCounters(const StageCounters&) = delete;
  StageCounters& operator=(const StageCounters&) = delete;

  // Adds `bytes` (negative: removes) to the bytes held now, and to the pipeline's total.
  void add_bytes(int64_t bytes);
  // Records an element of `bytes` passing through (for the observed largest element).
  void saw_element(int64_t bytes);
  void set_capacity(int64_t elements) { capacity_.store(elements); }
  void set_parallelism(int64_t parallelism) { parallelism_.store(parallelism); }
  // Largest element: the static size when known, else the largest seen (0 before any).
  int64_t element_bytes() const;
  StageStats snapshot() const;

 private:
  PipelineContext& ctx_;
  std::string name_;
  int64_t static_element_bytes_;
  std::atomic<int64_t> capacity_, parallelism_;
  std::atomic<int64_t> bytes_{0}, largest_seen_{0};
};

// State shared by every stage of one running pipeline (one Iterator), including the datasets
// an interleave opens. Thread-safety: all methods may be called from any thread.
class PipelineContext {
 public:
  explicit PipelineContext(const DatasetOptions& options);

  const DatasetOptions& options() const { return options_; }
  BufferPool* pool() const { return pool_.get(); }
  // Threads an autotuned stage may use (options' autotune_cpu_budget, or the core count).
  int64_t cpu_budget() const;

  // Set once, when the iterator is destroyed: every blocked stage throws Cancelled.
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

  // Waits on `cv` (with `lock` held) until pred() holds. Throws Cancelled when the pipeline or
  // the stage (`stop`) is being torn down. Wakes every 20 ms to look at the flags, so a stage
  // blocked on another stage's condition variable never hangs a teardown.
  template <typename Pred>
  void wait(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
            const std::atomic<bool>& stop, Pred pred) const {
    while (!pred()) {
      if (cancelled_.load() || stop.load()) throw Cancelled{};
      cv.wait_for(lock, std::chrono::milliseconds(20));
    }
  }

  void add_buffered(int64_t bytes);
  void add_cache_bytes(int64_t bytes) { cache_bytes_.fetch_add(bytes); }
  // Reserves `bytes` of the autotune RAM budget; false (and nothing reserved) when it would
  // exceed it.
  bool try_reserve(int64_t bytes);
  void release(int64_t bytes) { reserved_.fetch_sub(bytes); }

  void record_skip(const std::string& reason);

  void register_stage(StageCounters* stage);
  void unregister_stage(StageCounters* stage);
  // Everything but `elements` and `wait_seconds`, which the Iterator keeps.
  PipelineStats snapshot() const;

 private:
  DatasetOptions options_;
  std::shared_ptr<BufferPool> pool_ = std::make_shared<BufferPool>();
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> buffered_{0}, peak_{0}, cache_bytes_{0}, reserved_{0};
  mutable std::mutex mu_;
  std::vector<StageCounters*> stages_;  // guarded by mu_
  int64_t skipped_ = 0;                 // guarded by mu_
  std::vector<std::string> skip_reasons_;
};

// Runs one stage. next() is called by one thread at a time (the stage's consumer).
class IteratorImpl {
 public:
  virtual ~IteratorImpl() = default;
  // Returns the next element or nullopt at the end; throws the stage's or an upstream error,
  // or Cancelled during teardown.
  virtual std::optional<Element> next() = 0;
};

// One stage of a pipeline description. Immutable once built; shared by Datasets and running
// iterators. Thread-safety: all methods are const and safe from any thread.
class DatasetNode {
 public:
  virtual ~DatasetNode() = default;
  // Creates the stage's iterator (and its inputs') for iteration `iteration`: a 64-bit id that
  // mixes the epoch and any enclosing repeat or interleave positions; seeds derive from it.
  virtual std::unique_ptr<IteratorImpl> make_iterator(PipelineContext& ctx,
                                                      uint64_t iteration) const = 0;
  virtual int64_t cardinality() const = 0;
  // Largest element this stage yields, in bytes; -1 when unknown in advance.
  virtual int64_t max_element_bytes() const = 0;
  // Bytes this stage alone may buffer when known in advance (0 for a stage without a buffer);
  // -1 when unknown.
  virtual int64_t own_buffer_bound(const DatasetOptions& /*options*/) const { return 0; }
  // "Shuffle(1000)".
  virtual std::string label() const = 0;
  // The stage it reads from, or null for a source.
  virtual const DatasetNode* input() const { return input_node().get(); }
  virtual std::shared_ptr<const DatasetNode> input_node() const { return nullptr; }
  // For move_prefetch_below_batch: a batch stage's size and drop_remainder, a prefetch
  // stage's buffer size.
  virtual std::optional<std::pair<int64_t, bool>> batch_params() const { return std::nullopt; }
  virtual std::optional<int64_t> prefetch_buffer() const { return std::nullopt; }
  // True for a stage that yields its input's elements, whole, unchanged in their leading size
  // (prefetch, repeat, take, skip, shard, filter, cache, shuffle) or that maps each element to
  // one (a map is assumed to keep a batch's rows): Dataset::batch_size() looks through these.
  virtual bool keeps_rows() const { return false; }
};

using NodePtr = std::shared_ptr<const DatasetNode>;

// A stage with one input.
class UnaryNode : public DatasetNode {
 public:
  explicit UnaryNode(NodePtr input) : input_(std::move(input)) {}
  NodePtr input_node() const override { return input_; }

 protected:
  NodePtr input_;
};

// A stage with a batch to assemble into caller memory (see Iterator::next_batch_into).
class BatchIteratorImpl : public IteratorImpl {
 public:
  // Writes the next batch into dst; returns its rows, 0 at the end.
  virtual int64_t next_into(const BatchDestination& dst) = 0;
};

// ---- Node factories (dataset_ops.cc, dataset_parallel.cc, dataset_cache.cc) ----------------

NodePtr make_slices_node(const Element& columns);
NodePtr make_range_node(int64_t start, int64_t stop, int64_t step);
NodePtr make_map_node(NodePtr input, MapFn fn, MapOptions options, uint64_t seed);
NodePtr make_filter_node(NodePtr input, PredicateFn predicate);
NodePtr make_shuffle_node(NodePtr input, int64_t buffer_size, uint64_t seed, bool reshuffle);
NodePtr make_batch_node(NodePtr input, int64_t batch_size, bool drop_remainder);
// unit: elements per prefetched item (1, or a batch size when a prefetch moved below a batch).
NodePtr make_prefetch_node(NodePtr input, int64_t buffer_size, int64_t unit = 1);
NodePtr make_cache_node(NodePtr input, const std::string& filename);
NodePtr make_repeat_node(NodePtr input, int64_t count);
NodePtr make_take_node(NodePtr input, int64_t count);
NodePtr make_skip_node(NodePtr input, int64_t count);
NodePtr make_shard_node(NodePtr input, int64_t num_shards, int64_t index);
NodePtr make_interleave_node(NodePtr input, InterleaveFn fn, int64_t cycle_length,
                             int64_t block_length, int64_t num_parallel_calls, bool deterministic);

// If `root` is batch(B).prefetch(n), returns batch(B) over a prefetch of n x B elements (the
// same bytes), so that the batch can be assembled straight into the consumer's memory; else
// returns root.
NodePtr move_prefetch_below_batch(const NodePtr& root);

// Shared pieces.

// Seeds: a 64-bit mix of a stage's seed and an id (iteration, element index).
uint64_t derive_seed(uint64_t seed, uint64_t id);
// The iteration id of a child iterator: repetition r of a repeat, element i of an interleave.
uint64_t child_iteration(uint64_t iteration, uint64_t salt, uint64_t position);
// A seed from std::random_device, for transformations given none (as tf.data does).
uint64_t random_seed();
// The element's file for messages: its "path" or "filename" string, else its first string
// feature, else "".
std::string element_file(const Element& element);
// Returns `error` with "<file>: " in front unless its message already names the file.
Error error_naming_file(const Error& error, const std::string& file);
// True when an error may be skipped by OnError::kSkip (every code but kInternal).
bool skippable(const Error& error);

// Copies row `row` of batch-shaped `dst` from `src` (shape equal to dst's without the leading
// axis), converting u8 to f32 when dst is f32. Requires validated shapes and dtypes.
void copy_into_row(const Tensor& src, const TensorView& dst, int64_t row);
// Checks that `dst` can take elements shaped like `element` in rows of `rows` (each tensor
// feature named in dst: dtype equal or u8 -> f32, shape (>= rows, element shape...)).
// Throws kInvalidArgument naming the feature, the shapes and dtypes.
void check_destination(const BatchDestination& dst, const Element& element, int64_t rows);

// Internal access to a Dataset's node.
struct DatasetAccess {
  static const NodePtr& node(const Dataset& dataset) { return dataset.node_; }
};

// Internal access to Tensor: the leading dimension of a tensor allocated for a full batch can
// be reduced when fewer elements arrive (the allocation stays).
struct TensorAccess {
  static void set_leading_dim(Tensor& tensor, int64_t rows);
};

}  // namespace leantrain::data::internal

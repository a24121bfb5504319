// A streaming, tf.data-like input pipeline whose memory stays bounded whatever the dataset's
// size: sources, composable transformations with tf.data's names and defaults, worker threads
// owned by the pipeline, and batches assembled straight into the memory the training step reads.
//
//   auto ds = Dataset::list_files("train/*.jpg", /*shuffle=*/true, /*seed=*/7)
//                 .map(load_and_augment, {.num_parallel_calls = kAutotune, .seed = 7})
//                 .batch(64, /*drop_remainder=*/true)
//                 .prefetch(kAutotune);
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     Iterator it = ds.iterate(epoch);
//     while (int64_t rows = it.next_batch_into({{"image", input_slot}, {"label", label_slot}}))
//       step(rows);
//     report(it.stats());
//   }
//
// A Dataset is an immutable description (cheap to copy, safe to share between threads); an
// Iterator runs it.
//
// Memory. Every buffer of a running pipeline has a bound in elements, and bytes = elements x the
// largest element (declared, known from the source, or else as seen):
//   shuffle(n)            n elements
//   prefetch(n)           n elements (batches after batch)
//   parallel map, p calls 2 x p elements in flight or ready, each an input and an output
//   interleave, parallel  cycle_length x block_length elements of the opened datasets
//   batch(B)              one batch being assembled (B elements)
//   cache() in memory     the whole dataset
// Dataset::max_buffered_bytes() adds them up before anything runs (when every size is known);
// Iterator::stats() reports what is held now, the peak and each stage's bound. Not counted:
// what a map function allocates while it runs (a decoded image per worker).
//
// Autotune (kAutotune), within DatasetOptions' budgets:
// - map: starts with 1 call; after every 8 elements handed out, if the consumer spent more than
//   10% of that time waiting for a result, one more call (up to the CPU budget) if the RAM
//   budget grants its 2 window elements. Never shrinks within an iteration.
// - prefetch: starts at 1 item; grows by one (up to 16) when the consumer finds the queue empty
//   although it had been full since the last growth, and at most a quarter of the requests
//   since then found it empty (a bursty input), if the RAM budget grants one more item. A
//   consistently slower input keeps its depth (its queue fills only while the consumer
//   pauses): more would not help.
// - interleave cycle_length / num_parallel_calls: the CPU budget.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "leantrain/core/dtype.h"
#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "leantrain/core/shape.h"
#include "leantrain/core/tensor.h"

namespace leantrain::data {

namespace internal {
struct TensorAccess;
}  // namespace internal

// tf.data.AUTOTUNE: pass as num_parallel_calls, cycle_length or a prefetch buffer size.
inline constexpr int64_t kAutotune = -1;
// Dataset::cardinality() results, as tf.data's.
inline constexpr int64_t kInfiniteCardinality = -1;
inline constexpr int64_t kUnknownCardinality = -2;

// A tensor of an element: a dtype, a shape and bytes. Copies share the bytes (cheap); writing
// through mutable_data() first copies them unless this tensor allocated them and is their only
// holder (copy-on-write), so a tensor read from a cache or an in-memory array is never changed
// behind another reader's back.
// Thread-safety: distinct Tensor objects may be used from distinct threads even when they share
// bytes; one Tensor object is not thread-safe.
class Tensor {
 public:
  // An empty tensor: no bytes, rank 0, f32.
  Tensor() = default;
  // Allocates zero-filled bytes for `shape`.
  Tensor(DType dtype, Shape shape);
  // Allocates bytes for `shape` without filling them: for a caller that writes every byte (a
  // decoder, a batch being assembled).
  static Tensor uninitialized(DType dtype, Shape shape);
  // Wraps `view`'s bytes without copying; `keep_alive` owns them and is held by every copy.
  // The bytes must not change while any copy lives.
  static Tensor borrow(const TensorView& view, std::shared_ptr<const void> keep_alive);
  // Returns a tensor holding `values` with `shape`; throws kInvalidArgument when the counts
  // differ.
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, Shape shape);
  // Returns a rank-0 tensor holding `value`.
  template <typename T>
  static Tensor scalar(T value) {
    return from_vector(std::vector<T>{value}, Shape());
  }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t num_elements() const { return shape_.num_elements(); }
  int64_t bytes() const { return num_elements() * dtype_size(dtype_); }
  bool empty() const { return data_ == nullptr; }

  const void* data() const { return data_; }
  // Returns writable bytes, copying them first when they are shared or borrowed.
  void* mutable_data();
  // Typed access; throws kInvalidArgument when T is not the tensor's dtype.
  template <typename T>
  const T* as() const {
    check_dtype(dtype_of<T>());
    return static_cast<const T*>(data_);
  }
  template <typename T>
  T* mutable_as() {
    check_dtype(dtype_of<T>());
    return static_cast<T*>(mutable_data());
  }
  // A read-only view (TensorView carries no const; callers must not write through it).
  TensorView view() const { return TensorView(const_cast<void*>(data_), dtype_, shape_); }

 private:
  friend struct internal::TensorAccess;
  void check_dtype(DType want) const;

  DType dtype_ = DType::kF32;
  Shape shape_;
  std::shared_ptr<const void> owner_;  // keeps data_ alive
  const void* data_ = nullptr;
  bool owns_ = false;  // data_ is an allocation of this tensor's own (may be written if unique)
};

// One element of a dataset: a small set of named tensors and named strings (a file path, a
// class name). Names are kept sorted. A string feature is a list (one string for a scalar, the
// batch's strings after batch()). Copying an element shares its tensors' bytes.
// Thread-safety: as for Tensor.
class Element {
 public:
  Element() = default;
  Element(std::initializer_list<std::pair<std::string, Tensor>> tensors);

  // Adds or replaces a tensor or a string feature.
  void set(const std::string& name, Tensor tensor);
  void set_string(const std::string& name, std::string value);
  void set_strings(const std::string& name, std::vector<std::string> values);
  // Removes a feature of either kind; no effect when absent.
  void erase(const std::string& name);

  bool has(const std::string& name) const;
  bool has_string(const std::string& name) const;
  // Return the named feature; throw kNotFound naming the features the element has.
  const Tensor& at(const std::string& name) const;
  Tensor& at(const std::string& name);
  const std::vector<std::string>& strings(const std::string& name) const;
  // The first string of the named string feature (a scalar string).
  const std::string& string(const std::string& name) const;

  const std::vector<std::pair<std::string, Tensor>>& tensors() const { return tensors_; }
  const std::vector<std::pair<std::string, std::vector<std::string>>>& string_features() const {
    return strings_;
  }
  // Bytes held: tensor bytes plus string characters.
  int64_t bytes() const;
  // "{image: u8 (28, 28, 1), label: i32 (), path: string[1]}".
  std::string describe() const;

 private:
  std::vector<std::pair<std::string, Tensor>> tensors_;
  std::vector<std::pair<std::string, std::vector<std::string>>> strings_;
};

// Where next_batch_into writes: one view per feature name, each (rows, element shape...),
// rows >= the batch size. The views' memory belongs to the caller (the program's input slot).
using BatchDestination = std::map<std::string, TensorView>;

// What a map function knows about the element it transforms.
struct ElementContext {
  // Position of the element in the map's input during this iteration (0, 1, 2, ...): the same
  // whatever the number of workers.
  int64_t index = 0;
  // A seed that depends only on (the map's seed, the iteration, index): augmentations drawn
  // from rng() are byte-identical with 1 or N workers.
  uint64_t seed = 0;
  Rng rng() const { return Rng(seed); }
};

using MapFn = std::function<Element(Element, const ElementContext&)>;
using PredicateFn = std::function<bool(const Element&)>;

// What a map does when its function throws a leantrain::Error of any code but kInternal.
// Other exceptions (a bug, std::bad_alloc) always reach the consumer.
enum class OnError {
  kRaise,  // the consumer's next() rethrows it, in the element's place (tf.data's default)
  kSkip,   // the element is dropped, counted and its reason kept for stats()
};

struct MapOptions {
  // 0: run in the consumer's thread (tf.data's None); n >= 1: n worker threads owned by the
  // iterator; kAutotune: up to DatasetOptions::autotune_cpu_budget threads, tuned (see the
  // file comment).
  int64_t num_parallel_calls = 0;
  // true: elements come out in input order (byte-identical with any number of workers);
  // false: a finished element may overtake a slower earlier one.
  bool deterministic = true;
  OnError on_error = OnError::kRaise;
  // Seed of ElementContext::seed; when absent, one is drawn from std::random_device when map()
  // is called (as tf.data does without a seed).
  std::optional<uint64_t> seed = std::nullopt;
  // Declared largest output element in bytes, for a static memory bound (max_buffered_bytes);
  // -1: unknown until elements are seen.
  int64_t max_output_bytes = -1;
};

// Pipeline-wide settings (tf.data.Options' autotune part).
struct DatasetOptions {
  // Autotuned stages never grow their buffers past this many bytes in total (sizes as observed
  // so far); each keeps at least one element (parallel map: one call) whatever the budget.
  int64_t autotune_ram_budget_bytes = int64_t{64} << 20;
  // Threads an autotuned map or interleave may use; 0: std::thread::hardware_concurrency().
  int64_t autotune_cpu_budget = 0;
};

// One buffering stage of a running pipeline.
struct StageStats {
  std::string name;               // "Shuffle", "Prefetch", "ParallelMap", ...
  int64_t capacity_elements = 0;  // the buffer's bound now (autotuned stages: current value)
  int64_t buffered_bytes = 0;     // bytes held now
  int64_t bound_bytes = 0;        // capacity_elements x largest element (declared or seen)
  int64_t parallelism = 0;        // worker calls allowed at once (0: no workers)
};

struct PipelineStats {
  static constexpr int kMaxSkipReasons = 16;
  int64_t elements = 0;  // elements (batches) returned by next()/next_batch_into()
  int64_t skipped = 0;   // elements dropped by OnError::kSkip, all stages
  std::vector<std::string> skipped_reasons;  // the first kMaxSkipReasons messages
  int64_t buffered_bytes = 0;                // bytes held by all buffers now
  int64_t peak_buffered_bytes = 0;           // the most they held at once
  int64_t max_buffered_bytes = 0;            // sum of the stages' bound_bytes (live stages)
  int64_t cache_bytes = 0;                   // bytes held by in-memory caches
  double wait_seconds = 0;  // time spent inside next()/next_batch_into() (waits and copies)
  std::vector<StageStats> stages;
};

class Dataset;
using InterleaveFn = std::function<Dataset(const Element&)>;

namespace internal {
class DatasetNode;
class IteratorState;
struct DatasetAccess;
}  // namespace internal

// Runs a Dataset once (one epoch). Owns the pipeline's worker threads.
// Destroying an iterator mid-epoch stops and joins every worker (no hang, no leak).
// Thread-safety: one consumer thread at a time; stats() may be called from any thread.
class Iterator {
 public:
  Iterator(Iterator&&) noexcept;
  Iterator& operator=(Iterator&&) noexcept;
  ~Iterator();

  // Returns the next element, or nullopt at the end. Rethrows, in the failing element's place,
  // the first error a source, a worker or a stage raised; once an iterator has failed, every
  // later call rethrows the same error.
  std::optional<Element> next();

  // Writes the next batch into `dst` and returns its number of rows (0 at the end). Each dst
  // view must be (rows, element shape...) with rows >= the batch size B (the batch's rows when
  // the dataset does not end in batch), of the element's dtype, or f32 for a u8 feature
  // (values converted exactly); element features absent from dst are ignored, a dst
  // name absent from the element is kInvalidArgument. Rows past the returned count hold
  // unspecified values (a remainder dropped by drop_remainder may have been written there).
  // When the dataset ends in batch(B) or batch(B).prefetch(n), the batch is assembled straight
  // into dst: the prefetch is moved below the batch (n batches become n x B elements, the same
  // bytes), so every element is copied once, into dst. Otherwise the element the dataset yields
  // (its leading axis is the rows) is copied into dst.
  // Throws what next() throws, and kInvalidArgument for a dst that does not fit.
  int64_t next_batch_into(const BatchDestination& dst);

  PipelineStats stats() const;
  // Bytes all buffers may hold: the sum of the live stages' bounds (see StageStats).
  int64_t max_buffered_bytes() const;

 private:
  friend class Dataset;
  explicit Iterator(std::unique_ptr<internal::IteratorState> state);
  std::unique_ptr<internal::IteratorState> state_;
};

// An immutable description of a pipeline. Transformations return new Datasets and leave this
// one unchanged. Thread-safety: a Dataset may be shared and iterated from several threads
// (each Iterator is separate; a cache() is filled by the first iteration that completes).
class Dataset {
 public:
  // ---- Sources ---------------------------------------------------------------------------

  // One element per index i along the leading axis of every feature of `columns`: tensor
  // features are sliced without copying (the element shares the column's bytes), string
  // features give one string each. Throws kInvalidArgument when columns is empty, a tensor has
  // rank 0, or the leading sizes differ (naming the features and sizes).
  static Dataset from_tensor_slices(const Element& columns);
  // Integers start, start+step, ... < stop (> stop for a negative step) as elements
  // {"value": i32 ()}. Throws kInvalidArgument when step is 0 or a value exceeds int32.
  static Dataset range(int64_t start, int64_t stop, int64_t step = 1);
  // The files matching `pattern` (glob(3): *, ?, [...] in any component) as elements
  // {"path": string}, sorted, then shuffled like tf.data.Dataset.list_files when `shuffle`
  // (a shuffle whose buffer holds every path, reshuffled each iteration; seed drawn from
  // std::random_device when absent). Throws kNotFound "No files matched pattern: ...".
  static Dataset list_files(const std::string& pattern, bool shuffle = true,
                            std::optional<uint64_t> seed = std::nullopt);

  // ---- Transformations (tf.data's names and defaults) ------------------------------------

  // Applies fn to every element. See MapOptions. An error that does not already name the
  // element's file is prefixed with it (the element's "path"/"filename" string, or its first
  // string feature): "a/b.jpg: truncated JPEG ...".
  Dataset map(MapFn fn, MapOptions options = {}) const;
  // The same for a function of the element alone: Element(Element).
  template <typename F>
  requires(!std::is_convertible_v<F, MapFn> && std::is_invocable_r_v<Element, F, Element>) Dataset
      map(F fn, MapOptions options = {})
  const {
    return map(
        MapFn([f = std::move(fn)](Element e, const ElementContext&) { return f(std::move(e)); }),
        std::move(options));
  }
  // Keeps the elements for which `predicate` is true (runs in the consumer's thread).
  Dataset filter(PredicateFn predicate) const;
  // tf.data's shuffle: fills a buffer of buffer_size elements, then repeatedly yields a
  // uniformly chosen buffered element and puts the next input element in its place; at the end
  // of the input it drains the buffer in random order. The order depends only on (seed,
  // iteration) when reshuffle_each_iteration, on seed alone otherwise. Throws kInvalidArgument
  // for buffer_size < 1.
  Dataset shuffle(int64_t buffer_size, std::optional<uint64_t> seed = std::nullopt,
                  bool reshuffle_each_iteration = true) const;
  // Stacks batch_size consecutive elements along a new leading axis (string features: their
  // lists concatenated). The last batch holds the remainder unless drop_remainder. Elements of
  // one batch must have the same features, dtypes and shapes (else kInvalidArgument naming the
  // feature and both shapes). Throws kInvalidArgument for batch_size < 1.
  Dataset batch(int64_t batch_size, bool drop_remainder = false) const;
  // Runs the input ahead in a thread of the iterator's own, holding up to buffer_size elements
  // (after batch(), batches). kAutotune: starts at 1 and grows by one when the consumer finds
  // the queue empty although it had been full since the last growth, and at most a quarter of
  // the requests since then found it empty (the input keeps up on average but comes in
  // bursts), up to 16 and within the RAM budget; an input that is simply slower than the
  // consumer gains nothing from a deeper queue and does not get one. Throws
  // kInvalidArgument for a negative buffer_size other than kAutotune; 0 means no prefetch.
  Dataset prefetch(int64_t buffer_size) const;
  // filename "": keeps the elements in memory once one iteration has read the input to its end
  // (an iteration stopped early keeps nothing); later iterations read the memory.
  // Otherwise: the first complete iteration writes the elements to a temporary file beside
  // `filename`, then fsyncs and renames it to `filename`; an unfinished iteration removes its
  // temporary file, so a partly written cache is never used. Once `filename` exists, iterations
  // read it (one element at a time) and ignore the input, as tf.data does: remove the file to
  // rebuild. A cache file that is corrupt or truncated raises kDataLoss naming it.
  Dataset cache(const std::string& filename = "") const;
  // Repeats the input count times; -1 forever (an empty input stays empty).
  Dataset repeat(int64_t count = -1) const;
  // The first count elements (-1 or more than there are: all).
  Dataset take(int64_t count) const;
  // All but the first count elements (-1: none).
  Dataset skip(int64_t count) const;
  // Element i is kept iff i % num_shards == index. Throws kInvalidArgument unless
  // 0 <= index < num_shards.
  Dataset shard(int64_t num_shards, int64_t index) const;
  // tf.data's interleave: opens the datasets fn returns for cycle_length input elements and
  // takes block_length elements from each in turn; an exhausted one is replaced by the next
  // input element's dataset when the cycle comes back to its slot. cycle_length kAutotune: the
  // CPU budget. num_parallel_calls >= 1 or kAutotune: each open dataset runs ahead in its own
  // thread (at most num_parallel_calls running at once), buffering up to block_length elements;
  // with deterministic the order is the sequential one, otherwise a slot with an element ready
  // may be served before a slower one.
  Dataset interleave(InterleaveFn fn, int64_t cycle_length = kAutotune, int64_t block_length = 1,
                     int64_t num_parallel_calls = 0, bool deterministic = true) const;
  // Returns this dataset with pipeline-wide options (the last call wins).
  Dataset with_options(const DatasetOptions& options) const;

  // ---- Facts -------------------------------------------------------------------------------

  // Number of elements (batches after batch()), kInfiniteCardinality or kUnknownCardinality
  // (after filter, a skipping map, or a source whose length is unknown).
  int64_t cardinality() const;
  // Largest element in bytes when every stage declares or knows it; -1 otherwise.
  int64_t max_element_bytes() const;
  // Bytes all buffers of an iteration may hold when every size is known in advance (sources,
  // maps with max_output_bytes); -1 otherwise (then use Iterator::max_buffered_bytes()).
  // Counts buffered elements, not a worker's working memory inside a map function.
  int64_t max_buffered_bytes() const;
  // B of the last batch(B), when only stages that keep the rows of its batches follow it:
  // prefetch, repeat, take, skip, shard, filter, cache, shuffle, and map (assumed to map a
  // batch to a batch of the same rows). nullopt otherwise (an unbatched dataset).
  std::optional<int64_t> batch_size() const;
  // The stages from source to output: "TensorSlices(10) -> ParallelMap(2) -> Batch(4)".
  std::string describe() const;
  const DatasetOptions& options() const { return *options_; }

  // ---- Iteration ---------------------------------------------------------------------------

  // An iterator over iteration `epoch`: shuffles and map seeds depend on it, so epochs differ
  // and a rerun of the same epoch is identical.
  Iterator iterate(int64_t epoch) const;
  // An iterator over the next iteration (0, 1, 2, ... counted per Dataset value and its
  // copies), as Python's iter(dataset).
  Iterator make_iterator() const;

  // Internal: wraps a node (used by sources in other files of this module).
  explicit Dataset(std::shared_ptr<const internal::DatasetNode> node);

 private:
  friend struct internal::DatasetAccess;
  Dataset(std::shared_ptr<const internal::DatasetNode> node,
          std::shared_ptr<const DatasetOptions> options);
  Dataset then(std::shared_ptr<const internal::DatasetNode> node) const;

  std::shared_ptr<const internal::DatasetNode> node_;
  std::shared_ptr<const DatasetOptions> options_;
  std::shared_ptr<std::atomic<int64_t>> iterations_;  // make_iterator()'s counter
};

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, Shape shape) {
  LT_CHECK(static_cast<int64_t>(values.size()) == shape.num_elements(), kInvalidArgument,
           "Tensor::from_vector: ", values.size(), " values for shape ", shape.to_string(),
           " which holds ", shape.num_elements());
  Tensor t(dtype_of<T>(), shape);
  if (!values.empty()) {
    std::memcpy(t.mutable_data(), values.data(), values.size() * sizeof(T));
  }
  return t;
}

}  // namespace leantrain::data

// The pipeline stages with worker threads: map (sequential or parallel, order-preserving when
// deterministic), prefetch, and interleave; and their autotuning.
#include <algorithm>
#include <deque>
#include <map>
#include <thread>

#include "dataset_internal.h"

namespace leantrain::data::internal {
namespace {

using leantrain::internal::str_cat;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kInterleaveSalt = 0x2545f4914f6cdd1dull;
// Autotuned map: results handed out per tuning decision, and the share of the window's wall
// time the consumer must have spent waiting for a result to add a parallel call.
constexpr int64_t kTuneWindow = 8;
constexpr double kTuneWaitShare = 0.10;
// Autotuned prefetch grows to at most this many items (batches when below a batch).
constexpr int64_t kMaxAutotunePrefetch = 16;

int64_t add_or_unknown(int64_t a, int64_t b) { return a < 0 || b < 0 ? -1 : a + b; }

// ---- map -----------------------------------------------------------------------------------

class MapNode final : public UnaryNode {
 public:
  bool keeps_rows() const override { return true; }
  MapNode(NodePtr input, MapFn fn, MapOptions options, uint64_t seed)
      : UnaryNode(std::move(input)),
        fn_(std::move(fn)),
        options_(std::move(options)),
        seed_(seed) {}

  std::unique_ptr<IteratorImpl> make_iterator(PipelineContext& ctx,
                                              uint64_t iteration) const override;
  int64_t cardinality() const override {
    const int64_t n = input_->cardinality();
    if (options_.on_error == OnError::kSkip && n != kInfiniteCardinality) {
      return kUnknownCardinality;
    }
    return n;
  }
  int64_t max_element_bytes() const override { return options_.max_output_bytes; }
  // Parallel: a window of 2 calls per thread, each holding an input and an output element.
  int64_t own_buffer_bound(const DatasetOptions& options) const override {
    if (options_.num_parallel_calls == 0) return 0;
    const int64_t per_call = add_or_unknown(input_->max_element_bytes(), max_element_bytes());
    if (per_call < 0) return -1;
    if (options_.num_parallel_calls > 0) return 2 * options_.num_parallel_calls * per_call;
    const int64_t threads = options.autotune_cpu_budget > 0
                                ? options.autotune_cpu_budget
                                : std::max<int64_t>(1, std::thread::hardware_concurrency());
    return std::min(2 * threads * per_call, 2 * per_call + options.autotune_ram_budget_bytes);
  }
  std::string label() const override {
    if (options_.num_parallel_calls == 0) return "Map";
    return options_.num_parallel_calls == kAutotune
               ? std::string("ParallelMap(autotune)")
               : str_cat("ParallelMap(", options_.num_parallel_calls, ")");
  }

  const MapOptions& options() const { return options_; }
  uint64_t iteration_seed(uint64_t iteration) const { return derive_seed(seed_, iteration); }

  // The outcome of one call of the function.
  struct Result {
    enum Kind { kValue, kSkipped, kError } kind = kValue;
    std::optional<Element> value;
    std::string skip_reason;
    std::exception_ptr error;
  };

  // Calls the function on element `index` of the iteration whose seed is iteration_seed.
  Result call(Element element, int64_t index, uint64_t iteration_seed) const {
    Result r;
    const std::string file = element_file(element);
    try {
      const ElementContext context{index,
                                   derive_seed(iteration_seed, static_cast<uint64_t>(index))};
      r.value = fn_(std::move(element), context);
    } catch (const Cancelled&) {
      throw;
    } catch (const Error& e) {
      const Error named = error_naming_file(e, file);
      if (options_.on_error == OnError::kSkip && skippable(e)) {
        r.kind = Result::kSkipped;
        r.skip_reason = named.what();
      } else {
        r.kind = Result::kError;
        r.error = std::make_exception_ptr(named);
      }
    } catch (...) {
      r.kind = Result::kError;
      r.error = std::current_exception();
    }
    return r;
  }

 private:
  MapFn fn_;
  MapOptions options_;
  uint64_t seed_;
};

// map with num_parallel_calls = 0: the function runs in the consumer's thread.
class SequentialMapIterator final : public IteratorImpl {
 public:
  SequentialMapIterator(PipelineContext& ctx, std::unique_ptr<IteratorImpl> input,
                        const MapNode& node, uint64_t iteration)
      : ctx_(ctx),
        input_(std::move(input)),
        node_(node),
        iteration_seed_(node.iteration_seed(iteration)) {}

  std::optional<Element> next() override {
    while (auto e = input_->next()) {
      MapNode::Result r = node_.call(std::move(*e), index_++, iteration_seed_);
      if (r.kind == MapNode::Result::kValue) return std::move(r.value);
      if (r.kind == MapNode::Result::kError) std::rethrow_exception(r.error);
      ctx_.record_skip(r.skip_reason);
    }
    return std::nullopt;
  }

 private:
  PipelineContext& ctx_;
  std::unique_ptr<IteratorImpl> input_;
  const MapNode& node_;
  uint64_t iteration_seed_;
  int64_t index_ = 0;
};

// map with worker threads.
// - Workers take input elements in turn (one pull at a time, under input_mu_, which also hands
//   out the sequence numbers, so element k of the input is always sequence k), run the
//   function without any lock, and file the result under its sequence number.
// - At most window() = 2 x parallelism elements are outstanding (pulled, not yet consumed):
//   the bound of the stage's memory. At most `parallelism` calls run at once.
// - Deterministic: the consumer takes sequence numbers in order, waiting for a slow one;
//   otherwise it takes the lowest finished one.
// - Errors (from the input or the function) are results like any other, rethrown by the
//   consumer in their element's place; after an input error no more input is pulled.
// - Autotune: parallelism starts at 1; after every kTuneWindow elements handed out, when the
//   consumer waited for more than kTuneWaitShare of the window's wall time, one call is added
//   if a thread is left and the RAM budget grants 2 more elements (input + output, largest
//   seen). It never shrinks within an iteration.
class ParallelMapIterator final : public IteratorImpl {
 public:
  ParallelMapIterator(PipelineContext& ctx, std::unique_ptr<IteratorImpl> input,
                      const MapNode& node, uint64_t iteration)
      : ctx_(ctx),
        input_(std::move(input)),
        node_(node),
        iteration_seed_(node.iteration_seed(iteration)),
        autotune_(node.options().num_parallel_calls == kAutotune),
        threads_max_(autotune_ ? ctx.cpu_budget() : node.options().num_parallel_calls),
        parallelism_(autotune_ ? 1 : threads_max_),
        counters_(ctx, "ParallelMap", 2 * parallelism_,
                  add_or_unknown(node.input()->max_element_bytes(), node.max_element_bytes()),
                  parallelism_) {
    window_start_ = Clock::now();
    try {
      for (int64_t i = 0; i < threads_max_; ++i) threads_.emplace_back([this] { work(); });
    } catch (...) {
      stop_threads();  // the destructor will not run
      throw;
    }
  }

  ~ParallelMapIterator() override {
    stop_threads();
    if (reserved_ > 0) ctx_.release(reserved_);
  }

  std::optional<Element> next() override {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (fatal_) std::rethrow_exception(fatal_);
      std::optional<Filed> taken;
      const bool deterministic = node_.options().deterministic;
      if (deterministic && end_seq_ >= 0 && consume_seq_ >= end_seq_) return std::nullopt;
      if (!deterministic && done_.empty() && input_done_ && outstanding_ == 0) {
        return std::nullopt;
      }
      auto ready = deterministic ? done_.find(consume_seq_) : done_.begin();
      if (ready == done_.end()) {
        const auto wait_start = Clock::now();
        ctx_.wait(lock, cv_, stop_, [&] {
          if (fatal_) return true;
          if (deterministic) {
            return done_.count(consume_seq_) > 0 || (end_seq_ >= 0 && consume_seq_ >= end_seq_);
          }
          return !done_.empty() || (input_done_ && outstanding_ == 0);
        });
        waited_ += Clock::now() - wait_start;
        continue;
      }
      Filed filed = std::move(ready->second);
      done_.erase(ready);
      if (deterministic) ++consume_seq_;
      --outstanding_;
      counters_.add_bytes(-filed.bytes);
      cv_.notify_all();
      MapNode::Result& r = filed.result;
      if (r.kind == MapNode::Result::kSkipped) {
        ctx_.record_skip(r.skip_reason);
        continue;
      }
      if (r.kind == MapNode::Result::kError) std::rethrow_exception(r.error);
      if (autotune_) tune();
      return std::move(r.value);
    }
  }

 private:
  struct Filed {
    MapNode::Result result;
    int64_t bytes = 0;
  };

  int64_t window() const { return 2 * parallelism_; }

  void stop_threads() {
    stop_.store(true);
    {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
    for (auto& t : threads_) t.join();
  }

  void work() {
    PoolScope pool(ctx_.pool());
    try {
      work_loop();
    } catch (const Cancelled&) {
      // Teardown: the iterator is going away and nobody waits for this thread's results.
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      fatal_ = std::current_exception();
      cv_.notify_all();
    }
  }

  void work_loop() {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        ctx_.wait(lock, cv_, stop_, [&] {
          return input_done_ || (outstanding_ < window() && running_ < parallelism_);
        });
        if (input_done_) return;
        ++outstanding_;
        ++running_;
      }
      int64_t seq = -1;
      std::optional<Element> in;
      std::exception_ptr in_error;
      {
        std::lock_guard<std::mutex> input_lock(input_mu_);
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (input_done_) {
            --outstanding_;
            --running_;
            cv_.notify_all();
            return;
          }
          seq = next_seq_++;
        }
        try {
          in = input_->next();
        } catch (const Cancelled&) {
          throw;
        } catch (...) {
          in_error = std::current_exception();
        }
        if (!in) {
          std::lock_guard<std::mutex> lock(mu_);
          input_done_ = true;
          --running_;
          if (in_error) {
            end_seq_ = seq + 1;
            Filed filed;
            filed.result.kind = MapNode::Result::kError;
            filed.result.error = in_error;
            done_.emplace(seq, std::move(filed));
          } else {
            end_seq_ = seq;
            --outstanding_;
          }
          cv_.notify_all();
          return;
        }
      }
      const int64_t in_bytes = in->bytes();
      counters_.add_bytes(in_bytes);
      Filed filed;
      filed.result = node_.call(std::move(*in), seq, iteration_seed_);
      filed.bytes = filed.result.value ? filed.result.value->bytes() : 0;
      counters_.saw_element(in_bytes + filed.bytes);
      counters_.add_bytes(filed.bytes - in_bytes);
      std::lock_guard<std::mutex> lock(mu_);
      done_.emplace(seq, std::move(filed));
      --running_;
      cv_.notify_all();
    }
  }

  // Called with mu_ held, after an element was handed out.
  void tune() {
    if (++window_elements_ < kTuneWindow) return;
    const auto now = Clock::now();
    const double wall = std::chrono::duration<double>(now - window_start_).count();
    const double waited = std::chrono::duration<double>(waited_).count();
    window_elements_ = 0;
    window_start_ = now;
    waited_ = Clock::duration::zero();
    if (parallelism_ >= threads_max_ || waited <= kTuneWaitShare * wall) return;
    const int64_t grant = 2 * counters_.element_bytes();
    if (!ctx_.try_reserve(grant)) return;
    reserved_ += grant;
    ++parallelism_;
    counters_.set_capacity(window());
    counters_.set_parallelism(parallelism_);
    cv_.notify_all();
  }

  PipelineContext& ctx_;
  std::unique_ptr<IteratorImpl> input_;
  const MapNode& node_;
  const uint64_t iteration_seed_;
  const bool autotune_;
  const int64_t threads_max_;

  std::mutex input_mu_;  // serializes input_->next() and the sequence numbers it hands out
  std::mutex mu_;        // guards everything below
  std::condition_variable cv_;
  std::map<int64_t, Filed> done_;  // finished results by sequence number, <= window()
  int64_t next_seq_ = 0, consume_seq_ = 0, end_seq_ = -1;
  int64_t outstanding_ = 0, running_ = 0;
  int64_t parallelism_;
  bool input_done_ = false;
  std::exception_ptr fatal_;  // a failure of the stage itself (not of an element)
  std::atomic<bool> stop_{false};

  // Autotune state (consumer thread, under mu_).
  int64_t window_elements_ = 0, reserved_ = 0;
  Clock::time_point window_start_;
  Clock::duration waited_{};

  StageCounters counters_;
  std::vector<std::thread> threads_;
};

std::unique_ptr<IteratorImpl> MapNode::make_iterator(PipelineContext& ctx,
                                                     uint64_t iteration) const {
  auto input = input_->make_iterator(ctx, iteration);
  if (options_.num_parallel_calls == 0) {
    return std::make_unique<SequentialMapIterator>(ctx, std::move(input), *this, iteration);
  }
  return std::make_unique<ParallelMapIterator>(ctx, std::move(input), *this, iteration);
}

// ---- prefetch ------------------------------------------------------------------------------

// Limits how many producers may pull from their inputs at once (interleave's
// num_parallel_calls). Thread-safety: all methods may be called from any thread.
class Permits {
 public:
  explicit Permits(int64_t count) : available_(count) {}
  void acquire(PipelineContext& ctx, const std::atomic<bool>& stop) {
    std::unique_lock<std::mutex> lock(mu_);
    ctx.wait(lock, cv_, stop, [&] { return available_ > 0; });
    --available_;
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    ++available_;
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t available_;
};

// Runs its input in a thread of its own, keeping up to depth_ elements ready.
// - The producer pulls while fewer than depth_ elements are queued; an error or the end is
//   queued like an element and stops the producer.
// - Autotune: depth starts at `unit` (one item). When the consumer finds the queue empty
//   although the producer had filled it since the last change, and since then at most a quarter
//   of at least 2 x depth requests found it empty (the producer keeps up on average, but the
//   queue is too shallow for its bursts), depth grows by one item (`unit` elements) up to
//   kMaxAutotunePrefetch items, if the RAM budget grants unit x the largest element seen. A
//   producer that is simply slower leaves the queue empty at most requests (the queue fills
//   only while the consumer happens to pause), so a deeper queue would not help: it stays.
class PrefetchIterator final : public IteratorImpl {
 public:
  // depth: elements (kAutotune to tune); permits: optional limit shared with other producers.
  PrefetchIterator(PipelineContext& ctx, std::unique_ptr<IteratorImpl> input, int64_t depth,
                   int64_t unit, const char* name, int64_t static_element_bytes,
                   Permits* permits = nullptr)
      : ctx_(ctx),
        input_(std::move(input)),
        autotune_(depth == kAutotune),
        unit_(unit),
        depth_(autotune_ ? unit : depth),
        permits_(permits),
        counters_(ctx, name, depth_, static_element_bytes) {
    producer_ = std::thread([this] { produce(); });
  }

  ~PrefetchIterator() override {
    stop_.store(true);
    {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
    producer_.join();
    if (reserved_ > 0) ctx_.release(reserved_);
  }

  std::optional<Element> next() override {
    std::unique_lock<std::mutex> lock(mu_);
    ++requests_since_growth_;
    if (queue_.empty()) {
      ++empty_since_growth_;
      if (autotune_ && filled_since_growth_ && requests_since_growth_ >= 2 * depth_ &&
          4 * empty_since_growth_ <= requests_since_growth_) {
        grow();
      }
      ctx_.wait(lock, cv_, stop_, [&] { return !queue_.empty(); });
    }
    return pop(lock);
  }

  // Non-blocking next(): false when nothing is queued yet; otherwise sets `out` as next() would
  // return it (or throws what it would throw).
  bool poll(std::optional<Element>& out) {
    std::unique_lock<std::mutex> lock(mu_);
    if (queue_.empty()) return false;
    out = pop(lock);
    return true;
  }

 private:
  struct Item {
    std::optional<Element> value;  // empty with no error: the end
    std::exception_ptr error;
    int64_t bytes = 0;
  };

  std::optional<Element> pop(std::unique_lock<std::mutex>&) {
    Item& front = queue_.front();
    if (!front.value && !front.error) return std::nullopt;  // the end stays queued
    Item item = std::move(front);
    queue_.pop_front();
    counters_.add_bytes(-item.bytes);
    cv_.notify_all();
    if (item.error) {
      // Keep failing: the producer has stopped.
      queue_.push_front(Item{std::nullopt, item.error, 0});
      std::rethrow_exception(item.error);
    }
    return std::move(item.value);
  }

  void produce() {
    PoolScope pool(ctx_.pool());
    try {
      for (;;) {
        {
          std::unique_lock<std::mutex> lock(mu_);
          ctx_.wait(lock, cv_, stop_, [&] { return static_cast<int64_t>(queue_.size()) < depth_; });
        }
        Item item;
        try {
          if (permits_ != nullptr) permits_->acquire(ctx_, stop_);
          struct Release {
            Permits* permits;
            ~Release() {
              if (permits != nullptr) permits->release();
            }
          } release{permits_};
          item.value = input_->next();
        } catch (const Cancelled&) {
          throw;
        } catch (...) {
          item.error = std::current_exception();
        }
        const bool last = !item.value;
        if (item.value) {
          item.bytes = item.value->bytes();
          counters_.saw_element(item.bytes);
          counters_.add_bytes(item.bytes);
        }
        std::lock_guard<std::mutex> lock(mu_);
        queue_.push_back(std::move(item));
        if (static_cast<int64_t>(queue_.size()) >= depth_) filled_since_growth_ = true;
        cv_.notify_all();
        if (last) return;
      }
    } catch (const Cancelled&) {
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(Item{std::nullopt, std::current_exception(), 0});
      cv_.notify_all();
    }
  }

  // Called with mu_ held.
  void grow() {
    filled_since_growth_ = false;
    requests_since_growth_ = empty_since_growth_ = 0;
    if (depth_ >= kMaxAutotunePrefetch * unit_) return;
    const int64_t grant = unit_ * counters_.element_bytes();
    if (!ctx_.try_reserve(grant)) return;
    reserved_ += grant;
    depth_ += unit_;
    counters_.set_capacity(depth_);
    cv_.notify_all();
  }

  PipelineContext& ctx_;
  std::unique_ptr<IteratorImpl> input_;
  const bool autotune_;
  const int64_t unit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // (<= depth_) elements ready, then possibly the end or an error
  int64_t depth_;
  int64_t reserved_ = 0;
  bool filled_since_growth_ = false;   // the queue reached depth_ since the last growth
  int64_t requests_since_growth_ = 0;  // next() calls since the last growth
  int64_t empty_since_growth_ = 0;     // ... that found the queue empty
  Permits* permits_;
  std::atomic<bool> stop_{false};
  StageCounters counters_;
  std::thread producer_;
};

class PrefetchNode final : public UnaryNode {
 public:
  bool keeps_rows() const override { return true; }
  PrefetchNode(NodePtr input, int64_t buffer_size, int64_t unit)
      : UnaryNode(std::move(input)), buffer_size_(buffer_size), unit_(unit) {}
  std::unique_ptr<IteratorImpl> make_iterator(PipelineContext& ctx,
                                              uint64_t iteration) const override {
    return std::make_unique<PrefetchIterator>(ctx, input_->make_iterator(ctx, iteration),
                                              buffer_size_, unit_, "Prefetch",
                                              input_->max_element_bytes());
  }
  int64_t cardinality() const override { return input_->cardinality(); }
  int64_t max_element_bytes() const override { return input_->max_element_bytes(); }
  // Autotuned: one item always, more only within the RAM budget.
  int64_t own_buffer_bound(const DatasetOptions& options) const override {
    const int64_t bytes = input_->max_element_bytes();
    if (bytes < 0) return -1;
    if (buffer_size_ != kAutotune) return buffer_size_ * bytes;
    return std::min(kMaxAutotunePrefetch * unit_ * bytes,
                    unit_ * bytes + options.autotune_ram_budget_bytes);
  }
  std::string label() const override {
    return buffer_size_ == kAutotune ? std::string("Prefetch(autotune)")
                                     : str_cat("Prefetch(", buffer_size_, ")");
  }
  std::optional<int64_t> prefetch_buffer() const override { return buffer_size_; }

 private:
  int64_t buffer_size_, unit_;
};

// ---- interleave ----------------------------------------------------------------------------

class InterleaveNode final : public UnaryNode {
 public:
  InterleaveNode(NodePtr input, InterleaveFn fn, int64_t cycle_length, int64_t block_length,
                 int64_t num_parallel_calls, bool deterministic)
      : UnaryNode(std::move(input)),
        fn_(std::move(fn)),
        cycle_length_(cycle_length),
        block_length_(block_length),
        num_parallel_calls_(num_parallel_calls),
        deterministic_(deterministic) {}
  std::unique_ptr<IteratorImpl> make_iterator(PipelineContext& ctx,
                                              uint64_t iteration) const override;
  int64_t cardinality() const override {
    return input_->cardinality() == 0 ? 0 : kUnknownCardinality;
  }
  int64_t max_element_bytes() const override { return -1; }
  int64_t own_buffer_bound(const DatasetOptions&) const override {
    return num_parallel_calls_ == 0 ? 0 : -1;
  }
  std::string label() const override {
    return str_cat(
        "Interleave(cycle ",
        cycle_length_ == kAutotune ? std::string("autotune") : std::to_string(cycle_length_),
        ", block ", block_length_, num_parallel_calls_ != 0 ? ", parallel" : "", ")");
  }

  const InterleaveFn& fn() const { return fn_; }
  int64_t cycle_length(const PipelineContext& ctx) const {
    return cycle_length_ == kAutotune ? ctx.cpu_budget() : cycle_length_;
  }
  int64_t block_length() const { return block_length_; }
  int64_t parallel_calls(const PipelineContext& ctx) const {
    return num_parallel_calls_ == kAutotune ? ctx.cpu_budget() : num_parallel_calls_;
  }
  bool deterministic() const { return deterministic_; }

 private:
  InterleaveFn fn_;
  int64_t cycle_length_, block_length_, num_parallel_calls_;
  bool deterministic_;
};

// tf.data's interleave order (InterleaveDatasetOp): a cycle of slots visited in turn, taking
// block_length elements from each; an empty slot is filled with the next input element's
// dataset when the cycle reaches it; an exhausted one is closed and the cycle moves on.
// Parallel: each open slot's dataset runs in a PrefetchIterator of block_length elements,
// with at most parallel_calls producers pulling at once.
class InterleaveIterator final : public IteratorImpl {
 public:
  InterleaveIterator(PipelineContext& ctx, std::unique_ptr<IteratorImpl> input,
                     const InterleaveNode& node, uint64_t iteration)
      : ctx_(ctx),
        input_(std::move(input)),
        node_(node),
        iteration_(iteration),
        parallel_(node.parallel_calls(ctx) > 0),
        slots_(static_cast<size_t>(node.cycle_length(ctx))) {
    if (parallel_) permits_ = std::make_unique<Permits>(node.parallel_calls(ctx));
  }

  ~InterleaveIterator() override {
    // Slots (and their producers) go before the permits they share.
    slots_.clear();
  }

  std::optional<Element> next() override {
    const auto cycle = static_cast<int64_t>(slots_.size());
    while (!end_of_input_ || num_open_ > 0) {
      Slot& slot = slots_[static_cast<size_t>(cycle_index_)];
      if (slot.iterator) {
        if (parallel_ && !node_.deterministic()) {
          if (auto served = serve_ready(cycle)) return served;
        }
        if (auto e = slot.iterator->next()) {
          advance_position(cycle);
          return e;
        }
        close(slot);
        advance_to_next_in_cycle(cycle);
      } else if (!end_of_input_) {
        std::optional<Element> in = input_->next();
        if (!in) {
          end_of_input_ = true;
          continue;
        }
        open(slot, *in);
      } else {
        advance_to_next_in_cycle(cycle);
      }
    }
    return std::nullopt;
  }

 private:
  struct Slot {
    NodePtr dataset;  // keeps the node the iterator reads alive
    std::unique_ptr<IteratorImpl> iterator;
    PrefetchIterator* prefetch = nullptr;  // iterator, when parallel
  };

  void open(Slot& slot, const Element& in) {
    Dataset dataset = [&] {
      try {
        return node_.fn()(in);
      } catch (const Error& e) {
        throw error_naming_file(e, element_file(in));
      }
    }();
    slot.dataset = DatasetAccess::node(dataset);
    auto it = slot.dataset->make_iterator(
        ctx_, child_iteration(iteration_, kInterleaveSalt, static_cast<uint64_t>(opened_++)));
    if (parallel_) {
      auto prefetch = std::make_unique<PrefetchIterator>(
          ctx_, std::move(it), node_.block_length(), 1, "InterleaveSlot",
          slot.dataset->max_element_bytes(), permits_.get());
      slot.prefetch = prefetch.get();
      it = std::move(prefetch);
    }
    slot.iterator = std::move(it);
    ++num_open_;
  }

  void close(Slot& slot) {
    slot.iterator.reset();
    slot.prefetch = nullptr;
    slot.dataset.reset();
    --num_open_;
  }

  // Non-deterministic: when the current slot has nothing ready, serves the first slot in cycle
  // order that has an element ready (and makes it the current slot).
  std::optional<Element> serve_ready(int64_t cycle) {
    std::optional<Element> out;
    if (slots_[static_cast<size_t>(cycle_index_)].prefetch->poll(out)) {
      if (out) advance_position(cycle);
      return out;  // nullopt: the current slot is exhausted; next() closes it
    }
    for (int64_t k = 1; k < cycle; ++k) {
      const int64_t index = (cycle_index_ + k) % cycle;
      Slot& other = slots_[static_cast<size_t>(index)];
      if (other.prefetch == nullptr) continue;
      if (other.prefetch->poll(out)) {
        if (!out) {
          close(other);
          continue;
        }
        cycle_index_ = index;
        block_index_ = 0;
        advance_position(cycle);
        return out;
      }
    }
    return std::nullopt;
  }

  void advance_position(int64_t cycle) {
    if (++block_index_ == node_.block_length()) advance_to_next_in_cycle(cycle);
  }
  void advance_to_next_in_cycle(int64_t cycle) {
    block_index_ = 0;
    cycle_index_ = (cycle_index_ + 1) % cycle;
  }

  PipelineContext& ctx_;
  std::unique_ptr<IteratorImpl> input_;
  const InterleaveNode& node_;
  const uint64_t iteration_;
  const bool parallel_;
  std::unique_ptr<Permits> permits_;
  std::vector<Slot> slots_;
  int64_t cycle_index_ = 0, block_index_ = 0, num_open_ = 0, opened_ = 0;
  bool end_of_input_ = false;
};

std::unique_ptr<IteratorImpl> InterleaveNode::make_iterator(PipelineContext& ctx,
                                                            uint64_t iteration) const {
  return std::make_unique<InterleaveIterator>(ctx, input_->make_iterator(ctx, iteration), *this,
                                              iteration);
}

}  // namespace

NodePtr make_map_node(NodePtr input, MapFn fn, MapOptions options, uint64_t seed) {
  return std::make_shared<MapNode>(std::move(input), std::move(fn), std::move(options), seed);
}

NodePtr make_prefetch_node(NodePtr input, int64_t buffer_size, int64_t unit) {
  return std::make_shared<PrefetchNode>(std::move(input), buffer_size, unit);
}

NodePtr make_interleave_node(NodePtr input, InterleaveFn fn, int64_t cycle_length,
                             int64_t block_length, int64_t num_parallel_calls, bool deterministic) {
  return std::make_shared<InterleaveNode>(std::move(input), std::move(fn), cycle_length,
                                          block_length, num_parallel_calls, deterministic);
}

}  // namespace leantrain::data::internal

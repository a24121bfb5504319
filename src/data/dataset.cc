// Tensor, Element, the Dataset front end, Iterator, and the pipeline context they share.
#include "leantrain/data/dataset.h"

#include <glob.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "dataset_internal.h"
#include "leantrain/core/cpu_features.h"
#include "leantrain/core/format.h"

namespace leantrain::data {
namespace internal {

using leantrain::internal::str_cat;

// ---- Shared helpers -----------------------------------------------------------------------

uint64_t derive_seed(uint64_t seed, uint64_t id) {
  return mix64(seed ^ mix64(id + 0x632be59bd9b4e019ull));
}

uint64_t child_iteration(uint64_t iteration, uint64_t salt, uint64_t position) {
  return mix64(iteration ^ mix64(salt ^ mix64(position)));
}

uint64_t random_seed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

std::string element_file(const Element& element) {
  for (const char* name : {"path", "filename"}) {
    if (element.has_string(name) && !element.strings(name).empty()) return element.string(name);
  }
  for (const auto& [name, values] : element.string_features()) {
    if (!values.empty()) return values.front();
  }
  return "";
}

Error error_naming_file(const Error& error, const std::string& file) {
  const std::string message = error.what();
  if (file.empty() || message.find(file) != std::string::npos) return error;
  return Error(error.code(), file + ": " + message);
}

bool skippable(const Error& error) { return error.code() != ErrorCode::kInternal; }

void copy_into_row(const Tensor& src, const TensorView& dst, int64_t row) {
  const int64_t n = src.num_elements();
  if (dst.dtype == src.dtype()) {
    const int64_t bytes = src.bytes();
    if (bytes > 0) std::memcpy(static_cast<uint8_t*>(dst.data) + row * bytes, src.data(), bytes);
    return;
  }
  LT_ASSERT(dst.dtype == DType::kF32 && src.dtype() == DType::kU8);
  const auto* in = static_cast<const uint8_t*>(src.data());
  float* out = static_cast<float*>(dst.data) + row * n;
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]);
}

namespace {
std::string shape_text(const Shape& shape) { return shape.to_string(); }

std::string feature_names(const Element& element) {
  std::string out;
  for (const auto& [name, t] : element.tensors()) out += (out.empty() ? "" : ", ") + name;
  for (const auto& [name, s] : element.string_features()) {
    out += (out.empty() ? "" : ", ") + name + " (string)";
  }
  return out.empty() ? "none" : out;
}
}  // namespace

void check_destination(const BatchDestination& dst, const Element& element, int64_t rows) {
  LT_CHECK(!dst.empty(), kInvalidArgument,
           "next_batch_into: the destination names no feature; pass a view for each of: ",
           feature_names(element));
  for (const auto& [name, view] : dst) {
    LT_CHECK(element.has(name), kInvalidArgument, "next_batch_into: destination '", name,
             "' is not a tensor feature of the elements, which have: ", feature_names(element));
    const Tensor& t = element.at(name);
    const bool dtype_ok =
        view.dtype == t.dtype() || (view.dtype == DType::kF32 && t.dtype() == DType::kU8);
    bool shape_ok = view.shape.rank() == t.shape().rank() + 1 && view.shape[0] >= rows;
    for (int i = 0; shape_ok && i < t.shape().rank(); ++i) {
      shape_ok = view.shape[i + 1] == t.shape()[i];
    }
    LT_CHECK(view.data != nullptr, kInvalidArgument, "next_batch_into: destination '", name,
             "' has no memory");
    LT_CHECK(
        dtype_ok && shape_ok, kInvalidArgument, "next_batch_into: destination '", name, "' is ",
        dtype_name(view.dtype), " ", shape_text(view.shape), ", but ", rows, " rows of ",
        dtype_name(t.dtype()), " ", shape_text(t.shape()), " elements need ", dtype_name(t.dtype()),
        t.dtype() == DType::kU8 ? " (or f32)" : "", " (>= ", rows, t.shape().rank() ? ", " : "",
        [&] {
          std::string dims;
          for (int i = 0; i < t.shape().rank(); ++i) {
            dims += (i ? ", " : "") + std::to_string(t.shape()[i]);
          }
          return dims;
        }(),
        ")");
  }
}

void TensorAccess::set_leading_dim(Tensor& tensor, int64_t rows) {
  LT_ASSERT(tensor.shape_.rank() >= 1 && rows <= tensor.shape_[0] && rows >= 0);
  tensor.shape_[0] = rows;
}

// ---- BufferPool --------------------------------------------------------------------------

namespace {
thread_local BufferPool* current_pool = nullptr;
}  // namespace

BufferPool* BufferPool::current() { return current_pool; }

PoolScope::PoolScope(BufferPool* pool) : previous_(current_pool) { current_pool = pool; }
PoolScope::~PoolScope() { current_pool = previous_; }

std::shared_ptr<uint8_t[]> BufferPool::allocate(int64_t bytes) {
  std::unique_ptr<uint8_t[]> block;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = free_.rbegin(); it != free_.rend(); ++it) {
      if (it->first == bytes) {
        block = std::move(it->second);
        free_.erase(std::next(it).base());
        break;
      }
    }
  }
  if (!block) block.reset(new uint8_t[static_cast<size_t>(bytes)]);
  std::weak_ptr<BufferPool> pool = weak_from_this();
  return std::shared_ptr<uint8_t[]>(block.release(), [pool, bytes](uint8_t* p) {
    if (auto alive = pool.lock()) {
      alive->give_back(p, bytes);
    } else {
      delete[] p;
    }
  });
}

void BufferPool::give_back(uint8_t* block, int64_t bytes) {
  std::unique_ptr<uint8_t[]> owned(block);
  std::lock_guard<std::mutex> lock(mu_);
  free_.emplace_back(bytes, std::move(owned));
}

// ---- StageCounters and PipelineContext ----------------------------------------------------

StageCounters::StageCounters(PipelineContext& ctx, std::string name, int64_t capacity_elements,
                             int64_t static_element_bytes, int64_t parallelism)
    : ctx_(ctx),
      name_(std::move(name)),
      static_element_bytes_(static_element_bytes),
      capacity_(capacity_elements),
      parallelism_(parallelism) {
  ctx_.register_stage(this);
}

StageCounters::~StageCounters() {
  ctx_.add_buffered(-bytes_.load());
  ctx_.unregister_stage(this);
}

void StageCounters::add_bytes(int64_t bytes) {
  bytes_.fetch_add(bytes);
  ctx_.add_buffered(bytes);
}

void StageCounters::saw_element(int64_t bytes) {
  int64_t seen = largest_seen_.load();
  while (bytes > seen && !largest_seen_.compare_exchange_weak(seen, bytes)) {
  }
}

int64_t StageCounters::element_bytes() const {
  return static_element_bytes_ >= 0 ? static_element_bytes_ : largest_seen_.load();
}

StageStats StageCounters::snapshot() const {
  StageStats s;
  s.name = name_;
  s.capacity_elements = capacity_.load();
  s.buffered_bytes = bytes_.load();
  s.bound_bytes = s.capacity_elements * element_bytes();
  s.parallelism = parallelism_.load();
  return s;
}

PipelineContext::PipelineContext(const DatasetOptions& options) : options_(options) {}

int64_t PipelineContext::cpu_budget() const {
  if (options_.autotune_cpu_budget > 0) return options_.autotune_cpu_budget;
  return std::max<int64_t>(1, std::thread::hardware_concurrency());
}

void PipelineContext::add_buffered(int64_t bytes) {
  const int64_t now = buffered_.fetch_add(bytes) + bytes;
  int64_t peak = peak_.load();
  while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
  }
}

bool PipelineContext::try_reserve(int64_t bytes) {
  int64_t reserved = reserved_.load();
  for (;;) {
    if (reserved + bytes > options_.autotune_ram_budget_bytes) return false;
    if (reserved_.compare_exchange_weak(reserved, reserved + bytes)) return true;
  }
}

void PipelineContext::record_skip(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++skipped_;
  if (static_cast<int>(skip_reasons_.size()) < PipelineStats::kMaxSkipReasons) {
    skip_reasons_.push_back(reason);
  }
}

void PipelineContext::register_stage(StageCounters* stage) {
  std::lock_guard<std::mutex> lock(mu_);
  stages_.push_back(stage);
}

void PipelineContext::unregister_stage(StageCounters* stage) {
  std::lock_guard<std::mutex> lock(mu_);
  stages_.erase(std::remove(stages_.begin(), stages_.end(), stage), stages_.end());
}

PipelineStats PipelineContext::snapshot() const {
  PipelineStats s;
  std::lock_guard<std::mutex> lock(mu_);
  s.skipped = skipped_;
  s.skipped_reasons = skip_reasons_;
  s.buffered_bytes = buffered_.load();
  s.peak_buffered_bytes = peak_.load();
  s.cache_bytes = cache_bytes_.load();
  for (const StageCounters* stage : stages_) {
    s.stages.push_back(stage->snapshot());
    s.max_buffered_bytes += s.stages.back().bound_bytes;
  }
  return s;
}

// ---- IteratorState ------------------------------------------------------------------------

// One running pipeline: its context, its stage tree and what the consumer has seen.
// Destruction cancels the context first, so every blocked stage lets go, then joins the
// stages' threads (each stage's destructor joins its own before its input is destroyed).
class IteratorState {
 public:
  IteratorState(const NodePtr& root, const DatasetOptions& options, uint64_t iteration)
      : root_(move_prefetch_below_batch(root)), ctx_(options) {
    impl_ = root_->make_iterator(ctx_, iteration);
    batch_ = dynamic_cast<BatchIteratorImpl*>(impl_.get());
  }
  ~IteratorState() {
    ctx_.cancel();
    impl_.reset();
  }

  std::optional<Element> next() {
    return run([&] { return impl_->next(); });
  }

  int64_t next_into(const BatchDestination& dst) {
    if (batch_ != nullptr) return run([&] { return batch_->next_into(dst); });
    std::optional<Element> element = next();
    if (!element) return 0;
    // The element already is a batch: its leading axis is the rows.
    int64_t rows = -1;
    for (const auto& [name, view] : dst) {
      LT_CHECK(element->has(name), kInvalidArgument, "next_batch_into: destination '", name,
               "' is not a tensor feature of the elements, which have: ", element->describe());
      const Tensor& t = element->at(name);
      LT_CHECK(t.shape().rank() >= 1, kInvalidArgument, "next_batch_into: feature '", name,
               "' is a scalar, not a batch; add .batch(n) to the dataset");
      LT_CHECK(rows < 0 || rows == t.shape()[0], kInvalidArgument,
               "next_batch_into: features disagree on the batch size (", rows, " and ",
               t.shape()[0], " for '", name, "')");
      rows = t.shape()[0];
    }
    // Check against one row, then copy the rows in one go.
    Element row_spec;
    for (const auto& [name, view] : dst) {
      const Tensor& t = element->at(name);
      std::vector<int64_t> dims(t.shape().dims().begin() + 1, t.shape().dims().end());
      row_spec.set(name, Tensor::borrow(TensorView(const_cast<void*>(t.data()), t.dtype(),
                                                   Shape(std::span<const int64_t>(dims))),
                                        nullptr));
    }
    check_destination(dst, row_spec, rows);
    for (const auto& [name, view] : dst) copy_into_row(element->at(name), view, 0);
    return rows;
  }

  PipelineStats stats() const {
    PipelineStats s = ctx_.snapshot();
    s.elements = elements_.load();
    s.wait_seconds = static_cast<double>(wait_ns_.load()) * 1e-9;
    return s;
  }

 private:
  // Runs one consumer call: rethrows an earlier failure, counts elements and time, remembers
  // a failure.
  template <typename F>
  auto run(F&& call) -> decltype(call()) {
    if (failed_) std::rethrow_exception(failed_);
    PoolScope pool(ctx_.pool());
    const auto start = std::chrono::steady_clock::now();
    try {
      auto result = call();
      wait_ns_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count());
      if (result) elements_.fetch_add(1);
      return result;
    } catch (const Cancelled&) {
      failed_ = std::make_exception_ptr(
          Error(ErrorCode::kInternal, "input pipeline: a stage was cancelled while in use"));
    } catch (...) {
      failed_ = std::current_exception();
    }
    std::rethrow_exception(failed_);
  }

  NodePtr root_;
  PipelineContext ctx_;
  std::unique_ptr<IteratorImpl> impl_;
  BatchIteratorImpl* batch_ = nullptr;
  std::exception_ptr failed_;
  std::atomic<int64_t> elements_{0}, wait_ns_{0};
};

}  // namespace internal

using internal::NodePtr;
using leantrain::internal::str_cat;

// ---- Tensor -------------------------------------------------------------------------------

Tensor::Tensor(DType dtype, Shape shape) : Tensor(uninitialized(dtype, shape)) {
  if (bytes() > 0) std::memset(const_cast<void*>(data_), 0, static_cast<size_t>(bytes()));
}

Tensor Tensor::uninitialized(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  const int64_t bytes = std::max<int64_t>(shape.num_elements() * dtype_size(dtype), 1);
  internal::BufferPool* pool = internal::BufferPool::current();
  auto storage = pool != nullptr && bytes >= internal::BufferPool::kMinPooledBytes
                     ? pool->allocate(bytes)
                     : std::make_shared_for_overwrite<uint8_t[]>(static_cast<size_t>(bytes));
  t.data_ = storage.get();
  t.owner_ = std::move(storage);
  t.owns_ = true;
  return t;
}

Tensor Tensor::borrow(const TensorView& view, std::shared_ptr<const void> keep_alive) {
  LT_CHECK(view.data != nullptr || view.num_elements() == 0, kInvalidArgument,
           "Tensor::borrow: a view of ", view.shape.to_string(), " without memory");
  Tensor t;
  t.dtype_ = view.dtype;
  t.shape_ = view.shape;
  t.owner_ = std::move(keep_alive);
  t.data_ = view.data;
  t.owns_ = false;
  if (t.data_ == nullptr) t = Tensor(view.dtype, view.shape);
  return t;
}

void* Tensor::mutable_data() {
  if (data_ == nullptr) return nullptr;
  if (!(owns_ && owner_.use_count() == 1)) {
    Tensor copy = uninitialized(dtype_, shape_);
    if (bytes() > 0) std::memcpy(const_cast<void*>(copy.data_), data_, bytes());
    *this = std::move(copy);
  }
  return const_cast<void*>(data_);
}

void Tensor::check_dtype(DType want) const {
  LT_CHECK(want == dtype_, kInvalidArgument, "tensor is ", dtype_name(dtype_), " ",
           shape_.to_string(), ", read as ", dtype_name(want));
}

// ---- Element ------------------------------------------------------------------------------

namespace {
template <typename V>
auto find_name(std::vector<std::pair<std::string, V>>& items, const std::string& name) {
  return std::lower_bound(items.begin(), items.end(), name,
                          [](const auto& item, const std::string& n) { return item.first < n; });
}
template <typename V>
auto find_name(const std::vector<std::pair<std::string, V>>& items, const std::string& name) {
  return std::lower_bound(items.begin(), items.end(), name,
                          [](const auto& item, const std::string& n) { return item.first < n; });
}
template <typename V>
void put(std::vector<std::pair<std::string, V>>& items, const std::string& name, V value) {
  auto it = find_name(items, name);
  if (it != items.end() && it->first == name) {
    it->second = std::move(value);
  } else {
    items.emplace(it, name, std::move(value));
  }
}
}  // namespace

Element::Element(std::initializer_list<std::pair<std::string, Tensor>> tensors) {
  for (const auto& [name, t] : tensors) set(name, t);
}

void Element::set(const std::string& name, Tensor tensor) {
  // A name is either a tensor or a string feature, never both.
  if (auto it = find_name(strings_, name); it != strings_.end() && it->first == name) {
    strings_.erase(it);
  }
  put(tensors_, name, std::move(tensor));
}

void Element::set_string(const std::string& name, std::string value) {
  set_strings(name, std::vector<std::string>{std::move(value)});
}

void Element::set_strings(const std::string& name, std::vector<std::string> values) {
  if (auto it = find_name(tensors_, name); it != tensors_.end() && it->first == name) {
    tensors_.erase(it);
  }
  put(strings_, name, std::move(values));
}

void Element::erase(const std::string& name) {
  if (auto it = find_name(tensors_, name); it != tensors_.end() && it->first == name) {
    tensors_.erase(it);
  }
  if (auto it = find_name(strings_, name); it != strings_.end() && it->first == name) {
    strings_.erase(it);
  }
}

bool Element::has(const std::string& name) const {
  auto it = find_name(tensors_, name);
  return it != tensors_.end() && it->first == name;
}

bool Element::has_string(const std::string& name) const {
  auto it = find_name(strings_, name);
  return it != strings_.end() && it->first == name;
}

const Tensor& Element::at(const std::string& name) const {
  auto it = find_name(tensors_, name);
  LT_CHECK(it != tensors_.end() && it->first == name, kNotFound, "element has no tensor '", name,
           "'; it has ", describe());
  return it->second;
}

Tensor& Element::at(const std::string& name) {
  auto it = find_name(tensors_, name);
  LT_CHECK(it != tensors_.end() && it->first == name, kNotFound, "element has no tensor '", name,
           "'; it has ", describe());
  return it->second;
}

const std::vector<std::string>& Element::strings(const std::string& name) const {
  auto it = find_name(strings_, name);
  LT_CHECK(it != strings_.end() && it->first == name, kNotFound, "element has no string '", name,
           "'; it has ", describe());
  return it->second;
}

const std::string& Element::string(const std::string& name) const {
  const auto& values = strings(name);
  LT_CHECK(!values.empty(), kNotFound, "string feature '", name, "' is empty");
  return values.front();
}

int64_t Element::bytes() const {
  int64_t total = 0;
  for (const auto& [name, t] : tensors_) total += t.bytes();
  for (const auto& [name, values] : strings_) {
    for (const auto& v : values) total += static_cast<int64_t>(v.size());
  }
  return total;
}

std::string Element::describe() const {
  std::string out = "{";
  bool first = true;
  for (const auto& [name, t] : tensors_) {
    out += (first ? "" : ", ") + name + ": " + dtype_name(t.dtype()) + " " + t.shape().to_string();
    first = false;
  }
  for (const auto& [name, values] : strings_) {
    out += (first ? "" : ", ") + name + ": string[" + std::to_string(values.size()) + "]";
    first = false;
  }
  return out + "}";
}

// ---- Dataset ------------------------------------------------------------------------------

Dataset::Dataset(std::shared_ptr<const internal::DatasetNode> node)
    : Dataset(std::move(node), std::make_shared<const DatasetOptions>()) {}

Dataset::Dataset(std::shared_ptr<const internal::DatasetNode> node,
                 std::shared_ptr<const DatasetOptions> options)
    : node_(std::move(node)),
      options_(std::move(options)),
      iterations_(std::make_shared<std::atomic<int64_t>>(0)) {}

Dataset Dataset::then(std::shared_ptr<const internal::DatasetNode> node) const {
  return Dataset(std::move(node), options_);
}

Dataset Dataset::from_tensor_slices(const Element& columns) {
  return Dataset(internal::make_slices_node(columns));
}

Dataset Dataset::range(int64_t start, int64_t stop, int64_t step) {
  return Dataset(internal::make_range_node(start, stop, step));
}

Dataset Dataset::list_files(const std::string& pattern, bool shuffle,
                            std::optional<uint64_t> seed) {
  glob_t matches{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &matches);
  std::vector<std::string> paths;
  if (rc == 0) {
    for (size_t i = 0; i < matches.gl_pathc; ++i) paths.emplace_back(matches.gl_pathv[i]);
  }
  globfree(&matches);
  LT_CHECK(rc != GLOB_NOSPACE && rc != GLOB_ABORTED, kIo,
           "list_files: cannot read the "
           "directories of pattern ",
           pattern);
  LT_CHECK(!paths.empty(), kNotFound, "No files matched pattern: ", pattern);
  std::sort(paths.begin(), paths.end());
  const int64_t n = static_cast<int64_t>(paths.size());
  Element columns;
  columns.set_strings("path", std::move(paths));
  Dataset ds = from_tensor_slices(columns);
  if (shuffle) ds = ds.shuffle(n, seed.has_value() ? seed : internal::random_seed(), true);
  return ds;
}

Dataset Dataset::map(MapFn fn, MapOptions options) const {
  LT_CHECK(fn != nullptr, kInvalidArgument, "map: the function is empty");
  LT_CHECK(options.num_parallel_calls >= 0 || options.num_parallel_calls == kAutotune,
           kInvalidArgument, "map: num_parallel_calls must be >= 0 or kAutotune, got ",
           options.num_parallel_calls);
  const uint64_t seed = options.seed.has_value() ? *options.seed : internal::random_seed();
  return then(internal::make_map_node(node_, std::move(fn), std::move(options), seed));
}

Dataset Dataset::filter(PredicateFn predicate) const {
  LT_CHECK(predicate != nullptr, kInvalidArgument, "filter: the predicate is empty");
  return then(internal::make_filter_node(node_, std::move(predicate)));
}

Dataset Dataset::shuffle(int64_t buffer_size, std::optional<uint64_t> seed,
                         bool reshuffle_each_iteration) const {
  LT_CHECK(buffer_size >= 1, kInvalidArgument, "shuffle: buffer_size must be >= 1, got ",
           buffer_size);
  return then(internal::make_shuffle_node(node_, buffer_size,
                                          seed.has_value() ? *seed : internal::random_seed(),
                                          reshuffle_each_iteration));
}

Dataset Dataset::batch(int64_t batch_size, bool drop_remainder) const {
  LT_CHECK(batch_size >= 1, kInvalidArgument, "batch: batch_size must be >= 1, got ", batch_size);
  return then(internal::make_batch_node(node_, batch_size, drop_remainder));
}

Dataset Dataset::prefetch(int64_t buffer_size) const {
  LT_CHECK(buffer_size >= 0 || buffer_size == kAutotune, kInvalidArgument,
           "prefetch: buffer_size must be >= 0 or kAutotune, got ", buffer_size);
  if (buffer_size == 0) return *this;
  return then(internal::make_prefetch_node(node_, buffer_size));
}

Dataset Dataset::cache(const std::string& filename) const {
  return then(internal::make_cache_node(node_, filename));
}

Dataset Dataset::repeat(int64_t count) const {
  LT_CHECK(count >= -1, kInvalidArgument, "repeat: count must be >= -1, got ", count);
  return then(internal::make_repeat_node(node_, count));
}

Dataset Dataset::take(int64_t count) const {
  LT_CHECK(count >= -1, kInvalidArgument, "take: count must be >= -1, got ", count);
  return then(internal::make_take_node(node_, count));
}

Dataset Dataset::skip(int64_t count) const {
  LT_CHECK(count >= -1, kInvalidArgument, "skip: count must be >= -1, got ", count);
  return then(internal::make_skip_node(node_, count));
}

Dataset Dataset::shard(int64_t num_shards, int64_t index) const {
  LT_CHECK(num_shards >= 1 && index >= 0 && index < num_shards, kInvalidArgument,
           "shard: need num_shards >= 1 and 0 <= index < num_shards, got num_shards ", num_shards,
           ", index ", index);
  return then(internal::make_shard_node(node_, num_shards, index));
}

Dataset Dataset::interleave(InterleaveFn fn, int64_t cycle_length, int64_t block_length,
                            int64_t num_parallel_calls, bool deterministic) const {
  LT_CHECK(fn != nullptr, kInvalidArgument, "interleave: the function is empty");
  LT_CHECK(cycle_length >= 1 || cycle_length == kAutotune, kInvalidArgument,
           "interleave: cycle_length must be >= 1 or kAutotune, got ", cycle_length);
  LT_CHECK(block_length >= 1, kInvalidArgument, "interleave: block_length must be >= 1, got ",
           block_length);
  LT_CHECK(num_parallel_calls >= 0 || num_parallel_calls == kAutotune, kInvalidArgument,
           "interleave: num_parallel_calls must be >= 0 or kAutotune, got ", num_parallel_calls);
  return then(internal::make_interleave_node(node_, std::move(fn), cycle_length, block_length,
                                             num_parallel_calls, deterministic));
}

Dataset Dataset::with_options(const DatasetOptions& options) const {
  LT_CHECK(options.autotune_ram_budget_bytes >= 0 && options.autotune_cpu_budget >= 0,
           kInvalidArgument, "with_options: budgets must be >= 0, got ram ",
           options.autotune_ram_budget_bytes, " bytes, cpu ", options.autotune_cpu_budget);
  return Dataset(node_, std::make_shared<const DatasetOptions>(options));
}

int64_t Dataset::cardinality() const { return node_->cardinality(); }

int64_t Dataset::max_element_bytes() const { return node_->max_element_bytes(); }

int64_t Dataset::max_buffered_bytes() const {
  int64_t total = 0;
  for (const internal::DatasetNode* n = node_.get(); n != nullptr; n = n->input()) {
    const int64_t own = n->own_buffer_bound(*options_);
    if (own < 0) return -1;
    total += own;
  }
  return total;
}

std::optional<int64_t> Dataset::batch_size() const {
  const internal::DatasetNode* n = node_.get();
  while (n != nullptr && n->keeps_rows()) n = n->input();
  if (n == nullptr) return std::nullopt;
  const auto params = n->batch_params();
  if (!params.has_value()) return std::nullopt;
  return params->first;
}

std::string Dataset::describe() const {
  std::vector<std::string> labels;
  for (const internal::DatasetNode* n = node_.get(); n != nullptr; n = n->input()) {
    labels.push_back(n->label());
  }
  std::string out;
  for (auto it = labels.rbegin(); it != labels.rend(); ++it) {
    out += (out.empty() ? "" : " -> ") + *it;
  }
  return out;
}

Iterator Dataset::iterate(int64_t epoch) const {
  require_kernel_cpu_features();  // image maps resize with code built for x86-64-v3
  LT_CHECK(epoch >= 0, kInvalidArgument, "iterate: epoch must be >= 0, got ", epoch);
  return Iterator(
      std::make_unique<internal::IteratorState>(node_, *options_, static_cast<uint64_t>(epoch)));
}

Iterator Dataset::make_iterator() const { return iterate(iterations_->fetch_add(1)); }

// ---- Iterator -----------------------------------------------------------------------------

Iterator::Iterator(std::unique_ptr<internal::IteratorState> state) : state_(std::move(state)) {}
Iterator::Iterator(Iterator&&) noexcept = default;
Iterator& Iterator::operator=(Iterator&&) noexcept = default;
Iterator::~Iterator() = default;

std::optional<Element> Iterator::next() {
  LT_CHECK(state_ != nullptr, kInvalidArgument, "next: the iterator was moved from");
  return state_->next();
}

int64_t Iterator::next_batch_into(const BatchDestination& dst) {
  LT_CHECK(state_ != nullptr, kInvalidArgument, "next_batch_into: the iterator was moved from");
  return state_->next_into(dst);
}

PipelineStats Iterator::stats() const {
  LT_CHECK(state_ != nullptr, kInvalidArgument, "stats: the iterator was moved from");
  return state_->stats();
}

int64_t Iterator::max_buffered_bytes() const { return stats().max_buffered_bytes; }

}  // namespace leantrain::data

// The pipeline stages that run in their consumer's thread: in-memory sources, filter, shuffle,
// batch, repeat, take, skip and shard.
#include <algorithm>
#include <cstring>
#include <limits>

#include "dataset_internal.h"

namespace leantrain::data::internal {
namespace {

using leantrain::internal::str_cat;

// Salts that keep the iteration ids of different kinds of child apart.
constexpr uint64_t kRepeatSalt = 0x5851f42d4c957f2dull;

int64_t times_or_unknown(int64_t a, int64_t b) {
  if (a < 0 || b < 0) return -1;
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) return -1;
  return a * b;
}

// ---- from_tensor_slices ------------------------------------------------------------------

class SlicesNode final : public DatasetNode {
 public:
  explicit SlicesNode(const Element& columns) {
    for (const auto& [name, t] : columns.tensors()) {
      LT_CHECK(t.shape().rank() >= 1, kInvalidArgument, "from_tensor_slices: feature '", name,
               "' is a scalar ", dtype_name(t.dtype()), " ", t.shape().to_string(),
               "; every feature needs a leading axis to slice");
      check_count(name, t.shape()[0]);
      columns_.emplace_back(name, std::make_shared<const Tensor>(t));
      std::vector<int64_t> dims(t.shape().dims().begin() + 1, t.shape().dims().end());
      row_shapes_.emplace_back(std::span<const int64_t>(dims));
      row_bytes_ += Shape(std::span<const int64_t>(dims)).num_elements() * dtype_size(t.dtype());
    }
    int64_t longest = 0;
    for (const auto& [name, values] : columns.string_features()) {
      check_count(name, static_cast<int64_t>(values.size()));
      // One buffer of characters and the offsets: a file list of 20,000 paths holds 1.9 MB
      // instead of 2.6 MB in separate strings (each with its own heap block).
      StringColumn column;
      column.name = name;
      column.offsets.reserve(values.size() + 1);
      column.offsets.push_back(0);
      size_t total = 0;
      for (const auto& v : values) total += v.size();
      column.chars.reserve(total);
      int64_t feature_longest = 0;
      for (const auto& v : values) {
        column.chars += v;
        column.offsets.push_back(static_cast<int64_t>(column.chars.size()));
        feature_longest = std::max<int64_t>(feature_longest, static_cast<int64_t>(v.size()));
      }
      strings_.push_back(std::move(column));
      longest += feature_longest;
    }
    LT_CHECK(count_ >= 0, kInvalidArgument,
             "from_tensor_slices: the element has no features to slice");
    max_bytes_ = row_bytes_ + longest;
  }

  std::unique_ptr<IteratorImpl> make_iterator(PipelineContext&, uint64_t) const override;
  int64_t cardinality() const override { return count_; }
  int64_t max_element_bytes() const override { return max_bytes_; }
  std::string label() const override { return str_cat("TensorSlices(", count_, ")"); }

  Element element(int64_t i) const {
    Element e;
    for (size_t f = 0; f < columns_.size(); ++f) {
      const auto& [name, column] = columns_[f];
      const Shape& row = row_shapes_[f];
      const int64_t bytes = row.num_elements() * dtype_size(column->dtype());
      const auto* base = static_cast<const uint8_t*>(column->data());
      e.set(name,
            Tensor::borrow(TensorView(const_cast<uint8_t*>(base + i * bytes), column->dtype(), row),
                           column));
    }
    for (const StringColumn& c : strings_) {
      const auto begin = static_cast<size_t>(c.offsets[static_cast<size_t>(i)]);
      const auto end = static_cast<size_t>(c.offsets[static_cast<size_t>(i) + 1]);
      e.set_string(c.name, c.chars.substr(begin, end - begin));
    }
    return e;
  }

 private:
  void check_count(const std::string& name, int64_t n) {
    LT_CHECK(count_ < 0 || count_ == n, kInvalidArgument,
             "from_tensor_slices: features disagree on the number of elements: '", first_name_,
             "' has ", count_, ", '", name, "' has ", n);
    if (count_ < 0) first_name_ = name;
    count_ = n;
  }

  int64_t count_ = -1;
  std::string first_name_;
  std::vector<std::pair<std::string, std::shared_ptr<const Tensor>>> columns_;
  std::vector<Shape> row_shapes_;
  struct StringColumn {
    std::string name;
    std::string chars;             // every string, back to back
    std::vector<int64_t> offsets;  // string i is chars[offsets[i], offsets[i + 1])
  };
  std::vector<StringColumn> strings_;
  int64_t row_bytes_ = 0, max_bytes_ = 0;
};

class SlicesIterator final : public IteratorImpl {
 public:
  explicit SlicesIterator(const SlicesNode& node) : node_(node) {}
  std::optional<Element> next() override {
    if (i_ >= node_.cardinality()) return std::nullopt;
    return node_.element(i_++);
  }

 private:
  const SlicesNode& node_;
  int64_t i_ = 0;
};

std::unique_ptr<IteratorImpl> SlicesNode::make_iterator(PipelineContext&, uint64_t) const {
  return std::make_unique<SlicesIterator>(*this);
}

// ---- range ---------------------------------------------------------------------------------

class RangeNode final : public DatasetNode {
 public:
  RangeNode(int64_t start, int64_t stop, int64_t step) : start_(start), stop_(stop), step_(step) {
    LT_CHECK(step != 0, kInvalidArgument, "range: step must not be 0");
    count_ = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                      : (start > stop ? (start - stop - step - 1) / -step : 0);
    const int64_t last = count_ > 0 ? start + (count_ - 1) * step : start;
    LT_CHECK(count_ == 0 || (std::min(start, last) >= std::numeric_limits<int32_t>::min() &&
                             std::max(start, last) <= std::numeric_limits<int32_t>::max()),
             kInvalidArgument, "range: values ", start, " .. ", last,
             " do not fit the i32 'value' feature");
  }
  std::unique_ptr<IteratorImpl> make_iterator(PipelineContext&, uint64_t) const override;
  int64_t cardinality() const override { return count_; }
  int64_t max_element_bytes() const override { return 4; }
  std::string label() const override { return str_cat("Range(", start_, ", ", stop_, ")"); }
  int64_t value(int64_t i) const { return start_ + i * step_; }

 private:
  int64_t start_, stop_, step_, count_;
};

class RangeIterator final : public IteratorImpl {
 public:
  explicit RangeIterator(const RangeNode& node) : node_(node) {}
  std::optional<Element> next() override {
    if (i_ >= node_.cardinality()) return std::nullopt;
    Element e;
    e.set("value", Tensor::scalar(static_cast<int32_t>(node_.value(i_++))));
    return e;
  }

 private:
  const RangeNode& node_;
  int64_t i_ = 0;
};

std::unique_ptr<IteratorImpl> RangeNode::make_iterator(PipelineContext&, uint64_t) const {
  return std::make_unique<RangeIterator>(*this);
}

// ---- filter --------------------------------------------------------------------------------

class FilterNode final : public UnaryNode {
 public:
  bool keeps_rows() const override { return true; }
  FilterNode(NodePtr input, PredicateFn predicate)
      : UnaryNode(std::move(input)), predicate_(std::move(predicate)) {}
  std::unique_ptr<IteratorImpl> make_iterator(PipelineContext& ctx,
                                              uint64_t iteration) const override;
  int64_t cardinality() const override {
    return input_->cardinality() == kInfiniteCardinality ? kInfiniteCardinality
                                                         : kUnknownCardinality;
  }
  int64_t max_element_bytes() const override { return input_->max_element_bytes(); }
  std::string label() const override { return "Filter"; }
  const PredicateFn& predicate() const { return predicate_; }

 private:
  PredicateFn predicate_;
};

class FilterIterator final : public IteratorImpl {
 public:
  FilterIterator(std::unique_ptr<IteratorImpl> input, const FilterNode& node)
      : input_(std::move(input)), node_(node) {}
  std::optional<Element> next() override {
    while (auto e = input_->next()) {
      bool keep;
      try {
        keep = node_.predicate()(*e);
      } catch (const Error& error) {
        throw error_naming_file(error, element_file(*e));
      }
      if (keep) return e;
    }
    return std::nullopt;
  }

 private:
  std::unique_ptr<IteratorImpl> input_;
  const FilterNode& node_;
};

std::unique_ptr<IteratorImpl> FilterNode::make_iterator(PipelineContext& ctx,
                                                        uint64_t iteration) const {
  return std::make_unique<FilterIterator>(input_->make_iterator(ctx, iteration), *this);
}

// ---- shuffle -------------------------------------------------------------------------------

class ShuffleNode final : public UnaryNode {
 public:
  bool keeps_rows() const override { return true; }
  ShuffleNode(NodePtr input, int64_t buffer_size, uint64_t seed, bool reshuffle)
      : UnaryNode(std::move(input)),
        buffer_size_(buffer_size),
        seed_(seed),
        reshuffle_(reshuffle) {}
  std::unique_ptr<IteratorImpl> make_iterator(PipelineContext& ctx,
                                              uint64_t iteration) const override;
  int64_t cardinality() const override { return input_->cardinality(); }
  int64_t max_element_bytes() const override { return input_->max_element_bytes(); }
  int64_t own_buffer_bound(const DatasetOptions&) const override {
    const int64_t n =
        input_->cardinality() >= 0 ? std::min(buffer_size_, input_->cardinality()) : buffer_size_;
    return times_or_unknown(n, input_->max_element_bytes());
  }
  std::string label() const override { return str_cat("Shuffle(", buffer_size_, ")"); }
  int64_t buffer_size() const { return buffer_size_; }
  uint64_t seed_for(uint64_t iteration) const {
    return reshuffle_ ? derive_seed(seed_, iteration) : derive_seed(seed_, 0x7fffffffull);
  }

 private:
  int64_t buffer_size_;
  uint64_t seed_;
  bool reshuffle_;
};

// Fills a buffer of buffer_size elements; each next() takes a uniformly chosen slot and refills
// it with the next input element (or, once the input is exhausted, with the last buffered
// element, shrinking the buffer). O(1) per element; holds buffer_size elements.
class ShuffleIterator final : public IteratorImpl {
 public:
  ShuffleIterator(PipelineContext& ctx, std::unique_ptr<IteratorImpl> input,
                  const ShuffleNode& node, uint64_t iteration)
      : input_(std::move(input)),
        node_(node),
        rng_(node.seed_for(iteration)),
        counters_(ctx, "Shuffle", node.buffer_size(), node.input()->max_element_bytes()) {}

  std::optional<Element> next() override {
    if (!filled_) {
      while (!input_done_ && static_cast<int64_t>(buffer_.size()) < node_.buffer_size()) {
        if (auto e = pull()) buffer_.push_back(std::move(*e));
      }
      filled_ = true;
    }
    if (buffer_.empty()) return std::nullopt;
    const auto j = static_cast<size_t>(rng_.below(buffer_.size()));
    Element out = std::move(buffer_[j]);
    counters_.add_bytes(-out.bytes());
    if (auto e = input_done_ ? std::nullopt : pull()) {
      buffer_[j] = std::move(*e);
    } else {
      buffer_[j] = std::move(buffer_.back());
      buffer_.pop_back();
    }
    return out;
  }

 private:
  std::optional<Element> pull() {
    auto e = input_->next();
    if (!e) {
      input_done_ = true;
      return e;
    }
    const int64_t bytes = e->bytes();
    counters_.saw_element(bytes);
    counters_.add_bytes(bytes);
    return e;
  }

  std::unique_ptr<IteratorImpl> input_;
  const ShuffleNode& node_;
  Rng rng_;
  StageCounters counters_;
  std::vector<Element> buffer_;  // (<= buffer_size) elements awaiting their turn
  bool filled_ = false, input_done_ = false;
};

std::unique_ptr<IteratorImpl> ShuffleNode::make_iterator(PipelineContext& ctx,
                                                         uint64_t iteration) const {
  return std::make_unique<ShuffleIterator>(ctx, input_->make_iterator(ctx, iteration), *this,
                                           iteration);
}

// ---- batch ---------------------------------------------------------------------------------

class BatchNode final : public UnaryNode {
 public:
  BatchNode(NodePtr input, int64_t batch_size, bool drop_remainder)
      : UnaryNode(std::move(input)), batch_size_(batch_size), drop_remainder_(drop_remainder) {}
  std::unique_ptr<IteratorImpl> make_iterator(PipelineContext& ctx,
                                              uint64_t iteration) const override;
  int64_t cardinality() const override {
    const int64_t n = input_->cardinality();
    if (n < 0) return n;
    return drop_remainder_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
  }
  int64_t max_element_bytes() const override {
    return times_or_unknown(batch_size_, input_->max_element_bytes());
  }
  // The batch being assembled (not counted when it is assembled into the caller's memory).
  int64_t own_buffer_bound(const DatasetOptions&) const override { return max_element_bytes(); }
  std::string label() const override {
    return str_cat("Batch(", batch_size_, drop_remainder_ ? ", drop_remainder" : "", ")");
  }
  std::optional<std::pair<int64_t, bool>> batch_params() const override {
    return std::make_pair(batch_size_, drop_remainder_);
  }
  int64_t batch_size() const { return batch_size_; }
  bool drop_remainder() const { return drop_remainder_; }

 private:
  int64_t batch_size_;
  bool drop_remainder_;
};

class BatchIterator final : public BatchIteratorImpl {
 public:
  BatchIterator(PipelineContext& ctx, std::unique_ptr<IteratorImpl> input, const BatchNode& node)
      : input_(std::move(input)),
        node_(node),
        counters_(ctx, "Batch", 1, node.max_element_bytes()) {}

  std::optional<Element> next() override {
    try {
      return assemble();
    } catch (...) {
      counters_.add_bytes(-bytes_);
      bytes_ = 0;
      throw;
    }
  }

  int64_t next_into(const BatchDestination& dst) override {
    const int64_t b = node_.batch_size();
    std::optional<Element> first;
    int64_t rows = 0;
    while (!ended_ && rows < b) {
      std::optional<Element> e = input_->next();
      if (!e) {
        ended_ = true;
        break;
      }
      if (rows == 0) {
        check_destination(dst, *e, b);
        first = std::move(e);
        for (const auto& [name, view] : dst) copy_into_row(first->at(name), view, 0);
      } else {
        check_same(*first, *e, rows);
        for (const auto& [name, view] : dst) copy_into_row(e->at(name), view, rows);
      }
      ++rows;
    }
    if (rows < b && node_.drop_remainder()) return 0;
    return rows;
  }

 private:
  // Pulls up to batch_size elements and copies each into its row of tensors allocated for a
  // full batch (B, element shape...); a short last batch keeps its allocation, with a smaller
  // leading dimension.
  std::optional<Element> assemble() {
    const int64_t b = node_.batch_size();
    std::vector<std::pair<std::string, Tensor>> tensors;
    std::vector<TensorView> rows_out;  // writable views of `tensors`
    std::vector<std::pair<std::string, std::vector<std::string>>> strings;
    std::optional<Element> first;
    int64_t rows = 0;
    while (!ended_ && rows < b) {
      std::optional<Element> e = input_->next();
      if (!e) {
        ended_ = true;
        break;
      }
      if (rows == 0) {
        for (const auto& [name, t] : e->tensors()) {
          std::vector<int64_t> dims{b};
          dims.insert(dims.end(), t.shape().dims().begin(), t.shape().dims().end());
          LT_CHECK(static_cast<int>(dims.size()) <= Shape::kMaxRank, kInvalidArgument,
                   "batch: feature '", name, "' of shape ", t.shape().to_string(),
                   " has the maximum rank already; a batch of it would exceed ", Shape::kMaxRank,
                   " dimensions");
          tensors.emplace_back(
              name, Tensor::uninitialized(t.dtype(), Shape(std::span<const int64_t>(dims))));
          Tensor& batch = tensors.back().second;
          rows_out.emplace_back(batch.mutable_data(), batch.dtype(), batch.shape());
          bytes_ += batch.bytes();
        }
        for (const auto& [name, values] : e->string_features()) strings.emplace_back(name, 0);
        counters_.add_bytes(bytes_);
        first = e;
      } else {
        check_same(*first, *e, rows);
      }
      for (size_t i = 0; i < tensors.size(); ++i) {
        copy_into_row(e->at(tensors[i].first), rows_out[i], rows);
      }
      for (auto& [name, all] : strings) {
        const auto& values = e->strings(name);
        all.insert(all.end(), values.begin(), values.end());
      }
      ++rows;
    }
    counters_.add_bytes(-bytes_);
    bytes_ = 0;
    if (rows == 0 || (rows < b && node_.drop_remainder())) return std::nullopt;
    Element out;
    for (auto& [name, t] : tensors) {
      if (rows < b) TensorAccess::set_leading_dim(t, rows);
      out.set(name, std::move(t));
    }
    for (auto& [name, all] : strings) out.set_strings(name, std::move(all));
    return out;
  }

  static void check_same(const Element& first, const Element& e, int64_t row) {
    bool same = first.tensors().size() == e.tensors().size() &&
                first.string_features().size() == e.string_features().size();
    for (size_t i = 0; same && i < first.tensors().size(); ++i) {
      same = first.tensors()[i].first == e.tensors()[i].first;
    }
    for (size_t i = 0; same && i < first.string_features().size(); ++i) {
      same = first.string_features()[i].first == e.string_features()[i].first;
    }
    LT_CHECK(same, kInvalidArgument, "batch: element ", row, " of a batch has features ",
             e.describe(), " but element 0 has ", first.describe());
    for (size_t i = 0; i < first.tensors().size(); ++i) {
      const auto& [name, a] = first.tensors()[i];
      const Tensor& t = e.tensors()[i].second;
      LT_CHECK(a.dtype() == t.dtype() && a.shape() == t.shape(), kInvalidArgument,
               "batch: element ", row, " of a batch has '", name, "' ", dtype_name(t.dtype()), " ",
               t.shape().to_string(), " but element 0 has ", dtype_name(a.dtype()), " ",
               a.shape().to_string(),
               "; give every element one shape (resize or crop) before batch");
    }
  }

  std::unique_ptr<IteratorImpl> input_;
  const BatchNode& node_;
  StageCounters counters_;
  int64_t bytes_ = 0;
  bool ended_ = false;
};

std::unique_ptr<IteratorImpl> BatchNode::make_iterator(PipelineContext& ctx,
                                                       uint64_t iteration) const {
  return std::make_unique<BatchIterator>(ctx, input_->make_iterator(ctx, iteration), *this);
}

// ---- repeat --------------------------------------------------------------------------------

class RepeatNode final : public UnaryNode {
 public:
  bool keeps_rows() const override { return true; }
  RepeatNode(NodePtr input, int64_t count) : UnaryNode(std::move(input)), count_(count) {}
  std::unique_ptr<IteratorImpl> make_iterator(PipelineContext& ctx,
                                              uint64_t iteration) const override;
  int64_t cardinality() const override {
    const int64_t n = input_->cardinality();
    if (count_ == 0 || n == 0) return 0;
    if (n == kInfiniteCardinality || count_ < 0) {
      return n == kUnknownCardinality ? kUnknownCardinality : kInfiniteCardinality;
    }
    if (n < 0) return n;
    const int64_t total = times_or_unknown(n, count_);
    return total < 0 ? kUnknownCardinality : total;
  }
  int64_t max_element_bytes() const override { return input_->max_element_bytes(); }
  std::string label() const override { return str_cat("Repeat(", count_, ")"); }
  int64_t count() const { return count_; }

 private:
  int64_t count_;
};

class RepeatIterator final : public IteratorImpl {
 public:
  RepeatIterator(PipelineContext& ctx, const RepeatNode& node, uint64_t iteration)
      : ctx_(ctx), node_(node), iteration_(iteration) {}
  std::optional<Element> next() override {
    for (;;) {
      if (!current_) {
        if (node_.count() >= 0 && repetition_ >= node_.count()) return std::nullopt;
        current_ = node_.input_node()->make_iterator(
            ctx_, child_iteration(iteration_, kRepeatSalt, static_cast<uint64_t>(repetition_)));
        fresh_ = true;
      }
      if (auto e = current_->next()) {
        fresh_ = false;
        return e;
      }
      current_.reset();
      ++repetition_;
      // An input that yields nothing would make repeat() spin forever: it stays empty.
      if (fresh_) {
        repetition_ = node_.count() >= 0 ? node_.count() : repetition_;
        return std::nullopt;
      }
    }
  }

 private:
  PipelineContext& ctx_;
  const RepeatNode& node_;
  uint64_t iteration_;
  std::unique_ptr<IteratorImpl> current_;
  int64_t repetition_ = 0;
  bool fresh_ = false;
};

std::unique_ptr<IteratorImpl> RepeatNode::make_iterator(PipelineContext& ctx,
                                                        uint64_t iteration) const {
  return std::make_unique<RepeatIterator>(ctx, *this, iteration);
}

// ---- take, skip, shard ---------------------------------------------------------------------

class TakeNode final : public UnaryNode {
 public:
  bool keeps_rows() const override { return true; }
  TakeNode(NodePtr input, int64_t count) : UnaryNode(std::move(input)), count_(count) {}
  std::unique_ptr<IteratorImpl> make_iterator(PipelineContext& ctx,
                                              uint64_t iteration) const override;
  int64_t cardinality() const override {
    const int64_t n = input_->cardinality();
    if (count_ < 0) return n;
    if (n == kInfiniteCardinality) return count_;
    if (n == kUnknownCardinality) return count_ == 0 ? 0 : kUnknownCardinality;
    return std::min(n, count_);
  }
  int64_t max_element_bytes() const override { return input_->max_element_bytes(); }
  std::string label() const override { return str_cat("Take(", count_, ")"); }
  int64_t count() const { return count_; }

 private:
  int64_t count_;
};

class TakeIterator final : public IteratorImpl {
 public:
  TakeIterator(std::unique_ptr<IteratorImpl> input, int64_t count)
      : input_(std::move(input)), count_(count) {}
  std::optional<Element> next() override {
    if (count_ >= 0 && taken_ >= count_) return std::nullopt;
    auto e = input_->next();
    if (e) ++taken_;
    return e;
  }

 private:
  std::unique_ptr<IteratorImpl> input_;
  int64_t count_, taken_ = 0;
};

std::unique_ptr<IteratorImpl> TakeNode::make_iterator(PipelineContext& ctx,
                                                      uint64_t iteration) const {
  return std::make_unique<TakeIterator>(input_->make_iterator(ctx, iteration), count_);
}

class SkipNode final : public UnaryNode {
 public:
  bool keeps_rows() const override { return true; }
  SkipNode(NodePtr input, int64_t count) : UnaryNode(std::move(input)), count_(count) {}
  std::unique_ptr<IteratorImpl> make_iterator(PipelineContext& ctx,
                                              uint64_t iteration) const override;
  int64_t cardinality() const override {
    const int64_t n = input_->cardinality();
    if (count_ < 0) return n == kInfiniteCardinality ? kInfiniteCardinality : 0;
    if (n < 0) return n;
    return std::max<int64_t>(0, n - count_);
  }
  int64_t max_element_bytes() const override { return input_->max_element_bytes(); }
  std::string label() const override { return str_cat("Skip(", count_, ")"); }

 private:
  int64_t count_;
};

class SkipIterator final : public IteratorImpl {
 public:
  SkipIterator(std::unique_ptr<IteratorImpl> input, int64_t count)
      : input_(std::move(input)), count_(count) {}
  std::optional<Element> next() override {
    while (count_ < 0 || skipped_ < count_) {
      if (!input_->next()) return std::nullopt;
      ++skipped_;
    }
    return input_->next();
  }

 private:
  std::unique_ptr<IteratorImpl> input_;
  int64_t count_, skipped_ = 0;
};

std::unique_ptr<IteratorImpl> SkipNode::make_iterator(PipelineContext& ctx,
                                                      uint64_t iteration) const {
  return std::make_unique<SkipIterator>(input_->make_iterator(ctx, iteration), count_);
}

class ShardNode final : public UnaryNode {
 public:
  bool keeps_rows() const override { return true; }
  ShardNode(NodePtr input, int64_t num_shards, int64_t index)
      : UnaryNode(std::move(input)), num_shards_(num_shards), index_(index) {}
  std::unique_ptr<IteratorImpl> make_iterator(PipelineContext& ctx,
                                              uint64_t iteration) const override;
  int64_t cardinality() const override {
    const int64_t n = input_->cardinality();
    if (n < 0) return n;
    return n / num_shards_ + (index_ < n % num_shards_ ? 1 : 0);
  }
  int64_t max_element_bytes() const override { return input_->max_element_bytes(); }
  std::string label() const override { return str_cat("Shard(", num_shards_, ", ", index_, ")"); }

 private:
  int64_t num_shards_, index_;
};

class ShardIterator final : public IteratorImpl {
 public:
  ShardIterator(std::unique_ptr<IteratorImpl> input, int64_t num_shards, int64_t index)
      : input_(std::move(input)), num_shards_(num_shards), index_(index) {}
  std::optional<Element> next() override {
    while (auto e = input_->next()) {
      if (position_++ % num_shards_ == index_) return e;
    }
    return std::nullopt;
  }

 private:
  std::unique_ptr<IteratorImpl> input_;
  int64_t num_shards_, index_, position_ = 0;
};

std::unique_ptr<IteratorImpl> ShardNode::make_iterator(PipelineContext& ctx,
                                                       uint64_t iteration) const {
  return std::make_unique<ShardIterator>(input_->make_iterator(ctx, iteration), num_shards_,
                                         index_);
}

}  // namespace

NodePtr make_slices_node(const Element& columns) { return std::make_shared<SlicesNode>(columns); }

NodePtr make_range_node(int64_t start, int64_t stop, int64_t step) {
  return std::make_shared<RangeNode>(start, stop, step);
}

NodePtr make_filter_node(NodePtr input, PredicateFn predicate) {
  return std::make_shared<FilterNode>(std::move(input), std::move(predicate));
}

NodePtr make_shuffle_node(NodePtr input, int64_t buffer_size, uint64_t seed, bool reshuffle) {
  return std::make_shared<ShuffleNode>(std::move(input), buffer_size, seed, reshuffle);
}

NodePtr make_batch_node(NodePtr input, int64_t batch_size, bool drop_remainder) {
  return std::make_shared<BatchNode>(std::move(input), batch_size, drop_remainder);
}

NodePtr make_repeat_node(NodePtr input, int64_t count) {
  return std::make_shared<RepeatNode>(std::move(input), count);
}

NodePtr make_take_node(NodePtr input, int64_t count) {
  return std::make_shared<TakeNode>(std::move(input), count);
}

NodePtr make_skip_node(NodePtr input, int64_t count) {
  return std::make_shared<SkipNode>(std::move(input), count);
}

NodePtr make_shard_node(NodePtr input, int64_t num_shards, int64_t index) {
  return std::make_shared<ShardNode>(std::move(input), num_shards, index);
}

NodePtr move_prefetch_below_batch(const NodePtr& root) {
  const std::optional<int64_t> prefetch = root->prefetch_buffer();
  if (!prefetch) return root;
  const NodePtr batch = root->input_node();
  const auto params = batch->batch_params();
  if (!params) return root;
  const auto [batch_size, drop_remainder] = *params;
  const int64_t elements = *prefetch == kAutotune ? kAutotune : *prefetch * batch_size;
  return make_batch_node(make_prefetch_node(batch->input_node(), elements, batch_size), batch_size,
                         drop_remainder);
}

}  // namespace leantrain::data::internal

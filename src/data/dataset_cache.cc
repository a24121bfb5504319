// cache(): elements kept in memory, or in a file written only by an iteration that completes.
//
// Cache file layout (little-endian):
//   "LTCACHE1"
//   per element: u64 payload_bytes, u32 crc32(payload), payload
//     payload: u32 tensors, per tensor: u32 name bytes, name, u8 dtype, u8 rank, i64 dims[rank],
//              the tensor's bytes; u32 string features, per feature: u32 name bytes, name,
//              u32 count, per string: u64 bytes, the string
//   end: u64 0xffffffffffffffff, u64 element count, u32 crc32(element count bytes)
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "dataset_internal.h"
#include "leantrain/core/format.h"

namespace leantrain::data::internal {
namespace {

using leantrain::internal::str_cat;

constexpr char kMagic[8] = {'L', 'T', 'C', 'A', 'C', 'H', 'E', '1'};
constexpr uint64_t kEndMarker = ~uint64_t{0};

// ---- In memory -----------------------------------------------------------------------------

// The elements of the first complete iteration, shared by every later iterator.
// Thread-safety: guarded by mu.
struct MemoryCache {
  std::mutex mu;
  std::shared_ptr<const std::vector<Element>> elements;  // set once complete
  int64_t bytes = 0;
  bool writing = false;  // an iterator is filling it
};

class MemoryCacheIterator final : public IteratorImpl {
 public:
  MemoryCacheIterator(PipelineContext& ctx, const NodePtr& input, MemoryCache& cache,
                      uint64_t iteration)
      : ctx_(ctx), cache_(cache) {
    std::lock_guard<std::mutex> lock(cache.mu);
    if (cache.elements) {
      elements_ = cache.elements;
      held_bytes_ = cache.bytes;
      ctx_.add_cache_bytes(held_bytes_);
      return;
    }
    writer_ = !cache.writing;
    cache.writing = cache.writing || writer_;
    input_ = input->make_iterator(ctx, iteration);
  }

  ~MemoryCacheIterator() override {
    ctx_.add_cache_bytes(-held_bytes_);
    if (writer_) {
      // Stopped before the end: what was read is discarded, as tf.data does.
      std::lock_guard<std::mutex> lock(cache_.mu);
      cache_.writing = false;
    }
  }

  std::optional<Element> next() override {
    if (elements_) {
      if (position_ >= elements_->size()) return std::nullopt;
      return (*elements_)[position_++];
    }
    std::optional<Element> e = input_->next();
    if (!writer_) return e;
    if (e) {
      const int64_t bytes = e->bytes();
      written_.push_back(*e);
      held_bytes_ += bytes;
      ctx_.add_cache_bytes(bytes);
      return e;
    }
    std::lock_guard<std::mutex> lock(cache_.mu);
    cache_.elements = std::make_shared<const std::vector<Element>>(std::move(written_));
    cache_.bytes = held_bytes_;
    cache_.writing = false;
    writer_ = false;
    return e;
  }

 private:
  PipelineContext& ctx_;
  MemoryCache& cache_;
  std::unique_ptr<IteratorImpl> input_;
  std::shared_ptr<const std::vector<Element>> elements_;  // reading a complete cache
  size_t position_ = 0;
  bool writer_ = false;
  std::vector<Element> written_;  // the elements read so far, when writing
  int64_t held_bytes_ = 0;
};

// ---- On disk -------------------------------------------------------------------------------

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

void put_u8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
template <typename T>
void put_le(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
  }
}
void put_name(std::string& out, const std::string& name) {
  put_le<uint32_t>(out, static_cast<uint32_t>(name.size()));
  out += name;
}

uint32_t crc_of(const void* data, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {
    const auto chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

std::string serialize(const Element& e) {
  std::string out;
  put_le<uint32_t>(out, static_cast<uint32_t>(e.tensors().size()));
  for (const auto& [name, t] : e.tensors()) {
    put_name(out, name);
    put_u8(out, static_cast<uint8_t>(t.dtype()));
    put_u8(out, static_cast<uint8_t>(t.shape().rank()));
    for (int64_t d : t.shape().dims()) put_le<int64_t>(out, d);
    out.append(static_cast<const char*>(t.data()), static_cast<size_t>(t.bytes()));
  }
  put_le<uint32_t>(out, static_cast<uint32_t>(e.string_features().size()));
  for (const auto& [name, values] : e.string_features()) {
    put_name(out, name);
    put_le<uint32_t>(out, static_cast<uint32_t>(values.size()));
    for (const auto& v : values) {
      put_le<uint64_t>(out, v.size());
      out += v;
    }
  }
  return out;
}

// Bounds-checked reading of one payload; every failure is kDataLoss naming the file.
class PayloadReader {
 public:
  PayloadReader(const std::string& path, const std::string& payload, int64_t element)
      : path_(path), data_(payload), element_(element) {}

  template <typename T>
  T le() {
    need(sizeof(T), "a number");
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    }
    pos_ += sizeof(T);
    return static_cast<T>(v);
  }
  std::string bytes(uint64_t n, const char* what) {
    need(n, what);
    std::string out = data_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return out;
  }
  const char* take(uint64_t n, const char* what) {
    need(n, what);
    const char* p = data_.data() + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }
  bool done() const { return pos_ == data_.size(); }
  [[noreturn]] void fail(const std::string& why) const {
    LT_CHECK(false, kDataLoss, path_, ": corrupt cache file (element ", element_, ": ", why,
             "); delete it and iterate again to rebuild the cache");
    std::abort();
  }

 private:
  void need(uint64_t n, const char* what) const {
    if (n > data_.size() - pos_) fail(str_cat(what, " runs past the end of the record"));
  }
  const std::string& path_;
  const std::string& data_;
  int64_t element_;
  size_t pos_ = 0;
};

Element deserialize(const std::string& path, const std::string& payload, int64_t index) {
  PayloadReader r(path, payload, index);
  Element e;
  const uint32_t tensors = r.le<uint32_t>();
  for (uint32_t i = 0; i < tensors; ++i) {
    const std::string name = r.bytes(r.le<uint32_t>(), "a feature name");
    const uint8_t dtype = r.le<uint8_t>();
    const uint8_t rank = r.le<uint8_t>();
    if (dtype > static_cast<uint8_t>(DType::kU8)) r.fail(str_cat("unknown dtype ", int{dtype}));
    if (rank > Shape::kMaxRank) r.fail(str_cat("rank ", int{rank}, " > ", Shape::kMaxRank));
    std::vector<int64_t> dims(rank);
    uint64_t elements = 1;
    for (auto& d : dims) {
      d = r.le<int64_t>();
      if (d < 0) r.fail(str_cat("negative dimension ", d));
      // A product past the record's size fails the bounds check below; stop it overflowing.
      elements = std::min<uint64_t>(elements * static_cast<uint64_t>(d), payload.size() + 1);
    }
    const auto dt = static_cast<DType>(dtype);
    const uint64_t nbytes = elements * static_cast<uint64_t>(dtype_size(dt));
    const char* src = r.take(nbytes, "tensor data");
    Tensor t = Tensor::uninitialized(dt, Shape(std::span<const int64_t>(dims)));
    if (nbytes > 0) std::memcpy(t.mutable_data(), src, static_cast<size_t>(nbytes));
    e.set(name, std::move(t));
  }
  const uint32_t features = r.le<uint32_t>();
  for (uint32_t i = 0; i < features; ++i) {
    const std::string name = r.bytes(r.le<uint32_t>(), "a feature name");
    const uint32_t count = r.le<uint32_t>();
    std::vector<std::string> values;
    for (uint32_t k = 0; k < count; ++k) values.push_back(r.bytes(r.le<uint64_t>(), "a string"));
    e.set_strings(name, std::move(values));
  }
  if (!r.done()) r.fail("bytes left over after the last feature");
  return e;
}

// Reads a complete cache file one element at a time.
class CacheFileReader {
 public:
  explicit CacheFileReader(const std::string& path) : path_(path) {
    file_.reset(std::fopen(path.c_str(), "rb"));
    LT_CHECK(file_ != nullptr, kIo, path, ": cannot open the cache file: ", std::strerror(errno));
    std::error_code ec;
    file_bytes_ = static_cast<int64_t>(std::filesystem::file_size(path, ec));
    char magic[8];
    LT_CHECK(read(magic, 8) && std::memcmp(magic, kMagic, 8) == 0, kDataLoss, path,
             ": not a leantrain cache file (bad magic); delete it and iterate again to rebuild "
             "the cache");
  }

  std::optional<Element> next() {
    if (ended_) return std::nullopt;
    uint8_t head[12];
    truncated_unless(read(head, 8), "a record header");
    const uint64_t size = le64(head);
    if (size == kEndMarker) {
      uint8_t tail[12];
      truncated_unless(read(tail, 12), "the end record");
      const uint64_t count = le64(tail);
      LT_CHECK(le32(tail + 8) == crc_of(tail, 8) && count == static_cast<uint64_t>(index_),
               kDataLoss, path_, ": corrupt cache file (its end record counts ", count,
               " elements, ", index_,
               " were read); delete it and iterate again to rebuild the cache");
      ended_ = true;
      return std::nullopt;
    }
    truncated_unless(read(head + 8, 4), "a record header");
    const auto remaining = static_cast<uint64_t>(std::max<int64_t>(0, file_bytes_ - offset_));
    truncated_unless(size <= remaining, "an element record");
    std::string payload(static_cast<size_t>(size), '\0');
    truncated_unless(read(payload.data(), size), "an element record");
    LT_CHECK(crc_of(payload.data(), payload.size()) == le32(head + 8), kDataLoss, path_,
             ": corrupt cache file (element ", index_,
             " fails its CRC check); delete it and iterate again to rebuild the cache");
    return deserialize(path_, payload, index_++);
  }

 private:
  static uint64_t le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
  }
  static uint32_t le32(const uint8_t* p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
    return v;
  }
  bool read(void* dst, uint64_t n) {
    const size_t got = std::fread(dst, 1, static_cast<size_t>(n), file_.get());
    LT_CHECK(!std::ferror(file_.get()), kIo, path_, ": read failed: ", std::strerror(errno));
    offset_ += static_cast<int64_t>(got);
    return got == n;
  }
  void truncated_unless(bool ok, const char* what) const {
    LT_CHECK(ok, kDataLoss, path_, ": truncated cache file (", what, " of element ", index_,
             " runs past the end, at byte ", with_commas(offset_),
             "); delete it and iterate again to rebuild the cache");
  }

  std::string path_;
  File file_;
  int64_t file_bytes_ = 0, offset_ = 0, index_ = 0;
  bool ended_ = false;
};

// Writes elements to a temporary file beside the cache file; finish() makes it the cache file
// atomically (fsync, rename, fsync of the directory); destroying it unfinished removes it.
class CacheFileWriter {
 public:
  explicit CacheFileWriter(const std::string& path) : path_(path) {
    static std::atomic<uint64_t> counter{0};
    temp_path_ =
        str_cat(path, ".tmp-", ::getpid(), "-", counter.fetch_add(1), "-", random_seed() % 1000000);
    file_.reset(std::fopen(temp_path_.c_str(), "wb"));
    if (file_ == nullptr) {
      const int err = errno;
      throw Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                  str_cat("cache(", path, "): cannot create ", temp_path_, ": ", std::strerror(err),
                          err == ENOENT ? " (does the directory exist?)" : ""));
    }
    write(kMagic, 8);
  }
  ~CacheFileWriter() {
    if (!finished_) {
      file_.reset();
      std::remove(temp_path_.c_str());
    }
  }

  void add(const Element& e) {
    const std::string payload = serialize(e);
    std::string head;
    put_le<uint64_t>(head, payload.size());
    put_le<uint32_t>(head, crc_of(payload.data(), payload.size()));
    write(head.data(), head.size());
    write(payload.data(), payload.size());
    ++count_;
  }

  void finish() {
    std::string tail;
    put_le<uint64_t>(tail, kEndMarker);
    std::string count;
    put_le<uint64_t>(count, static_cast<uint64_t>(count_));
    tail += count;
    put_le<uint32_t>(tail, crc_of(count.data(), count.size()));
    write(tail.data(), tail.size());
    LT_CHECK(std::fflush(file_.get()) == 0 && ::fsync(::fileno(file_.get())) == 0, kIo, temp_path_,
             ": cannot flush the cache file: ", std::strerror(errno));
    LT_CHECK(std::fclose(file_.release()) == 0, kIo, temp_path_,
             ": cannot close the cache file: ", std::strerror(errno));
    LT_CHECK(std::rename(temp_path_.c_str(), path_.c_str()) == 0, kIo, "cannot rename ", temp_path_,
             " to ", path_, ": ", std::strerror(errno));
    finished_ = true;
    const std::filesystem::path dir = std::filesystem::path(path_).parent_path();
    const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }

 private:
  void write(const void* data, size_t n) {
    LT_CHECK(std::fwrite(data, 1, n, file_.get()) == n, kIo, temp_path_,
             ": cannot write the cache file: ", std::strerror(errno));
  }

  std::string path_, temp_path_;
  File file_;
  int64_t count_ = 0;
  bool finished_ = false;
};

class FileCacheIterator final : public IteratorImpl {
 public:
  FileCacheIterator(PipelineContext& ctx, const NodePtr& input, const std::string& path,
                    uint64_t iteration) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      reader_ = std::make_unique<CacheFileReader>(path);
      return;
    }
    writer_ = std::make_unique<CacheFileWriter>(path);
    input_ = input->make_iterator(ctx, iteration);
  }

  std::optional<Element> next() override {
    if (reader_) return reader_->next();
    std::optional<Element> e = input_->next();
    if (!writer_) return e;
    if (e) {
      writer_->add(*e);
    } else {
      writer_->finish();
      writer_.reset();
    }
    return e;
  }

 private:
  std::unique_ptr<CacheFileReader> reader_;
  std::unique_ptr<CacheFileWriter> writer_;
  std::unique_ptr<IteratorImpl> input_;
};

class CacheNode final : public UnaryNode {
 public:
  bool keeps_rows() const override { return true; }
  CacheNode(NodePtr input, std::string filename)
      : UnaryNode(std::move(input)),
        filename_(std::move(filename)),
        memory_(filename_.empty() ? std::make_shared<MemoryCache>() : nullptr) {}
  std::unique_ptr<IteratorImpl> make_iterator(PipelineContext& ctx,
                                              uint64_t iteration) const override {
    if (memory_) return std::make_unique<MemoryCacheIterator>(ctx, input_, *memory_, iteration);
    return std::make_unique<FileCacheIterator>(ctx, input_, filename_, iteration);
  }
  int64_t cardinality() const override { return input_->cardinality(); }
  int64_t max_element_bytes() const override { return input_->max_element_bytes(); }
  // In memory: the whole dataset.
  int64_t own_buffer_bound(const DatasetOptions&) const override {
    if (!memory_) return 0;
    const int64_t n = input_->cardinality(), bytes = input_->max_element_bytes();
    if (n < 0 || bytes < 0) return -1;
    return n * bytes;
  }
  std::string label() const override {
    return filename_.empty() ? std::string("Cache(memory)") : "Cache(" + filename_ + ")";
  }

 private:
  std::string filename_;
  std::shared_ptr<MemoryCache> memory_;  // shared by every iterator of this node
};

}  // namespace

NodePtr make_cache_node(NodePtr input, const std::string& filename) {
  return std::make_shared<CacheNode>(std::move(input), filename);
}

}  // namespace leantrain::data::internal

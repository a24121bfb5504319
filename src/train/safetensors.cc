#include "leantrain/train/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <utility>

#include "leantrain/core/error.h"
#include "leantrain/core/file.h"
#include "leantrain/core/format.h"
#include "leantrain/data/tfrecord.h"

namespace leantrain::train {
namespace {

// Tensor bytes go to and from disk as they lie in memory; safetensors is little-endian.
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O assumes a little-endian machine");

constexpr int64_t kLengthBytes = 8;

const char* safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kBF16:
      return "BF16";
    case DType::kI32:
      return "I32";
    case DType::kU8:
      return "U8";
  }
  return "?";
}

// Dtypes of the format that leantrain does not hold (safetensors 0.4 to 0.6).
bool is_other_safetensors_dtype(std::string_view s) {
  static constexpr std::string_view kOthers[] = {
      "BOOL",    "I8",  "I16",     "U16",     "F16",         "U32",
      "I64",     "U64", "F64",     "C64",     "F8_E5M2",     "F8_E4M3",
      "F8_E8M0", "F4",  "F6_E2M3", "F6_E3M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ"};
  return std::find(std::begin(kOthers), std::end(kOthers), s) != std::end(kOthers);
}

// Returns a string as a JSON literal for messages, cut to a readable length.
std::string in_quotes(std::string_view s) {
  std::string out = "'";
  out.append(s.substr(0, 80));
  if (s.size() > 80) out += "...";
  return out + "'";
}

// One header entry as parsed, before its offsets are checked against the others.
struct Entry {
  std::string name;
  DType dtype = DType::kF32;
  bool has_dtype = false, has_shape = false, has_offsets = false;
  std::vector<uint64_t> shape;  // at most Shape::kMaxRank + 1 while parsing, then <= kMaxRank
  uint64_t offsets[2] = {0, 0};
  int num_offsets = 0;
  size_t order = 0;  // position in the header, to order empty tensors that share an offset
};

// The result of parsing the JSON header: entries and metadata, or the first error.
struct Header {
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
};

// A SAX handler that checks the header's structure while it is parsed, so hostile input never
// builds a large JSON tree: the only state kept is the entries themselves.
//
// Frames: the top-level object (kRoot), a tensor entry (kTensor), "__metadata__" (kMetadata),
// a "shape" list (kShape), a "data_offsets" list (kOffsets). Values of unknown keys inside a
// tensor entry are skipped at any depth, as the reference reader ignores unknown fields.
class HeaderHandler {
 public:
  using json = nlohmann::json;

  explicit HeaderHandler(Header& out) : out_(out) {}

  const std::string& error() const { return error_; }
  ErrorCode error_code() const { return code_; }

  bool null() { return scalar("null"); }
  bool boolean(bool) { return scalar("a boolean"); }
  bool number_integer(json::number_integer_t) { return scalar("a negative number"); }
  bool number_float(json::number_float_t, const json::string_t&) {
    return scalar("a non-integer number");
  }
  bool binary(json::binary_t&) { return scalar("a binary value"); }

  bool number_unsigned(json::number_unsigned_t value) {
    if (skip_depth_ > 0) return true;
    if (frames_.empty()) return fail("the header is not a JSON object but a number");
    switch (frames_.back()) {
      case Frame::kShape: {
        Entry& e = out_.entries.back();
        if (e.shape.size() == static_cast<size_t>(Shape::kMaxRank)) {
          return fail_tensor("shape has more than ", Shape::kMaxRank,
                             " dimensions, the most leantrain supports");
        }
        e.shape.push_back(value);
        return true;
      }
      case Frame::kOffsets: {
        Entry& e = out_.entries.back();
        if (e.num_offsets == 2) return fail_tensor("data_offsets has more than 2 numbers");
        e.offsets[e.num_offsets++] = value;
        return true;
      }
      default:
        return scalar("a number");
    }
  }

  bool string(json::string_t& value) {
    if (skip_depth_ > 0) return true;
    if (frames_.empty()) return fail("the header is not a JSON object but a string");
    if (frames_.back() == Frame::kMetadata) {
      out_.metadata[key_] = value;
      return true;
    }
    if (frames_.back() == Frame::kTensor && field_ == "dtype") return set_dtype(value);
    return scalar("a string");
  }

  bool start_object(std::size_t) { return start(/*is_object=*/true); }
  bool start_array(std::size_t) { return start(/*is_object=*/false); }

  bool key(json::string_t& k) {
    if (skip_depth_ > 0) return true;
    switch (frames_.back()) {
      case Frame::kRoot:
        if (!root_keys_.insert(k).second) {
          return fail(k == "__metadata__" ? std::string("__metadata__ appears twice")
                                          : "tensor " + in_quotes(k) + " appears twice");
        }
        key_ = k;
        return true;
      case Frame::kTensor:
        if (!fields_.insert(k).second) return fail_tensor("key ", in_quotes(k), " appears twice");
        field_ = k;
        return true;
      case Frame::kMetadata:
        if (!meta_keys_.insert(k).second) {
          return fail("__metadata__: key ", in_quotes(k), " appears twice");
        }
        key_ = k;
        return true;
      default:
        return fail("internal: a key inside a list");  // the JSON parser never does this
    }
  }

  bool end_object() { return end(); }
  bool end_array() { return end(); }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
    // ex.what() reads "[json.exception.parse_error.101] parse error at line 1, column 5: ...".
    std::string what = ex.what();
    const size_t bracket = what.find("] ");
    if (bracket != std::string::npos) what = what.substr(bracket + 2);
    return fail("the header is not valid JSON: ", what);
  }

 private:
  enum class Frame { kRoot, kTensor, kMetadata, kShape, kOffsets };

  template <typename... Args>
  bool fail(const Args&... args) {
    if (error_.empty()) error_ = internal::str_cat(args...);
    return false;
  }
  template <typename... Args>
  bool fail_tensor(const Args&... args) {
    return fail("tensor ", in_quotes(out_.entries.back().name), ": ", args...);
  }

  // A scalar of type `what` where no scalar of that type belongs.
  bool scalar(const char* what) {
    if (skip_depth_ > 0) return true;
    if (frames_.empty()) return fail("the header is not a JSON object but ", what);
    switch (frames_.back()) {
      case Frame::kRoot:
        if (key_ == "__metadata__") {
          // The reference reader's metadata is optional: null means none.
          if (std::string_view(what) == "null") return true;
          return fail("__metadata__ must be an object of strings, not ", what);
        }
        return fail("tensor ", in_quotes(key_),
                    ": expected an object with dtype, shape and data_offsets, got ", what);
      case Frame::kTensor:
        return field_value(what);
      case Frame::kMetadata:
        return fail("__metadata__: the value of ", in_quotes(key_), " must be a string, not ",
                    what);
      case Frame::kShape:
        return fail_tensor("shape must hold non-negative integers, not ", what);
      case Frame::kOffsets:
        return fail_tensor("data_offsets must hold non-negative integers, not ", what);
    }
    return false;
  }

  // A value of kind `what` (not the right one) for the current field of a tensor entry.
  bool field_value(const char* what) {
    if (field_ == "dtype") return fail_tensor("dtype must be a string, not ", what);
    if (field_ == "shape") return fail_tensor("shape must be a list, not ", what);
    if (field_ == "data_offsets") return fail_tensor("data_offsets must be a list, not ", what);
    return true;  // an unknown field: ignored
  }

  bool set_dtype(const std::string& s) {
    Entry& e = out_.entries.back();
    e.has_dtype = true;
    for (DType d : {DType::kF32, DType::kBF16, DType::kI32, DType::kU8}) {
      if (s == safetensors_dtype(d)) {
        e.dtype = d;
        return true;
      }
    }
    if (is_other_safetensors_dtype(s)) {
      code_ = ErrorCode::kUnimplemented;
      return fail_tensor("dtype ", s,
                         " is not supported; leantrain reads F32, BF16, I32 and U8 (convert the "
                         "tensor to one of these, e.g. F16 and F64 to F32)");
    }
    return fail_tensor("unknown dtype ", in_quotes(s),
                       "; safetensors dtypes are F32, BF16, I32, U8, F16, F64, ...");
  }

  bool start(bool is_object) {
    const char* what = is_object ? "an object" : "a list";
    if (skip_depth_ > 0) {
      ++skip_depth_;
      return true;
    }
    if (frames_.empty()) {
      if (!is_object) return fail("the header is not a JSON object but a list");
      frames_.push_back(Frame::kRoot);
      return true;
    }
    switch (frames_.back()) {
      case Frame::kRoot:
        if (key_ == "__metadata__") {
          if (!is_object) return fail("__metadata__ must be an object of strings, not a list");
          frames_.push_back(Frame::kMetadata);
          return true;
        }
        if (!is_object) {
          return fail("tensor ", in_quotes(key_),
                      ": expected an object with dtype, shape and data_offsets, got a list");
        }
        out_.entries.emplace_back();
        out_.entries.back().name = key_;
        out_.entries.back().order = out_.entries.size() - 1;
        fields_.clear();
        field_.clear();
        frames_.push_back(Frame::kTensor);
        return true;
      case Frame::kTensor:
        if (field_ == "shape" && !is_object) {
          out_.entries.back().has_shape = true;
          frames_.push_back(Frame::kShape);
          return true;
        }
        if (field_ == "data_offsets" && !is_object) {
          out_.entries.back().has_offsets = true;
          frames_.push_back(Frame::kOffsets);
          return true;
        }
        if (field_ == "dtype" || field_ == "shape" || field_ == "data_offsets") {
          return field_value(what);
        }
        skip_depth_ = 1;
        return true;
      case Frame::kMetadata:
        return fail("__metadata__: the value of ", in_quotes(key_), " must be a string, not ",
                    what);
      case Frame::kShape:
        return fail_tensor("shape must hold non-negative integers, not ", what);
      case Frame::kOffsets:
        return fail_tensor("data_offsets must hold non-negative integers, not ", what);
    }
    return false;
  }

  bool end() {
    if (skip_depth_ > 0) {
      --skip_depth_;
      return true;
    }
    const Frame closed = frames_.back();
    frames_.pop_back();
    if (closed == Frame::kTensor) {
      const Entry& e = out_.entries.back();
      if (!e.has_dtype) return fail_tensor("missing \"dtype\"");
      if (!e.has_shape) return fail_tensor("missing \"shape\"");
      if (!e.has_offsets) return fail_tensor("missing \"data_offsets\"");
    }
    if (closed == Frame::kOffsets && out_.entries.back().num_offsets != 2) {
      return fail_tensor("data_offsets must hold 2 numbers [begin, end], not ",
                         out_.entries.back().num_offsets);
    }
    if (closed == Frame::kMetadata) key_.clear();
    return true;
  }

  Header& out_;
  std::vector<Frame> frames_;  // at most 3 deep: root, tensor, shape/offsets
  int64_t skip_depth_ = 0;
  std::string key_;    // the current key of the root object or of __metadata__
  std::string field_;  // the current key inside a tensor entry
  std::set<std::string> root_keys_, fields_, meta_keys_;
  std::string error_;
  ErrorCode code_ = ErrorCode::kDataLoss;
};

// A tensor's place in the data buffer, validated.
struct Layout {
  std::vector<StoredTensor> tensors;  // in data order; bytes are offsets into the buffer
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  std::map<std::string, std::string> metadata;
};

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// Parses and validates the JSON header against a data section of `data_bytes` bytes.
Layout parse_header(std::string_view json_text, uint64_t data_bytes, const std::string& name) {
  // The JSON parser stops at a NUL byte as if the input ended there; JSON never holds a raw NUL
  // (the reference reader rejects it), so anything after one would be silently ignored.
  const size_t nul = json_text.find('\0');
  LT_CHECK(nul == std::string_view::npos, kDataLoss, name,
           ": the header is not valid JSON: a NUL byte at header offset ", nul);
  Header header;
  HeaderHandler handler(header);
  const bool ok = nlohmann::json::sax_parse(json_text.begin(), json_text.end(), &handler);
  if (!ok) {
    LT_CHECK(!handler.error().empty(), kDataLoss, name, ": the header is not valid JSON");
    throw Error(handler.error_code(), name + ": " + handler.error());
  }

  // Byte counts, checked for overflow as the reference reader does: prod(shape) * dtype size,
  // multiplied in order, must fit in int64 (leantrain's Shape counts elements in int64).
  std::vector<StoredTensor> stored(header.entries.size());
  for (size_t i = 0; i < header.entries.size(); ++i) {
    const Entry& e = header.entries[i];
    const std::string tensor = internal::str_cat(name, ": tensor ", in_quotes(e.name), ": ");
    int64_t count = 1;
    for (uint64_t d : e.shape) {
      LT_CHECK(d <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
                   !__builtin_mul_overflow(count, static_cast<int64_t>(d), &count),
               kDataLoss, tensor, "shape ", shape_text(e.shape), " has too many elements");
    }
    int64_t nbytes = 0;
    LT_CHECK(!__builtin_mul_overflow(count, dtype_size(e.dtype), &nbytes), kDataLoss, tensor,
             "shape ", shape_text(e.shape), " has too many elements");
    const auto [begin, end] = std::pair(e.offsets[0], e.offsets[1]);
    LT_CHECK(begin <= end, kDataLoss, tensor, "data_offsets [", begin, ", ", end,
             "] end before they begin");
    LT_CHECK(end - begin == static_cast<uint64_t>(nbytes), kDataLoss, tensor, "data_offsets [",
             begin, ", ", end, "] hold ", with_commas(static_cast<int64_t>(end - begin)),
             " bytes, but shape ", shape_text(e.shape), " of ", safetensors_dtype(e.dtype),
             " needs ", with_commas(nbytes));
    std::vector<int64_t> dims(e.shape.begin(), e.shape.end());
    stored[i] = StoredTensor{.name = e.name, .dtype = e.dtype, .shape = Shape(dims), .bytes = {}};
  }

  // Data order: by offsets, as the reference reader sorts them; empty tensors sharing an offset
  // keep their header order.
  std::vector<size_t> order(header.entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Entry& x = header.entries[a];
    const Entry& y = header.entries[b];
    return std::tie(x.offsets[0], x.offsets[1], x.order) <
           std::tie(y.offsets[0], y.offsets[1], y.order);
  });
  Layout layout;
  layout.metadata = std::move(header.metadata);
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (size_t i : order) {
    const Entry& e = header.entries[i];
    const uint64_t begin = e.offsets[0], end = e.offsets[1];
    if (begin < covered) {
      throw Error(ErrorCode::kDataLoss,
                  internal::str_cat(name, ": tensors ", in_quotes(previous->name), " [",
                                    previous->offsets[0], ", ", previous->offsets[1], ") and ",
                                    in_quotes(e.name), " [", begin, ", ", end, ") overlap"));
    }
    if (begin > covered && begin <= data_bytes) {
      throw Error(ErrorCode::kDataLoss,
                  internal::str_cat(name, ": bytes [", covered, ", ", begin,
                                    ") of the tensor data belong to no tensor (",
                                    previous ? "after " + in_quotes(previous->name) + ", " : "",
                                    "before ", in_quotes(e.name), ")"));
    }
    // A gap that starts beyond the data is reported as truncation below.
    covered = std::max(covered, end);
    previous = &e;
    layout.tensors.push_back(std::move(stored[i]));
    layout.ranges.emplace_back(begin, end);
  }
  LT_CHECK(covered <= data_bytes, kDataLoss, name, ": truncated: header says ",
           with_commas(static_cast<int64_t>(std::min<uint64_t>(
               covered, static_cast<uint64_t>(std::numeric_limits<int64_t>::max())))),
           " bytes of tensor data, file has ", with_commas(static_cast<int64_t>(data_bytes)));
  LT_CHECK(covered == data_bytes, kDataLoss, name, ": ",
           with_commas(static_cast<int64_t>(data_bytes - covered)),
           " bytes follow the last tensor's data (header says ",
           with_commas(static_cast<int64_t>(covered)), " bytes of tensor data, file has ",
           with_commas(static_cast<int64_t>(data_bytes)), ")");
  return layout;
}

// Reads the 8-byte little-endian header length and checks it against the cap and the file size.
uint64_t header_length(const std::byte* prefix, uint64_t file_bytes, const std::string& name) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<uint64_t>(prefix[i]);
  LT_CHECK(n <= static_cast<uint64_t>(kSafetensorsMaxHeaderBytes), kDataLoss, name,
           ": header length ",
           n <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
               ? with_commas(static_cast<int64_t>(n))
               : std::to_string(n),
           " exceeds the format's limit of ", with_commas(kSafetensorsMaxHeaderBytes),
           " bytes; is this a safetensors file?");
  const uint64_t after_length = file_bytes - static_cast<uint64_t>(kLengthBytes);
  LT_CHECK(n <= after_length, kDataLoss, name, ": truncated: header says its JSON is ",
           with_commas(static_cast<int64_t>(n)), " bytes, but only ",
           with_commas(static_cast<int64_t>(after_length)), " bytes follow the 8-byte length");
  return n;
}

void check_has_length(uint64_t file_bytes, const std::string& name) {
  LT_CHECK(file_bytes >= static_cast<uint64_t>(kLengthBytes), kDataLoss, name,
           ": truncated: ", file_bytes,
           " bytes, but a safetensors file starts with an 8-byte header length");
}

// The metadata key holding a tensor's CRC32C, written by leantrain and checked when present.
constexpr std::string_view kCrcPrefix = "crc32c:";

uint32_t crc_of(std::span<const std::byte> bytes) {
  return data::crc32c(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

std::string hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

// Fills `file` from a layout and its data buffer (starting at byte `data_start` of the file),
// checking every tensor's CRC32C the metadata holds: a mismatch is Error(kDataLoss) naming the
// file, the tensor and its bytes. The checksums are removed from the metadata the file shows.
void assemble(std::vector<StoredTensor>& tensors, std::map<std::string, size_t, std::less<>>& index,
              const std::byte* data, uint64_t data_start, Layout& layout, const std::string& name) {
  for (size_t i = 0; i < layout.tensors.size(); ++i) {
    StoredTensor& t = layout.tensors[i];
    const auto [begin, end] = layout.ranges[i];
    if (end > begin) t.bytes = {data + begin, static_cast<size_t>(end - begin)};
    index.emplace(t.name, i);
    const auto crc = layout.metadata.find(std::string(kCrcPrefix) + t.name);
    if (crc == layout.metadata.end()) continue;
    const std::string computed = hex32(crc_of(t.bytes));
    LT_CHECK(crc->second == computed, kDataLoss, name, ": tensor '", t.name, "' (bytes ",
             data_start + begin, " to ", data_start + end, " of the file) fails its CRC32C check ",
             "(stored ", crc->second, ", computed ", computed,
             "): the file is corrupt; use another copy");
    layout.metadata.erase(crc);
  }
  for (const auto& [key, value] : layout.metadata) {
    LT_CHECK(!key.starts_with(kCrcPrefix), kDataLoss, name, ": metadata '", key,
             "' is the checksum of a tensor the file does not have: the header is corrupt");
  }
  tensors = std::move(layout.tensors);
}

void check_views(std::span<const NamedTensorView> tensors) {
  std::set<std::string_view> names;
  for (const NamedTensorView& t : tensors) {
    LT_CHECK(t.name != "__metadata__", kInvalidArgument,
             "a tensor cannot be called '__metadata__': safetensors reserves that key");
    LT_CHECK(names.insert(t.name).second, kInvalidArgument, "two tensors are called '", t.name,
             "'; safetensors names must be unique");
    LT_CHECK(t.tensor.data != nullptr || t.tensor.num_elements() == 0, kInvalidArgument, "tensor '",
             t.name, "' ", t.tensor.shape.to_string(), " has no data");
  }
}

// The 8-byte length and the JSON header, padded with spaces to a multiple of 8 bytes.
std::string encode_header(std::span<const NamedTensorView> tensors,
                          const std::map<std::string, std::string>& metadata, bool checksums) {
  check_views(tensors);
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const NamedTensorView& t : tensors) {
    const uint64_t bytes = static_cast<uint64_t>(t.tensor.bytes());
    if (checksums) {
      header["__metadata__"][std::string(kCrcPrefix) + t.name] =
          hex32(crc_of({static_cast<const std::byte*>(t.tensor.data), static_cast<size_t>(bytes)}));
    }
    const std::span<const int64_t> dims = t.tensor.shape.dims();
    header[t.name] = {{"dtype", safetensors_dtype(t.tensor.dtype)},
                      {"shape", std::vector<int64_t>(dims.begin(), dims.end())},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    // dump() refuses strings that are not valid UTF-8 (type_error 316).
    throw Error(ErrorCode::kInvalidArgument,
                internal::str_cat("a tensor name or metadata string is not valid UTF-8, which "
                                  "safetensors requires: ",
                                  e.what()));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(kLengthBytes, '\0');
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i, n >>= 8) out[static_cast<size_t>(i)] = static_cast<char>(n & 0xff);
  return out + text;
}

std::span<const std::byte> bytes_of(const TensorView& view) {
  return {static_cast<const std::byte*>(view.data), static_cast<size_t>(view.bytes())};
}

}  // namespace

void write_safetensors(const std::string& path, std::span<const NamedTensorView> tensors,
                       const std::map<std::string, std::string>& metadata, bool checksums) {
  const std::string header = encode_header(tensors, metadata, checksums);
  AtomicFileWriter out(path);
  out.write(header);
  for (const NamedTensorView& t : tensors) {
    if (t.tensor.bytes() > 0) out.write(bytes_of(t.tensor));
  }
  out.commit();
}

std::string encode_safetensors(std::span<const NamedTensorView> tensors,
                               const std::map<std::string, std::string>& metadata, bool checksums) {
  std::string out = encode_header(tensors, metadata, checksums);
  for (const NamedTensorView& t : tensors) {
    if (t.tensor.bytes() > 0) {
      out.append(static_cast<const char*>(t.tensor.data), static_cast<size_t>(t.tensor.bytes()));
    }
  }
  return out;
}

void StoredTensor::copy_to(const TensorView& dst) const {
  LT_CHECK(dst.dtype == dtype, kInvalidArgument, "tensor '", name, "' is ",
           safetensors_dtype(dtype), " in the file but ", safetensors_dtype(dst.dtype),
           " in the model");
  LT_CHECK(dst.shape == shape, kInvalidArgument, "tensor '", name, "' has shape ",
           shape.to_string(), " in the file but ", dst.shape.to_string(), " in the model");
  if (!bytes.empty()) std::memcpy(dst.data, bytes.data(), bytes.size());
}

const StoredTensor* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const StoredTensor& SafetensorsFile::at(std::string_view name) const {
  if (const StoredTensor* t = find(name)) return *t;
  std::string known;
  for (size_t i = 0; i < tensors_.size() && i < 10; ++i) {
    known += (i ? ", '" : "'") + tensors_[i].name + "'";
  }
  if (tensors_.size() > 10) known += ", ...";
  throw Error(ErrorCode::kNotFound,
              internal::str_cat(name_, ": no tensor called '", name, "'; the file has ",
                                tensors_.size(), " tensor", tensors_.size() == 1 ? "" : "s",
                                tensors_.empty() ? "" : ": ", known));
}

SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name_for_errors) {
  const std::string& name = name_for_errors;
  const uint64_t size = bytes.size();
  check_has_length(size, name);
  const uint64_t n = header_length(reinterpret_cast<const std::byte*>(bytes.data()), size, name);
  const uint64_t data_start = static_cast<uint64_t>(kLengthBytes) + n;
  Layout layout = parse_header(bytes.substr(kLengthBytes, n), size - data_start, name);

  SafetensorsFile file;
  file.name_ = name;
  const std::byte* src = reinterpret_cast<const std::byte*>(bytes.data()) + data_start;
  file.data_.assign(src, src + (size - data_start));
  assemble(file.tensors_, file.index_, file.data_.data(), data_start, layout, name);
  file.metadata_ = std::move(layout.metadata);
  return file;
}

SafetensorsFile read_safetensors(const std::string& path) {
  InputFile in(path);
  const uint64_t size = static_cast<uint64_t>(in.size_bytes());
  check_has_length(size, path);
  std::byte prefix[kLengthBytes];
  in.read_exactly(prefix);
  const uint64_t n = header_length(prefix, size, path);
  std::string json_text(n, '\0');
  in.read_exactly(std::as_writable_bytes(std::span<char>(json_text)));
  const uint64_t data_bytes = size - static_cast<uint64_t>(kLengthBytes) - n;
  Layout layout = parse_header(json_text, data_bytes, path);
  json_text = std::string();  // free the header before the data is allocated

  SafetensorsFile file;
  file.name_ = path;
  file.data_.resize(data_bytes);
  in.read_exactly(file.data_);
  assemble(file.tensors_, file.index_, file.data_.data(), kLengthBytes + n, layout, path);
  file.metadata_ = std::move(layout.metadata);
  return file;
}

}  // namespace leantrain::train

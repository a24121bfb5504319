// safetensors files: leantrain's checkpoint and weights format (Hugging Face's layout, readable
// by the `safetensors` Python package, Keras 3 and PyTorch).
//
// Byte layout (huggingface/safetensors, safetensors/src/tensor.rs):
//   offset 0    u64 little-endian N: the byte length of the JSON header (N <= 100,000,000)
//   offset 8    N bytes of UTF-8 JSON:
//               {"__metadata__": {"key": "value", ...},           (optional, strings only)
//                "<name>": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]},
//                ...}
//   offset 8+N  the tensor data; each tensor's bytes are [begin, end) relative to this point,
//               little-endian, row-major, with no gaps, no overlaps and nothing after the last.
//
// leantrain writes tensors in the order given (a model's variable order, the order Keras users
// see in model.weights), both in the JSON and in the data, and pads the JSON with spaces to a
// multiple of 8 bytes as the reference writer does. It reads files from any conforming writer,
// padded or not, in any key order. Supported dtypes: F32, BF16, I32, U8 (leantrain's DType).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "leantrain/core/dtype.h"
#include "leantrain/core/shape.h"
#include "leantrain/core/tensor.h"

namespace leantrain::train {

// The largest JSON header the format allows (the reference reader's limit).
inline constexpr int64_t kSafetensorsMaxHeaderBytes = 100'000'000;

// A tensor to write: a name and a view of its bytes, written straight from the view's memory
// (no copy). The view must stay valid during the call. A tensor with no elements may have a
// null data pointer.
struct NamedTensorView {
  std::string name{};
  TensorView tensor{};
};

// Writes `tensors` to `path` atomically (temporary file, fsync, rename; see core/file.h), in
// the order given, with `metadata` as "__metadata__" when it is not empty. With `checksums`,
// the metadata also holds each tensor's CRC32C as "crc32c:<name>" (8 hex digits), which the
// readers below check; other safetensors readers ignore it, as any metadata. Without, the bytes
// are the reference writer's.
// Throws Error(kInvalidArgument) naming the tensor when two tensors share a name, a name is
// "__metadata__", a name or metadata string is not valid UTF-8, or a non-empty view has no
// data; Error(kIo) naming the path when the file cannot be written (the old file is then
// untouched).
void write_safetensors(const std::string& path, std::span<const NamedTensorView> tensors,
                       const std::map<std::string, std::string>& metadata = {},
                       bool checksums = true);

// Returns the bytes write_safetensors would write. Throws as write_safetensors does, except
// for kIo.
std::string encode_safetensors(std::span<const NamedTensorView> tensors,
                               const std::map<std::string, std::string>& metadata = {},
                               bool checksums = true);

// One tensor of a parsed file.
struct StoredTensor {
  std::string name{};
  DType dtype = DType::kF32;
  Shape shape{};
  // (shape) in dtype, little-endian, row-major; points into the SafetensorsFile that owns it.
  // Not aligned for dtype: copy it out (copy_to, memcpy) rather than casting the pointer.
  std::span<const std::byte> bytes{};

  // Copies the bytes into `dst`. Throws Error(kInvalidArgument) naming this tensor and both
  // dtypes or shapes when `dst` has a different dtype or shape. Requires dst.data to hold
  // dst.bytes() bytes.
  void copy_to(const TensorView& dst) const;
};

// A parsed, fully validated safetensors file. Owns one buffer holding all tensor data (the
// file's size minus its header), which every StoredTensor::bytes points into. Move-only, so
// those spans stay valid; immutable after parsing, so safe to read from several threads.
class SafetensorsFile {
 public:
  SafetensorsFile() = default;
  SafetensorsFile(SafetensorsFile&&) = default;
  SafetensorsFile& operator=(SafetensorsFile&&) = default;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  // The path or name used in messages.
  const std::string& name() const { return name_; }
  // All tensors in the order of their data in the file (for a file leantrain wrote: the order
  // they were written in).
  const std::vector<StoredTensor>& tensors() const { return tensors_; }
  // Returns the tensor called `name`, or nullptr.
  const StoredTensor* find(std::string_view name) const;
  // Returns the tensor called `name`; throws Error(kNotFound) naming the file and the tensor,
  // and listing up to 10 names the file does have.
  const StoredTensor& at(std::string_view name) const;
  // The "__metadata__" strings (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Total bytes of tensor data.
  int64_t data_bytes() const { return static_cast<int64_t>(data_.size()); }

 private:
  friend SafetensorsFile parse_safetensors(std::string_view bytes,
                                           const std::string& name_for_errors);
  friend SafetensorsFile read_safetensors(const std::string& path);

  std::string name_;
  std::vector<std::byte> data_;
  std::vector<StoredTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// Reads and validates the safetensors file at `path`; the tensor data is read once into the
// returned file's buffer (peak memory: the file's size plus its header).
// Throws Error(kNotFound) / Error(kIo) as read_file does; Error(kDataLoss) naming the file, the
// tensor when there is one, and what is wrong when the file is truncated, its header length
// exceeds the 100,000,000-byte cap, its header is not a JSON object of well-typed entries
// (dtype string, shape of at most 6 non-negative integers, data_offsets of two), a name
// appears twice, a tensor's byte count is not prod(shape) * dtype size, the tensors' bytes
// overlap, leave gaps or do not end exactly at the end of the file, or a metadata value is not a
// string, or a tensor's bytes fail the CRC32C its metadata holds (naming its byte range; the
// checksums are not shown in metadata()); Error(kUnimplemented) naming the tensor when its dtype is
// a valid safetensors dtype leantrain does not support (F16, F64, ...). Never allocates more than
// the file's size plus a constant factor of its header.
SafetensorsFile read_safetensors(const std::string& path);

// Parses a whole safetensors file held in memory (the bytes are copied; `bytes` need not outlive
// the result). Validates and throws as read_safetensors does, naming `name_for_errors`.
SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name_for_errors);

}  // namespace leantrain::train

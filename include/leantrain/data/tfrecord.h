// TFRecord files and tf.train.Example records, without TensorFlow or protobuf.
//
// A TFRecord file is a sequence of records, each framed as
//   uint64 length (little-endian)
//   uint32 masked_crc32c(length bytes)
//   byte   data[length]
//   uint32 masked_crc32c(data)
// where masked_crc32c(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (tensorflow/core/lib/hash/
// crc32c.h, Mask). Only uncompressed TFRecord files are supported (compression_type "").
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace leantrain::data {

// CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) of `data`, continuing from `crc` (pass
// the result of an earlier call to checksum a stream in pieces; 0 to start).
// crc32c("123456789") == 0xe3069283. Uses SSE4.2 when the CPU has it, slicing-by-8 otherwise.
uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc = 0);
// The portable software implementation (slicing-by-8), exposed for tests.
uint32_t crc32c_portable(std::span<const uint8_t> data, uint32_t crc = 0);

inline constexpr uint32_t kCrc32cMaskDelta = 0xa282ead8u;
// TFRecord's masking: rotate right by 15 bits, add kCrc32cMaskDelta.
constexpr uint32_t mask_crc32c(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kCrc32cMaskDelta;
}
constexpr uint32_t unmask_crc32c(uint32_t masked) {
  const uint32_t rot = masked - kCrc32cMaskDelta;
  return (rot >> 17) | (rot << 15);
}

// Reads the records of one TFRecord file (or a byte span) front to back with bounded memory:
// one record's bytes at a time plus a 64 KiB read buffer.
// Both CRCs of every record are checked. Ownership: owns the file handle (or refers to the
// caller's span, which must outlive the reader). Not thread-safe; use one reader per thread.
class TfRecordReader {
 public:
  // Opens `path`. Throws kNotFound (no such file), kIo (cannot open, a directory).
  explicit TfRecordReader(const std::string& path);
  // Reads records from memory; `name` is used in error messages.
  TfRecordReader(std::span<const uint8_t> bytes, const std::string& name);
  ~TfRecordReader();
  TfRecordReader(const TfRecordReader&) = delete;
  TfRecordReader& operator=(const TfRecordReader&) = delete;

  // Returns the next record, or nullopt at the clean end of the data (after a complete record
  // or at offset 0 of an empty file).
  // Throws kDataLoss naming the file and the record's byte offset for a truncated header or
  // record ("f.tfrecord: truncated TFRecord at byte 1,024: ..."), a length CRC mismatch (a
  // corrupt length, or not a TFRecord file), a data CRC mismatch, or a length above
  // max_record_bytes; kIo when a read fails. After an error, further calls throw again.
  std::optional<std::vector<uint8_t>> next();
  // As next(), but into `record` (reusing its capacity); returns false at the end.
  bool next(std::vector<uint8_t>& record);

  // Byte offset of the next record's header.
  int64_t offset() const { return offset_; }
  // Number of records returned so far.
  int64_t records_read() const { return records_read_; }
  const std::string& path() const { return path_; }

  // Records longer than this are refused as corrupt (default 1 GiB): a damaged length whose
  // CRC happens to match never causes a huge allocation; data is read in chunks, so memory
  // grows only as bytes actually arrive.
  void set_max_record_bytes(int64_t bytes) { max_record_bytes_ = bytes; }

 private:
  // Reads up to n bytes into dst; returns the count (short only at the end).
  int64_t read(uint8_t* dst, int64_t n);
  [[noreturn]] void fail(int64_t record_offset, const std::string& reason);

  std::string path_;
  std::FILE* file_ = nullptr;
  std::span<const uint8_t> memory_;
  int64_t memory_pos_ = 0;
  std::vector<uint8_t> buffer_;  // (64 KiB) file read buffer
  int64_t buffer_pos_ = 0, buffer_len_ = 0;
  int64_t offset_ = 0, records_read_ = 0;
  int64_t max_record_bytes_ = int64_t{1} << 30;
  bool failed_ = false;
};

// Writes TFRecord files. Ownership: owns the file. Not thread-safe.
class TfRecordWriter {
 public:
  // Creates or truncates `path`. Throws kIo naming the path when it cannot.
  explicit TfRecordWriter(const std::string& path);
  // Closes the file if close() was not called (errors are then lost: call close()).
  ~TfRecordWriter();
  TfRecordWriter(const TfRecordWriter&) = delete;
  TfRecordWriter& operator=(const TfRecordWriter&) = delete;

  // Appends one framed record. Throws kIo on a write error, kInvalidArgument after close().
  void write(std::span<const uint8_t> record);
  // Flushes and closes. Throws kIo when the data could not be written.
  void close();

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// Returns `record` framed as TFRecord bytes (header, data, CRCs), for building test data and
// writing to memory.
std::vector<uint8_t> frame_tfrecord(std::span<const uint8_t> record);

// One feature of a tf.train.Example: exactly one of the three lists is filled, by kind.
struct Feature {
  enum class Kind { kNone, kBytes, kFloat, kInt64 };
  Kind kind = Kind::kNone;
  // Views into the Example's own copy of the record bytes: valid while the Example lives
  // (moving the Example keeps them valid).
  std::vector<std::span<const uint8_t>> bytes_list;
  std::vector<float> float_list;
  std::vector<int64_t> int64_list;
};

// Returns "bytes_list", "float_list", "int64_list" or "none".
const char* feature_kind_name(Feature::Kind kind);

// A parsed tf.train.Example: features by name, in the order first seen.
// Ownership: owns a copy of the record bytes that bytes_list features point into.
class Example {
 public:
  // Returns the feature named `name`, or nullptr.
  const Feature* find(const std::string& name) const;
  const std::vector<std::pair<std::string, Feature>>& features() const { return features_; }

  // Returns the bytes of the bytes_list feature `name` at `index` (default the first).
  // Throws kInvalidArgument naming `source`, the key, and the keys present when it is missing,
  // of another kind, or has fewer values.
  std::span<const uint8_t> bytes(const std::string& name, const std::string& source,
                                 int64_t index = 0) const;
  // As bytes(), for the int64_list feature `name`.
  int64_t int64(const std::string& name, const std::string& source, int64_t index = 0) const;
  // As bytes(), for the float_list feature `name`.
  float float32(const std::string& name, const std::string& source, int64_t index = 0) const;

 private:
  friend Example parse_example(std::vector<uint8_t> record, const std::string& source);
  const Feature& get(const std::string& name, Feature::Kind kind, const std::string& source,
                     int64_t index) const;
  std::vector<uint8_t> record_;
  std::vector<std::pair<std::string, Feature>> features_;
};

// Parses a serialized tf.train.Example (protobuf wire format, decoded by hand):
// Example{features=1: Features{feature=1: map<string, Feature>}}, Feature{oneof bytes_list=1,
// float_list=2, int64_list=3}, each list {repeated value=1}, packed or not. Unknown fields are
// skipped; a key seen twice keeps the last value, as protobuf's map does; a message field seen
// twice is merged, as protobuf does. Takes ownership of `record`.
// Throws kDataLoss naming `source` (file and record number, say) and the reason for malformed
// data: truncated varint or field, a length past the end, a bad wire type, a packed list whose
// length is not a multiple of the element size, or a group field.
Example parse_example(std::vector<uint8_t> record, const std::string& source);

// Serializes an Example from named features (in the given order), for tests and export.
std::vector<uint8_t> serialize_example(
    const std::vector<std::pair<std::string, Feature>>& features);

// Convenience for building Features to serialize: views into caller-owned bytes.
Feature bytes_feature(std::vector<std::span<const uint8_t>> values);
Feature int64_feature(std::vector<int64_t> values);
Feature float_feature(std::vector<float> values);

}  // namespace leantrain::data

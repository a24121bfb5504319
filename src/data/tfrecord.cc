// TFRecord framing with masked CRC32C, and a hand-written decoder of tf.train.Example's
// protobuf wire format.
#include "leantrain/data/tfrecord.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_map>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "leantrain/core/error.h"
#include "leantrain/core/format.h"

namespace leantrain::data {
namespace {

using internal::str_cat;

static_assert(std::endian::native == std::endian::little,
              "TFRecord and protobuf fixed-width fields are little-endian; add byte swaps");

constexpr int64_t kHeaderBytes = 12;  // uint64 length + uint32 masked CRC of the length
constexpr int64_t kFooterBytes = 4;   // uint32 masked CRC of the data
constexpr int64_t kReadChunk = 64 * 1024;

// --- CRC32C ----------------------------------------------------------------------------------

// Slicing-by-8 tables: kTables[0] is the classic byte table of the reflected polynomial;
// kTables[k][b] is the CRC of byte b followed by k zero bytes.
constexpr std::array<std::array<uint32_t, 256>, 8> make_tables() {
  std::array<std::array<uint32_t, 256>, 8> t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t crc = b;
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ ((crc & 1) ? 0x82f63b78u : 0u);
    t[0][b] = crc;
  }
  for (int k = 1; k < 8; ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  }
  return t;
}
constexpr auto kTables = make_tables();

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t load_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Operates on the inverted register (crc ^ ~0), as every CRC-32 implementation does.
uint32_t crc32c_software(const uint8_t* p, size_t n, uint32_t state) {
  while (n >= 8) {
    const uint32_t lo = load_u32(p) ^ state;
    const uint32_t hi = load_u32(p + 4);
    state = kTables[7][lo & 0xff] ^ kTables[6][(lo >> 8) & 0xff] ^ kTables[5][(lo >> 16) & 0xff] ^
            kTables[4][lo >> 24] ^ kTables[3][hi & 0xff] ^ kTables[2][(hi >> 8) & 0xff] ^
            kTables[1][(hi >> 16) & 0xff] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) state = (state >> 8) ^ kTables[0][(state ^ *p++) & 0xff];
  return state;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(const uint8_t* p, size_t n,
                                                        uint32_t state) {
  uint64_t s = state;
  while (n >= 8) {
    s = _mm_crc32_u64(s, load_u64(p));
    p += 8;
    n -= 8;
  }
  auto s32 = static_cast<uint32_t>(s);
  while (n-- > 0) s32 = _mm_crc32_u8(s32, *p++);
  return s32;
}

bool have_sse42() {
  static const bool yes = __builtin_cpu_supports("sse4.2");
  return yes;
}
#endif

// --- little-endian and varint encoding -------------------------------------------------------

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_varint(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

void write_header(uint8_t* header, uint64_t length) {
  std::memcpy(header, &length, 8);
  const uint32_t masked = mask_crc32c(crc32c(std::span<const uint8_t>(header, 8)));
  std::memcpy(header + 8, &masked, 4);
}

std::string hex_u32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace

uint32_t crc32c_portable(std::span<const uint8_t> data, uint32_t crc) {
  return ~crc32c_software(data.data(), data.size(), ~crc);
}

uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc) {
#if defined(__x86_64__)
  if (have_sse42()) return ~crc32c_sse42(data.data(), data.size(), ~crc);
#endif
  return crc32c_portable(data, crc);
}

// --- reader ----------------------------------------------------------------------------------

TfRecordReader::TfRecordReader(const std::string& path) : path_(path) {
  std::error_code ec;
  LT_CHECK(std::filesystem::exists(path, ec) || ec, kNotFound, path, ": no such file");
  LT_CHECK(!std::filesystem::is_directory(path, ec), kIo, path,
           ": is a directory, not a TFRecord file");
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) {
    const int err = errno;
    LT_CHECK(err != ENOENT, kNotFound, path, ": no such file");
    LT_CHECK(false, kIo, path, ": cannot open: ", std::strerror(err));
  }
  buffer_.resize(static_cast<size_t>(kReadChunk));
}

TfRecordReader::TfRecordReader(std::span<const uint8_t> bytes, const std::string& name)
    : path_(name), memory_(bytes) {}

TfRecordReader::~TfRecordReader() {
  if (file_) std::fclose(file_);
}

int64_t TfRecordReader::read(uint8_t* dst, int64_t n) {
  if (!file_) {
    const int64_t got = std::min<int64_t>(n, static_cast<int64_t>(memory_.size()) - memory_pos_);
    if (got > 0) std::memcpy(dst, memory_.data() + memory_pos_, static_cast<size_t>(got));
    memory_pos_ += got;
    return got;
  }
  int64_t got = 0;
  while (got < n) {
    if (buffer_pos_ == buffer_len_) {
      // Large reads bypass the buffer.
      if (n - got >= kReadChunk) {
        const size_t r = std::fread(dst + got, 1, static_cast<size_t>(n - got), file_);
        got += static_cast<int64_t>(r);
        if (r == 0) break;
        continue;
      }
      buffer_len_ = static_cast<int64_t>(std::fread(buffer_.data(), 1, buffer_.size(), file_));
      buffer_pos_ = 0;
      if (buffer_len_ == 0) break;
    }
    const int64_t take = std::min(n - got, buffer_len_ - buffer_pos_);
    std::memcpy(dst + got, buffer_.data() + buffer_pos_, static_cast<size_t>(take));
    buffer_pos_ += take;
    got += take;
  }
  if (got < n && std::ferror(file_)) {
    const int err = errno;
    failed_ = true;
    LT_CHECK(false, kIo, path_, ": read failed at byte ", with_commas(offset_), ": ",
             std::strerror(err));
  }
  return got;
}

void TfRecordReader::fail(int64_t record_offset, const std::string& reason) {
  failed_ = true;
  throw Error(ErrorCode::kDataLoss,
              str_cat(path_, ": ", reason, " in the TFRecord at byte ", with_commas(record_offset),
                      " (record ", records_read_, ")"));
}

std::optional<std::vector<uint8_t>> TfRecordReader::next() {
  std::vector<uint8_t> record;
  if (!next(record)) return std::nullopt;
  return record;
}

bool TfRecordReader::next(std::vector<uint8_t>& record) {
  LT_CHECK(!failed_, kDataLoss, path_,
           ": an earlier error stopped this TFRecord reader; open the file again to retry");
  const int64_t start = offset_;
  uint8_t header[kHeaderBytes];
  const int64_t got = read(header, kHeaderBytes);
  if (got == 0) return false;
  if (start == 0 && got >= 2 && header[0] == 0x1f && header[1] == 0x8b) {
    fail(start,
         "gzip-compressed data (TFRecord compression_type GZIP is not supported; decompress "
         "the file with gunzip first)");
  }
  if (got < kHeaderBytes)
    fail(start, str_cat("truncated header (", got, " of ", kHeaderBytes, " bytes)"));
  uint64_t length;
  std::memcpy(&length, header, 8);
  const uint32_t length_crc = crc32c(std::span<const uint8_t>(header, 8));
  const uint32_t stored = unmask_crc32c(load_u32(header + 8));
  if (length_crc != stored) {
    fail(start, str_cat("corrupt length (CRC32C ", hex_u32(length_crc), " but the header says ",
                        hex_u32(stored), "; is this a TFRecord file?)"));
  }
  if (length > static_cast<uint64_t>(max_record_bytes_)) {
    fail(start, str_cat("record length ",
                        with_commas(static_cast<int64_t>(std::min<uint64_t>(length, INT64_MAX))),
                        " bytes above the limit of ", with_commas(max_record_bytes_), " bytes"));
  }
  // Grow the record as its bytes arrive, so a damaged length never allocates what the file
  // does not hold.
  const auto n = static_cast<int64_t>(length);
  record.clear();
  int64_t have = 0;
  while (have < n) {
    const int64_t chunk = std::min(n - have, std::max<int64_t>(kReadChunk, have));
    record.resize(static_cast<size_t>(have + chunk));
    const int64_t r = read(record.data() + have, chunk);
    have += r;
    if (r < chunk) {
      record.resize(static_cast<size_t>(have));
      fail(start, str_cat("truncated record (", with_commas(have), " of ", with_commas(n),
                          " data bytes)"));
    }
  }
  uint8_t footer[kFooterBytes];
  const int64_t footer_got = read(footer, kFooterBytes);
  if (footer_got < kFooterBytes) {
    fail(start, str_cat("truncated record (", footer_got, " of ", kFooterBytes,
                        " bytes of the data CRC)"));
  }
  const uint32_t data_crc = crc32c(record);
  const uint32_t data_stored = unmask_crc32c(load_u32(footer));
  if (data_crc != data_stored) {
    fail(start, str_cat("corrupt data (CRC32C ", hex_u32(data_crc), " of ", with_commas(n),
                        " bytes but the record says ", hex_u32(data_stored), ")"));
  }
  offset_ = start + kHeaderBytes + n + kFooterBytes;
  ++records_read_;
  return true;
}

// --- writer ----------------------------------------------------------------------------------

TfRecordWriter::TfRecordWriter(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "wb");
  LT_CHECK(file_ != nullptr, kIo, path, ": cannot create: ", std::strerror(errno));
}

TfRecordWriter::~TfRecordWriter() {
  if (file_) std::fclose(file_);
}

void TfRecordWriter::write(std::span<const uint8_t> record) {
  LT_CHECK(file_ != nullptr, kInvalidArgument, path_, ": write after close()");
  uint8_t header[kHeaderBytes];
  write_header(header, record.size());
  uint32_t footer = mask_crc32c(crc32c(record));
  const bool ok =
      std::fwrite(header, 1, sizeof header, file_) == sizeof header &&
      (record.empty() || std::fwrite(record.data(), 1, record.size(), file_) == record.size()) &&
      std::fwrite(&footer, 1, 4, file_) == 4;
  LT_CHECK(ok, kIo, path_, ": write failed: ", std::strerror(errno));
}

void TfRecordWriter::close() {
  if (!file_) return;
  const bool flushed = std::fflush(file_) == 0;
  const int err = errno;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  LT_CHECK(flushed && closed, kIo, path_, ": write failed: ", std::strerror(err));
}

std::vector<uint8_t> frame_tfrecord(std::span<const uint8_t> record) {
  std::vector<uint8_t> out(static_cast<size_t>(kHeaderBytes));
  write_header(out.data(), record.size());
  out.insert(out.end(), record.begin(), record.end());
  put_u32(out, mask_crc32c(crc32c(record)));
  return out;
}

// --- tf.train.Example ------------------------------------------------------------------------

namespace {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// A cursor over protobuf wire-format bytes. Errors name the source and the message being read.
class WireReader {
 public:
  WireReader(std::span<const uint8_t> bytes, const std::string& source, const char* message)
      : bytes_(bytes), source_(source), message_(message) {}

  bool done() const { return pos_ == bytes_.size(); }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ == bytes_.size()) fail("truncated varint");
      const uint8_t b = bytes_[pos_++];
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    fail("varint longer than 10 bytes");
  }

  // Reads a tag; returns (field number, wire type).
  std::pair<uint64_t, uint32_t> tag() {
    const uint64_t t = varint();
    const uint64_t field = t >> 3;
    if (field == 0) fail("field number 0");
    return {field, static_cast<uint32_t>(t & 7)};
  }

  std::span<const uint8_t> bytes(uint64_t n) {
    if (n > bytes_.size() - pos_) {
      fail(str_cat("field of ", n, " bytes runs past the end (", bytes_.size() - pos_, " remain)"));
    }
    const std::span<const uint8_t> out = bytes_.subspan(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return out;
  }

  std::span<const uint8_t> length_delimited() { return bytes(varint()); }

  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case kVarint:
        varint();
        return;
      case kFixed64:
        bytes(8);
        return;
      case kLengthDelimited:
        length_delimited();
        return;
      case kFixed32:
        bytes(4);
        return;
      case 3:
      case 4:
        fail("group fields are not used by tf.train.Example");
      default:
        fail(str_cat("invalid wire type ", wire_type));
    }
  }

  [[noreturn]] void fail(const std::string& reason) const {
    throw Error(ErrorCode::kDataLoss,
                str_cat(source_, ": malformed tf.train.Example (", reason, " in ", message_,
                        " at byte ", pos_, " of ", bytes_.size(), ")"));
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  const std::string& source_;
  const char* message_;
};

void parse_bytes_list(std::span<const uint8_t> data, const std::string& source, Feature& f) {
  WireReader r(data, source, "BytesList");
  while (!r.done()) {
    const auto [field, wire] = r.tag();
    if (field == 1 && wire == kLengthDelimited) {
      f.bytes_list.push_back(r.length_delimited());
    } else {
      r.skip(wire);
    }
  }
}

void parse_float_list(std::span<const uint8_t> data, const std::string& source, Feature& f) {
  WireReader r(data, source, "FloatList");
  while (!r.done()) {
    const auto [field, wire] = r.tag();
    if (field == 1 && wire == kLengthDelimited) {
      const std::span<const uint8_t> packed = r.length_delimited();
      if (packed.size() % 4 != 0)
        r.fail(str_cat("packed floats of ", packed.size(), " bytes, not a multiple of 4"));
      const size_t old = f.float_list.size();
      f.float_list.resize(old + packed.size() / 4);
      if (!packed.empty()) std::memcpy(f.float_list.data() + old, packed.data(), packed.size());
    } else if (field == 1 && wire == kFixed32) {
      float v;
      std::memcpy(&v, r.bytes(4).data(), 4);
      f.float_list.push_back(v);
    } else {
      r.skip(wire);
    }
  }
}

void parse_int64_list(std::span<const uint8_t> data, const std::string& source, Feature& f) {
  WireReader r(data, source, "Int64List");
  while (!r.done()) {
    const auto [field, wire] = r.tag();
    if (field == 1 && wire == kLengthDelimited) {
      WireReader packed(r.length_delimited(), source, "packed Int64List");
      while (!packed.done()) f.int64_list.push_back(static_cast<int64_t>(packed.varint()));
    } else if (field == 1 && wire == kVarint) {
      f.int64_list.push_back(static_cast<int64_t>(r.varint()));
    } else {
      r.skip(wire);
    }
  }
}

// Merges a serialized Feature into `f` (oneof: a different kind replaces, the same kind
// appends, as protobuf's merge does).
void parse_feature(std::span<const uint8_t> data, const std::string& source, Feature& f) {
  WireReader r(data, source, "Feature");
  while (!r.done()) {
    const auto [field, wire] = r.tag();
    if (wire != kLengthDelimited || field < 1 || field > 3) {
      r.skip(wire);
      continue;
    }
    const Feature::Kind kind = field == 1   ? Feature::Kind::kBytes
                               : field == 2 ? Feature::Kind::kFloat
                                            : Feature::Kind::kInt64;
    if (f.kind != kind) f = Feature{kind, {}, {}, {}};
    const std::span<const uint8_t> list = r.length_delimited();
    if (kind == Feature::Kind::kBytes) {
      parse_bytes_list(list, source, f);
    } else if (kind == Feature::Kind::kFloat) {
      parse_float_list(list, source, f);
    } else {
      parse_int64_list(list, source, f);
    }
  }
}

}  // namespace

const char* feature_kind_name(Feature::Kind kind) {
  switch (kind) {
    case Feature::Kind::kBytes:
      return "bytes_list";
    case Feature::Kind::kFloat:
      return "float_list";
    case Feature::Kind::kInt64:
      return "int64_list";
    default:
      return "none";
  }
}

Example parse_example(std::vector<uint8_t> record, const std::string& source) {
  Example out;
  out.record_ = std::move(record);
  std::unordered_map<std::string, size_t> index;
  WireReader example(out.record_, source, "Example");
  while (!example.done()) {
    const auto [field, wire] = example.tag();
    if (field != 1 || wire != kLengthDelimited) {
      example.skip(wire);
      continue;
    }
    WireReader features(example.length_delimited(), source, "Features");
    while (!features.done()) {
      const auto [ffield, fwire] = features.tag();
      if (ffield != 1 || fwire != kLengthDelimited) {
        features.skip(fwire);
        continue;
      }
      // A map entry: key = 1 (string), value = 2 (Feature); either may be absent.
      WireReader entry(features.length_delimited(), source, "Features.feature entry");
      std::span<const uint8_t> key;
      std::vector<std::span<const uint8_t>> values;  // merged in order, as protobuf does
      while (!entry.done()) {
        const auto [efield, ewire] = entry.tag();
        if (efield == 1 && ewire == kLengthDelimited) {
          key = entry.length_delimited();
        } else if (efield == 2 && ewire == kLengthDelimited) {
          values.push_back(entry.length_delimited());
        } else {
          entry.skip(ewire);
        }
      }
      Feature feature;
      for (const auto& v : values) parse_feature(v, source, feature);
      std::string name(key.begin(), key.end());
      const auto [it, inserted] = index.try_emplace(name, out.features_.size());
      if (inserted) {
        out.features_.emplace_back(std::move(name), std::move(feature));
      } else {
        out.features_[it->second].second = std::move(feature);  // a map keeps the last value
      }
    }
  }
  return out;
}

const Feature* Example::find(const std::string& name) const {
  for (const auto& [key, feature] : features_) {
    if (key == name) return &feature;
  }
  return nullptr;
}

const Feature& Example::get(const std::string& name, Feature::Kind kind, const std::string& source,
                            int64_t index) const {
  const Feature* f = find(name);
  if (!f) {
    std::string keys;
    for (const auto& [key, feature] : features_) {
      keys += (keys.empty() ? "" : ", ") + key + " (" + feature_kind_name(feature.kind) + ")";
    }
    LT_CHECK(false, kInvalidArgument, source, ": tf.train.Example has no feature '", name,
             "'; it has: ", keys.empty() ? "no features" : keys,
             "; pass the key names your records use");
  }
  LT_CHECK(f->kind == kind, kInvalidArgument, source, ": feature '", name, "' is a ",
           feature_kind_name(f->kind), ", expected a ", feature_kind_name(kind));
  const size_t size = kind == Feature::Kind::kBytes   ? f->bytes_list.size()
                      : kind == Feature::Kind::kFloat ? f->float_list.size()
                                                      : f->int64_list.size();
  LT_CHECK(index >= 0 && static_cast<size_t>(index) < size, kInvalidArgument, source, ": feature '",
           name, "' has ", size, " values; index ", index, " is out of range");
  return *f;
}

std::span<const uint8_t> Example::bytes(const std::string& name, const std::string& source,
                                        int64_t index) const {
  return get(name, Feature::Kind::kBytes, source, index).bytes_list[static_cast<size_t>(index)];
}

int64_t Example::int64(const std::string& name, const std::string& source, int64_t index) const {
  return get(name, Feature::Kind::kInt64, source, index).int64_list[static_cast<size_t>(index)];
}

float Example::float32(const std::string& name, const std::string& source, int64_t index) const {
  return get(name, Feature::Kind::kFloat, source, index).float_list[static_cast<size_t>(index)];
}

namespace {

void put_length_delimited(std::vector<uint8_t>& out, uint64_t field,
                          std::span<const uint8_t> data) {
  put_varint(out, (field << 3) | kLengthDelimited);
  put_varint(out, data.size());
  out.insert(out.end(), data.begin(), data.end());
}

std::vector<uint8_t> serialize_feature(const Feature& f) {
  std::vector<uint8_t> list;
  uint64_t field = 0;
  switch (f.kind) {
    case Feature::Kind::kBytes:
      field = 1;
      for (const auto& v : f.bytes_list) put_length_delimited(list, 1, v);
      break;
    case Feature::Kind::kFloat: {
      field = 2;
      std::vector<uint8_t> packed(f.float_list.size() * 4);
      if (!packed.empty()) std::memcpy(packed.data(), f.float_list.data(), packed.size());
      if (!packed.empty()) put_length_delimited(list, 1, packed);
      break;
    }
    case Feature::Kind::kInt64: {
      field = 3;
      std::vector<uint8_t> packed;
      for (int64_t v : f.int64_list) put_varint(packed, static_cast<uint64_t>(v));
      if (!packed.empty()) put_length_delimited(list, 1, packed);
      break;
    }
    default:
      return {};
  }
  std::vector<uint8_t> out;
  put_length_delimited(out, field, list);
  return out;
}

}  // namespace

std::vector<uint8_t> serialize_example(
    const std::vector<std::pair<std::string, Feature>>& features) {
  std::vector<uint8_t> map;
  for (const auto& [name, feature] : features) {
    std::vector<uint8_t> entry;
    put_length_delimited(
        entry, 1,
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(name.data()), name.size()));
    put_length_delimited(entry, 2, serialize_feature(feature));
    put_length_delimited(map, 1, entry);
  }
  std::vector<uint8_t> out;
  put_length_delimited(out, 1, map);
  return out;
}

Feature bytes_feature(std::vector<std::span<const uint8_t>> values) {
  Feature f;
  f.kind = Feature::Kind::kBytes;
  f.bytes_list = std::move(values);
  return f;
}

Feature int64_feature(std::vector<int64_t> values) {
  Feature f;
  f.kind = Feature::Kind::kInt64;
  f.int64_list = std::move(values);
  return f;
}

Feature float_feature(std::vector<float> values) {
  Feature f;
  f.kind = Feature::Kind::kFloat;
  f.float_list = std::move(values);
  return f;
}

}  // namespace leantrain::data

// libFuzzer target for the TFRecord reader and the tf.train.Example parser: any input either
// yields records whose CRCs matched (each parsed as an Example, whose features must be
// consistent) or throws leantrain::Error(kDataLoss). Anything else (a crash, a sanitizer report,
// a leak, another exception or error code, a broken invariant) is a finding.
//
// The input is read twice: as a TFRecord stream, and as one serialized Example on its own (so
// the parser is fuzzed without needing valid CRCs). Run through scripts/fuzz.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/data/tfrecord.h"

namespace {

using namespace leantrain;
using namespace leantrain::data;

void require(bool cond) {
  if (!cond) std::abort();
}

volatile unsigned sink = 0;

// Parses `record` as an Example and checks what the parse promises.
void parse_and_check(const std::vector<uint8_t>& record) {
  try {
    const Example example = parse_example(record, "fuzz-input");
    for (const auto& [name, feature] : example.features()) {
      require(example.find(name) != nullptr);
      switch (feature.kind) {
        case Feature::Kind::kBytes:
          require(feature.float_list.empty() && feature.int64_list.empty());
          for (const auto& v : feature.bytes_list) {
            // Views lie inside the Example's copy of the record: read them all (ASan checks).
            unsigned sum = 0;
            for (uint8_t b : v) sum += b;
            sink = sum;
            require(v.size() <= record.size());
          }
          break;
        case Feature::Kind::kFloat:
          require(feature.bytes_list.empty() && feature.int64_list.empty());
          require(feature.float_list.size() <= record.size());
          break;
        case Feature::Kind::kInt64:
          require(feature.bytes_list.empty() && feature.float_list.empty());
          require(feature.int64_list.size() <= record.size());
          break;
        case Feature::Kind::kNone:
          break;
      }
    }
    // Typed access either succeeds or throws kInvalidArgument naming the keys.
    try {
      (void)example.bytes("image/encoded", "fuzz-input");
    } catch (const Error& e) {
      require(e.code() == ErrorCode::kInvalidArgument);
    }
    // A parsed Example serializes and parses back to the same features.
    const std::vector<uint8_t> again = serialize_example(example.features());
    const Example round = parse_example(again, "fuzz-roundtrip");
    require(round.features().size() == example.features().size());
    for (size_t i = 0; i < round.features().size(); ++i) {
      const Feature& a = example.features()[i].second;
      const Feature& b = round.features()[i].second;
      require(example.features()[i].first == round.features()[i].first);
      require(a.kind == b.kind);
      require(a.int64_list == b.int64_list && a.float_list.size() == b.float_list.size() &&
              a.bytes_list.size() == b.bytes_list.size());
      if (!a.float_list.empty()) {
        require(std::memcmp(a.float_list.data(), b.float_list.data(),
                            a.float_list.size() * sizeof(float)) == 0);
      }
      for (size_t k = 0; k < a.bytes_list.size(); ++k) {
        require(std::equal(a.bytes_list[k].begin(), a.bytes_list[k].end(), b.bytes_list[k].begin(),
                           b.bytes_list[k].end()));
      }
    }
  } catch (const Error& e) {
    require(e.code() == ErrorCode::kDataLoss);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  try {
    TfRecordReader reader(bytes, "fuzz-input");
    reader.set_max_record_bytes(int64_t{1} << 20);
    std::vector<uint8_t> record;
    int64_t count = 0;
    while (reader.next(record)) {
      ++count;
      require(reader.records_read() == count);
      require(reader.offset() <= static_cast<int64_t>(size));
      parse_and_check(record);
    }
    require(reader.offset() == static_cast<int64_t>(size));
  } catch (const Error& e) {
    require(e.code() == ErrorCode::kDataLoss);
  }
  parse_and_check(std::vector<uint8_t>(data, data + size));
  return 0;
}

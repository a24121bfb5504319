// libFuzzer target for the safetensors reader: any input either parses into a file whose
// tensors lie inside its data and survive an encode/parse round trip, or throws
// leantrain::Error. Anything else (a crash, a sanitizer report, another exception type, a
// broken invariant) is a finding. Writes nothing to disk.
//
//   clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
//     tests/fuzz/safetensors_fuzz.cc src/train/safetensors.cc src/core/*.cc -o safetensors_fuzz
//   ./safetensors_fuzz -max_len=4096 corpus/
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/train/safetensors.h"

namespace {

using leantrain::train::NamedTensorView;
using leantrain::train::SafetensorsFile;
using leantrain::train::StoredTensor;

// Aborts (a finding for libFuzzer) unless `cond`.
void require(bool cond) {
  if (!cond) std::abort();
}

void check_invariants(const SafetensorsFile& file) {
  int64_t total = 0;
  for (const StoredTensor& t : file.tensors()) {
    require(static_cast<int64_t>(t.bytes.size()) ==
            t.shape.num_elements() * leantrain::dtype_size(t.dtype));
    require(t.shape.rank() <= leantrain::Shape::kMaxRank);
    require(file.find(t.name) == &t);
    total += static_cast<int64_t>(t.bytes.size());
  }
  require(total == file.data_bytes());
}

void check_round_trip(const SafetensorsFile& file) {
  std::vector<NamedTensorView> views;
  for (const StoredTensor& t : file.tensors()) {
    void* data = const_cast<std::byte*>(t.bytes.data());  // only read by encode_safetensors
    views.push_back({t.name, leantrain::TensorView(data, t.dtype, t.shape)});
  }
  const std::string bytes = leantrain::train::encode_safetensors(views, file.metadata());
  const SafetensorsFile again = leantrain::train::parse_safetensors(bytes, "round trip");
  require(again.tensors().size() == file.tensors().size());
  require(again.metadata() == file.metadata());
  for (size_t i = 0; i < file.tensors().size(); ++i) {
    const StoredTensor& a = file.tensors()[i];
    const StoredTensor& b = again.tensors()[i];
    require(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape);
    require(a.bytes.size() == b.bytes.size());
    require(a.bytes.empty() || std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size()) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  SafetensorsFile file;
  try {
    file = leantrain::train::parse_safetensors(input, "fuzz.safetensors");
  } catch (const leantrain::Error& e) {
    // Rejections are expected; they must say which file.
    require(std::string_view(e.what()).starts_with("fuzz.safetensors: "));
    return 0;
  }
  check_invariants(file);
  check_round_trip(file);  // a leantrain::Error here escapes: a valid file must re-encode
  return 0;
}

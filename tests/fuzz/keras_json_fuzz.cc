// libFuzzer target for the Keras JSON reader (model files given as --model x.json, and what the
// Python package hands the engine): any input either builds a model or throws leantrain::Error
// whose message starts with "Keras JSON: ". A model built is written back (to_json) and read
// again: the same JSON and the same parameter counts, so reading loses nothing it accepted.
// Anything else (a crash, a sanitizer report, another exception type, a broken invariant) is a
// finding. Writes nothing to disk.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "leantrain/core/error.h"
#include "leantrain/nn/model.h"
#include "leantrain/nn/serialization.h"

namespace {

// Aborts (a finding for libFuzzer) unless `cond`.
void require(bool cond) {
  if (!cond) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  try {
    const leantrain::nn::Model model = leantrain::nn::model_from_json(input);
    std::string json;
    try {
      json = leantrain::nn::to_json(model);
    } catch (const leantrain::Error& e) {
      // A layer read from JSON always has a Keras form.
      require(e.code() != leantrain::ErrorCode::kUnimplemented);
      throw;
    }
    const leantrain::nn::Model again = leantrain::nn::model_from_json(json);
    require(leantrain::nn::to_json(again) == json);
    require(again.count_params(true) == model.count_params(true));
    require(again.count_params(false) == model.count_params(false));
  } catch (const leantrain::Error& e) {
    require(std::string_view(e.what()).starts_with("Keras JSON: "));
  }
  return 0;
}

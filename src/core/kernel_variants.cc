#include "leantrain/core/kernel_variants.h"

#include <array>
#include <utility>

#include "leantrain/core/error.h"

namespace leantrain {
namespace {

constexpr std::array<std::pair<ConvWeightsLayout, std::string_view>, 2> kConvWeightsNames = {
    {{ConvWeightsLayout::kAny, "any"}, {ConvWeightsLayout::kPlain, "plain"}}};
constexpr std::array<std::pair<DenseImpl, std::string_view>, 2> kDenseNames = {
    {{DenseImpl::kMatmul, "matmul"}, {DenseImpl::kInnerProduct, "inner_product"}}};

// The value `text` names in `names`; throws Error(kInvalidArgument) naming `what`, the text and
// the accepted names otherwise.
template <typename T, size_t N>
T parse_name(std::string_view text, const std::array<std::pair<T, std::string_view>, N>& names,
             const char* what) {
  std::string accepted;
  for (const auto& [value, name] : names) {
    if (name == text) return value;
    accepted += (accepted.empty() ? "" : " or ") + std::string(name);
  }
  throw Error(ErrorCode::kInvalidArgument,
              std::string(what) + " '" + std::string(text) + "' is not supported; use " + accepted);
}

template <typename T, size_t N>
std::string name_of(T value, const std::array<std::pair<T, std::string_view>, N>& names) {
  for (const auto& [v, name] : names) {
    if (v == value) return std::string(name);
  }
  return "unknown";
}

}  // namespace

ConvWeightsLayout parse_conv_weights_layout(std::string_view text) {
  return parse_name(text, kConvWeightsNames, "conv weights layout");
}

DenseImpl parse_dense_impl(std::string_view text) {
  return parse_name(text, kDenseNames, "dense implementation");
}

std::string to_string(ConvWeightsLayout layout) { return name_of(layout, kConvWeightsNames); }
std::string to_string(DenseImpl impl) { return name_of(impl, kDenseNames); }

}  // namespace leantrain

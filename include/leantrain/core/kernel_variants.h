// The variants a fast (oneDNN) kernel can be built in. Each default is the variant measured
// fastest on the CNN's shapes (src/kernels/conv2d_dnnl.cc, dense_dnnl.cc); the others are kept
// to re-measure on other CPUs and to test each. Chosen per program (graph::KernelOptions) and
// passed to the kernels' constructors; every variant computes the same function, up to the
// order of floating-point sums.
#pragma once

#include <string>
#include <string_view>

namespace leantrain {

// The weights layout of oneDNN convolution primitives.
enum class ConvWeightsLayout {
  kAny,    // "any": oneDNN picks its (blocked) layout; Keras' weights are reordered to and from it
  kPlain,  // "plain": the primitives read Keras' (KH, KW, IC, OC) layout directly
};

// The oneDNN primitives behind Dense.
enum class DenseImpl {
  kMatmul,        // "matmul"
  kInnerProduct,  // "inner_product"
};

// The defaults: the variants measured fastest, and the ones every result so far was computed
// with.
inline constexpr ConvWeightsLayout kDefaultConvWeightsLayout = ConvWeightsLayout::kAny;
inline constexpr DenseImpl kDefaultDenseImpl = DenseImpl::kMatmul;

// Returns the layout `text` names ("any" or "plain"); throws Error(kInvalidArgument) naming the
// text and the accepted names otherwise.
ConvWeightsLayout parse_conv_weights_layout(std::string_view text);
// Returns the implementation `text` names ("matmul" or "inner_product"); throws
// Error(kInvalidArgument) naming the text and the accepted names otherwise.
DenseImpl parse_dense_impl(std::string_view text);

// The names the parse functions accept, for printing.
std::string to_string(ConvWeightsLayout layout);
std::string to_string(DenseImpl impl);

}  // namespace leantrain

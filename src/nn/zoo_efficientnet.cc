// EfficientNet as Keras 3 builds it (keras/src/applications/efficientnet.py, weights=None): the
// same layers, names and order. Only B0 is public; the builder takes the scaling coefficients.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <iterator>

#include "leantrain/core/error.h"
#include "leantrain/nn/zoo.h"
#include "nn/zoo_util.h"

namespace leantrain::nn {
namespace {

// One stage of DEFAULT_BLOCKS_ARGS (all with id_skip=True, se_ratio=0.25).
struct BlockArgs {
  int64_t kernel_size, repeats, filters_in, filters_out, expand_ratio, strides;
};
constexpr BlockArgs kDefaultBlocks[] = {
    {3, 1, 32, 16, 1, 1},  {3, 2, 16, 24, 6, 2},   {5, 2, 24, 40, 6, 2},   {3, 3, 40, 80, 6, 2},
    {5, 3, 80, 112, 6, 1}, {5, 4, 112, 192, 6, 2}, {3, 1, 192, 320, 6, 1},
};
constexpr double kSeRatio = 0.25;
constexpr const char* kActivation = "swish";

std::string to_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// efficientnet.block: [expand 1x1, BN, swish], [pad], depthwise k x k, BN, swish,
// squeeze-and-excitation, project 1x1, BN, [stochastic depth, add the input].
Tensor block(const Tensor& inputs, float drop_rate, const std::string& name, int64_t filters_in,
             int64_t filters_out, int64_t kernel_size, int64_t strides, int64_t expand_ratio) {
  const int64_t filters = filters_in * expand_ratio;
  Tensor x = inputs;
  if (expand_ratio != 1) {
    x = Conv2D({.filters = filters,
                .kernel_size = 1,
                .padding = "same",
                .use_bias = false,
                .kernel_initializer = kEfficientNetConvInitializer,
                .name = name + "expand_conv"})(x);
    x = BatchNormalization({.name = name + "expand_bn"})(x);
    x = Activation(kActivation, name + "expand_activation")(x);
  }
  if (strides == 2) {
    x = ZeroPadding2D(zoo::correct_pad(x.shape(), kernel_size, name + "dwconv_pad"))(x);
  }
  x = DepthwiseConv2D({.kernel_size = kernel_size,
                       .strides = strides,
                       .padding = strides == 2 ? "valid" : "same",
                       .use_bias = false,
                       .depthwise_initializer = kEfficientNetConvInitializer,
                       .name = name + "dwconv"})(x);
  x = BatchNormalization({.name = name + "bn"})(x);
  x = Activation(kActivation, name + "activation")(x);
  // Squeeze and excitation.
  const int64_t filters_se =
      std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(filters_in) * kSeRatio));
  Tensor se = GlobalAveragePooling2D({.name = name + "se_squeeze"})(x);
  se = Reshape({.target_shape = {1, 1, filters}, .name = name + "se_reshape"})(se);
  se = Conv2D({.filters = filters_se,
               .kernel_size = 1,
               .padding = "same",
               .activation = kActivation,
               .kernel_initializer = kEfficientNetConvInitializer,
               .name = name + "se_reduce"})(se);
  se = Conv2D({.filters = filters,
               .kernel_size = 1,
               .padding = "same",
               .activation = "sigmoid",
               .kernel_initializer = kEfficientNetConvInitializer,
               .name = name + "se_expand"})(se);
  x = Multiply({.name = name + "se_excite"})({x, se});
  // Output phase.
  x = Conv2D({.filters = filters_out,
              .kernel_size = 1,
              .padding = "same",
              .use_bias = false,
              .kernel_initializer = kEfficientNetConvInitializer,
              .name = name + "project_conv"})(x);
  x = BatchNormalization({.name = name + "project_bn"})(x);
  if (strides == 1 && filters_in == filters_out) {
    if (drop_rate > 0) {
      x = Dropout({.rate = drop_rate, .name = name + "drop"}, {kNoneDim, 1, 1, 1})(x);
    }
    x = Add({.name = name + "add"})({x, inputs});
  }
  return x;
}

// efficientnet.EfficientNet with drop_connect_rate 0.2, depth_divisor 8, swish and the default
// blocks.
Model efficientnet(const std::string& model, double width_coefficient, double depth_coefficient,
                   float dropout_rate, const EfficientNetOptions& o) {
  zoo::check_input_shape(model, o.input_shape);
  zoo::check_top(model, o.classes, o.pooling, o.classifier_activation);
  constexpr double kDropConnectRate = 0.2;
  auto round_filters = [&](int64_t filters) {
    return zoo::make_divisible(static_cast<double>(filters) * width_coefficient, 8);
  };
  auto round_repeats = [&](int64_t repeats) {
    return static_cast<int64_t>(std::ceil(depth_coefficient * static_cast<double>(repeats)));
  };

  const Tensor inputs = Input({.shape = o.input_shape});
  Tensor x = Rescaling({.scale = 1.0f / 255.0f})(inputs);
  x = Normalization({.axis = 3})(x);
  x = ZeroPadding2D(zoo::correct_pad(x.shape(), 3, "stem_conv_pad"))(x);
  x = Conv2D({.filters = round_filters(32),
              .kernel_size = 3,
              .strides = 2,
              .padding = "valid",
              .use_bias = false,
              .kernel_initializer = kEfficientNetConvInitializer,
              .name = "stem_conv"})(x);
  x = BatchNormalization({.name = "stem_bn"})(x);
  x = Activation(kActivation, "stem_activation")(x);

  double blocks = 0;
  for (const BlockArgs& args : kDefaultBlocks)
    blocks += static_cast<double>(round_repeats(args.repeats));
  int64_t b = 0;
  for (size_t i = 0; i < std::size(kDefaultBlocks); ++i) {
    const BlockArgs& args = kDefaultBlocks[i];
    int64_t filters_in = round_filters(args.filters_in);
    const int64_t filters_out = round_filters(args.filters_out);
    int64_t strides = args.strides;
    for (int64_t j = 0; j < round_repeats(args.repeats); ++j) {
      if (j > 0) {
        strides = 1;
        filters_in = filters_out;
      }
      const std::string name = "block" + std::to_string(i + 1) + static_cast<char>('a' + j) + "_";
      const auto drop_rate = static_cast<float>(kDropConnectRate * static_cast<double>(b) / blocks);
      x = block(x, drop_rate, name, filters_in, filters_out, args.kernel_size, strides,
                args.expand_ratio);
      ++b;
    }
  }

  x = Conv2D({.filters = round_filters(1280),
              .kernel_size = 1,
              .padding = "same",
              .use_bias = false,
              .kernel_initializer = kEfficientNetConvInitializer,
              .name = "top_conv"})(x);
  x = BatchNormalization({.name = "top_bn"})(x);
  x = Activation(kActivation, "top_activation")(x);
  if (o.include_top) {
    x = GlobalAveragePooling2D({.name = "avg_pool"})(x);
    if (dropout_rate > 0) x = Dropout({.rate = dropout_rate, .name = "top_dropout"})(x);
    x = Dense({.units = o.classes,
               .activation = zoo::activation_or_linear(o.classifier_activation),
               .kernel_initializer = kEfficientNetDenseInitializer,
               .name = "predictions"})(x);
  } else if (o.pooling == "avg") {
    x = GlobalAveragePooling2D({.name = "avg_pool"})(x);
  } else if (o.pooling == "max") {
    x = GlobalMaxPooling2D({.name = "max_pool"})(x);
  }
  return Model(inputs, x, o.name.empty() ? to_lower(model) : o.name);
}

}  // namespace

Model EfficientNetB0(const EfficientNetOptions& o) {
  return efficientnet("EfficientNetB0", 1.0, 1.0, 0.2f, o);
}

}  // namespace leantrain::nn

// MobileNet and MobileNetV2 as Keras 3 builds them (keras/src/applications/mobilenet.py and
// mobilenet_v2.py, weights=None): the same layers, names and order.
#include <cmath>

#include "leantrain/core/error.h"
#include "leantrain/nn/zoo.h"
#include "nn/zoo_util.h"

namespace leantrain::nn {
namespace {

// Features without the top: none, global average or global max pooling (Keras' default names).
Tensor pooled(Tensor x, const std::string& pooling) {
  if (pooling == "avg") return GlobalAveragePooling2D()(x);
  if (pooling == "max") return GlobalMaxPooling2D()(x);
  return x;
}

// mobilenet._depthwise_conv_block: [pad] depthwise 3x3, BN, ReLU6, pointwise 1x1, BN, ReLU6.
Tensor depthwise_conv_block(Tensor x, int64_t pointwise_filters, double alpha,
                            int64_t depth_multiplier, int64_t strides, int block_id) {
  const std::string id = std::to_string(block_id);
  const auto filters = static_cast<int64_t>(static_cast<double>(pointwise_filters) * alpha);
  if (strides != 1) {
    x = ZeroPadding2D({.top_bottom = {0, 1}, .left_right = {0, 1}, .name = "conv_pad_" + id})(x);
  }
  x = DepthwiseConv2D({.kernel_size = 3,
                       .strides = strides,
                       .padding = strides == 1 ? "same" : "valid",
                       .depth_multiplier = depth_multiplier,
                       .use_bias = false,
                       .name = "conv_dw_" + id})(x);
  x = BatchNormalization({.name = "conv_dw_" + id + "_bn"})(x);
  x = ReLU({.max_value = 6.0f, .name = "conv_dw_" + id + "_relu"})(x);
  x = Conv2D({.filters = filters,
              .kernel_size = 1,
              .strides = 1,
              .padding = "same",
              .use_bias = false,
              .name = "conv_pw_" + id})(x);
  x = BatchNormalization({.name = "conv_pw_" + id + "_bn"})(x);
  return ReLU({.max_value = 6.0f, .name = "conv_pw_" + id + "_relu"})(x);
}

// MobileNetV2's batch normalization: epsilon 1e-3, momentum 0.999.
Tensor bn_v2(Tensor x, std::string name) {
  return BatchNormalization({.momentum = 0.999f, .epsilon = 1e-3f, .name = std::move(name)})(x);
}

// mobilenet_v2._inverted_res_block: [expand 1x1, BN, ReLU6], [pad], depthwise 3x3, BN, ReLU6,
// project 1x1, BN, [add the input when the shapes allow].
Tensor inverted_res_block(const Tensor& inputs, int64_t expansion, int64_t stride, double alpha,
                          int64_t filters, int block_id) {
  const int64_t in_channels = inputs.shape().dim(-1);
  const auto pointwise_conv_filters = static_cast<int64_t>(static_cast<double>(filters) * alpha);
  const int64_t pointwise_filters =
      zoo::make_divisible(static_cast<double>(pointwise_conv_filters));
  Tensor x = inputs;
  std::string prefix = "block_" + std::to_string(block_id) + "_";
  if (block_id != 0) {
    x = Conv2D({.filters = expansion * in_channels,
                .kernel_size = 1,
                .padding = "same",
                .use_bias = false,
                .name = prefix + "expand"})(x);
    x = bn_v2(x, prefix + "expand_BN");
    x = ReLU({.max_value = 6.0f, .name = prefix + "expand_relu"})(x);
  } else {
    prefix = "expanded_conv_";
  }
  if (stride == 2) x = ZeroPadding2D(zoo::correct_pad(x.shape(), 3, prefix + "pad"))(x);
  x = DepthwiseConv2D({.kernel_size = 3,
                       .strides = stride,
                       .padding = stride == 1 ? "same" : "valid",
                       .use_bias = false,
                       .name = prefix + "depthwise"})(x);
  x = bn_v2(x, prefix + "depthwise_BN");
  x = ReLU({.max_value = 6.0f, .name = prefix + "depthwise_relu"})(x);
  x = Conv2D({.filters = pointwise_filters,
              .kernel_size = 1,
              .padding = "same",
              .use_bias = false,
              .name = prefix + "project"})(x);
  x = bn_v2(x, prefix + "project_BN");
  if (in_channels == pointwise_filters && stride == 1) {
    return Add({.name = prefix + "add"})({inputs, x});
  }
  return x;
}

void check_alpha(const char* model, double alpha) {
  LT_CHECK(std::isfinite(alpha) && alpha > 0, kInvalidArgument, model,
           ": alpha must be positive, got ", alpha);
}

}  // namespace

Model MobileNet(const MobileNetOptions& o) {
  zoo::check_input_shape("MobileNet", o.input_shape);
  check_alpha("MobileNet", o.alpha);
  LT_CHECK(o.depth_multiplier >= 1, kInvalidArgument,
           "MobileNet: depth_multiplier must be at least 1, got ", o.depth_multiplier);
  LT_CHECK(o.dropout >= 0.0f && o.dropout < 1.0f, kInvalidArgument,
           "MobileNet: dropout must be in [0, 1), got ", o.dropout);
  zoo::check_top("MobileNet", o.classes, o.pooling, o.classifier_activation);
  const double alpha = o.alpha;
  const int64_t dm = o.depth_multiplier;

  const Tensor inputs = Input({.shape = o.input_shape});
  // mobilenet._conv_block
  Tensor x = Conv2D({.filters = static_cast<int64_t>(32 * alpha),
                     .kernel_size = 3,
                     .strides = 2,
                     .padding = "same",
                     .use_bias = false,
                     .name = "conv1"})(inputs);
  x = BatchNormalization({.name = "conv1_bn"})(x);
  x = ReLU({.max_value = 6.0f, .name = "conv1_relu"})(x);
  // (pointwise filters, strides) of blocks 1..13
  constexpr int64_t kBlocks[13][2] = {{64, 1},  {128, 2},  {128, 1}, {256, 2}, {256, 1},
                                      {512, 2}, {512, 1},  {512, 1}, {512, 1}, {512, 1},
                                      {512, 1}, {1024, 2}, {1024, 1}};
  for (int i = 0; i < 13; ++i) {
    x = depthwise_conv_block(x, kBlocks[i][0], alpha, dm, kBlocks[i][1], i + 1);
  }
  if (o.include_top) {
    x = GlobalAveragePooling2D({.keepdims = true})(x);
    x = Dropout({.rate = o.dropout, .name = "dropout"})(x);
    x = Conv2D({.filters = o.classes, .kernel_size = 1, .padding = "same", .name = "conv_preds"})(
        x);
    x = Reshape({.target_shape = {o.classes}, .name = "reshape_2"})(x);
    x = Activation(zoo::activation_or_linear(o.classifier_activation), "predictions")(x);
  } else {
    x = pooled(x, o.pooling);
  }
  const std::string name = o.name.empty() ? "mobilenet_" + zoo::alpha_text(alpha) + "_" +
                                                std::to_string(o.input_shape[0])
                                          : o.name;
  return Model(inputs, x, name);
}

Model MobileNetV2(const MobileNetV2Options& o) {
  zoo::check_input_shape("MobileNetV2", o.input_shape);
  check_alpha("MobileNetV2", o.alpha);
  zoo::check_top("MobileNetV2", o.classes, o.pooling, o.classifier_activation);
  const double alpha = o.alpha;

  const Tensor inputs = Input({.shape = o.input_shape});
  Tensor x = Conv2D({.filters = zoo::make_divisible(32 * alpha),
                     .kernel_size = 3,
                     .strides = 2,
                     .padding = "same",
                     .use_bias = false,
                     .name = "Conv1"})(inputs);
  x = bn_v2(x, "bn_Conv1");
  x = ReLU({.max_value = 6.0f, .name = "Conv1_relu"})(x);
  // (filters, stride, expansion) of blocks 0..16
  constexpr int64_t kBlocks[17][3] = {{16, 1, 1},  {24, 2, 6}, {24, 1, 6}, {32, 2, 6},  {32, 1, 6},
                                      {32, 1, 6},  {64, 2, 6}, {64, 1, 6}, {64, 1, 6},  {64, 1, 6},
                                      {96, 1, 6},  {96, 1, 6}, {96, 1, 6}, {160, 2, 6}, {160, 1, 6},
                                      {160, 1, 6}, {320, 1, 6}};
  for (int i = 0; i < 17; ++i) {
    x = inverted_res_block(x, kBlocks[i][2], kBlocks[i][1], alpha, kBlocks[i][0], i);
  }
  // No alpha on the last convolution unless it widens the network (as the paper).
  const int64_t last_block_filters = alpha > 1.0 ? zoo::make_divisible(1280 * alpha) : 1280;
  x = Conv2D(
      {.filters = last_block_filters, .kernel_size = 1, .use_bias = false, .name = "Conv_1"})(x);
  x = bn_v2(x, "Conv_1_bn");
  x = ReLU({.max_value = 6.0f, .name = "out_relu"})(x);
  if (o.include_top) {
    x = GlobalAveragePooling2D()(x);
    x = Dense({.units = o.classes,
               .activation = zoo::activation_or_linear(o.classifier_activation),
               .name = "predictions"})(x);
  } else {
    x = pooled(x, o.pooling);
  }
  const std::string name = o.name.empty() ? "mobilenetv2_" + zoo::alpha_text(alpha) + "_" +
                                                std::to_string(o.input_shape[0])
                                          : o.name;
  return Model(inputs, x, name);
}

}  // namespace leantrain::nn

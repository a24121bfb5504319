// The zoo against Keras 3's applications (keras/src/applications/mobilenet.py, mobilenet_v2.py,
// efficientnet.py at keras@3422977a5e38): parameter totals Keras reports, layer counts derived
// from the Keras source below, output shapes and names at known points, the alpha formula,
// the top and pooling variants, make_model() and the summary.
#include "leantrain/nn/zoo.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "leantrain/core/error.h"

namespace leantrain::nn {
namespace {

// The output shape (without batch) of the layer called `name`.
Shape output_of(const Model& model, const std::string& name) {
  for (const Tensor& t : model.calls()) {
    if (t.call().layer->name() == name) return t.shape();
  }
  ADD_FAILURE() << "model '" << model.name() << "' has no layer '" << name << "'";
  return Shape{};
}

std::vector<std::string> layer_names(const Model& model) {
  std::vector<std::string> names;
  for (const LayerPtr& layer : model.layers()) names.push_back(layer->name());
  return names;
}

// Keras' totals, as model.summary() prints them for the application with its defaults
// (224x224x3, 1000 classes, include_top=True, weights=None); the issue quotes them.
struct KerasTotals {
  int64_t total, trainable, non_trainable;
};

void expect_totals(const Model& model, const KerasTotals& keras) {
  EXPECT_EQ(model.count_params(true), keras.trainable) << model.name();
  EXPECT_EQ(model.count_params(false), keras.non_trainable) << model.name();
  EXPECT_EQ(model.count_params(true) + model.count_params(false), keras.total) << model.name();
}

// MobileNet's layers (mobilenet.py), len(model.layers):
//   1   InputLayer
//   3   _conv_block: conv1, conv1_bn, conv1_relu
//  78   13 _depthwise_conv_block x 6: conv_dw_i, conv_dw_i_bn, conv_dw_i_relu, conv_pw_i,
//       conv_pw_i_bn, conv_pw_i_relu
//   4   conv_pad_i for the four stride-2 blocks (2, 4, 6, 12)
//   5   top: global_average_pooling2d (keepdims), dropout, conv_preds, reshape_2, predictions
// = 91.
constexpr size_t kMobileNetLayers = 1 + 3 + 13 * 6 + 4 + 5;

// MobileNetV2's layers (mobilenet_v2.py), len(model.layers):
//   1   InputLayer
//   3   Conv1, bn_Conv1, Conv1_relu
//   5   block 0 (expansion 1, no expand): expanded_conv_depthwise, _depthwise_BN,
//       _depthwise_relu, _project, _project_BN
// 128   blocks 1..16 x 8: expand, expand_BN, expand_relu, depthwise, depthwise_BN,
//       depthwise_relu, project, project_BN
//   4   block_i_pad for the stride-2 blocks 1, 3, 6, 13
//  10   block_i_add where stride 1 and in == out channels: 2, 4, 5, 7, 8, 9, 11, 12, 14, 15
//   3   Conv_1, Conv_1_bn, out_relu
//   2   top: global_average_pooling2d, predictions
// = 156.
constexpr size_t kMobileNetV2Layers = 1 + 3 + 5 + 16 * 8 + 4 + 10 + 3 + 2;

// EfficientNetB0's layers (efficientnet.py, weights=None so no extra Rescaling), len(layers):
//   1   InputLayer
//   2   rescaling, normalization
//   4   stem_conv_pad, stem_conv, stem_bn, stem_activation
//  10   block1a (expand_ratio 1: no expansion): dwconv, bn, activation, se_squeeze, se_reshape,
//       se_reduce, se_expand, se_excite, project_conv, project_bn
// 195   the 15 other blocks (2a 2b 3a 3b 4a 4b 4c 5a 5b 5c 6a 6b 6c 6d 7a) x 13: the 10 above
//       plus expand_conv, expand_bn, expand_activation
//   4   dwconv_pad for the stride-2 blocks 2a, 3a, 4a, 6a
//  18   drop + add for the 9 blocks with stride 1 and filters_in == filters_out (2b 3b 4b 4c 5b
//       5c 6b 6c 6d; their drop rate 0.2 * b / 16 is > 0)
//   3   top_conv, top_bn, top_activation
//   3   top: avg_pool, top_dropout, predictions
// = 240.
constexpr size_t kEfficientNetB0Layers = 1 + 2 + 4 + 10 + 15 * 13 + 4 + 18 + 3 + 3;

TEST(ZooTest, MobileNetMatchesKerasTotalsLayersAndName) {
  const Model model = MobileNet();
  expect_totals(model, {4'253'864, 4'231'976, 21'888});
  EXPECT_EQ(model.layers().size(), kMobileNetLayers);
  EXPECT_EQ(model.name(), "mobilenet_1.00_224");
  EXPECT_EQ(model.output_shape(), (Shape{1000}));
}

TEST(ZooTest, MobileNetV2MatchesKerasTotalsLayersAndName) {
  const Model model = MobileNetV2();
  expect_totals(model, {3'538'984, 3'504'872, 34'112});
  EXPECT_EQ(model.layers().size(), kMobileNetV2Layers);
  EXPECT_EQ(model.name(), "mobilenetv2_1.00_224");
  EXPECT_EQ(model.output_shape(), (Shape{1000}));
}

TEST(ZooTest, EfficientNetB0MatchesKerasTotalsLayersAndName) {
  const Model model = EfficientNetB0();
  expect_totals(model, {5'330'571, 5'288'548, 42'023});
  EXPECT_EQ(model.layers().size(), kEfficientNetB0Layers);
  EXPECT_EQ(model.name(), "efficientnetb0");
  EXPECT_EQ(model.output_shape(), (Shape{1000}));
}

TEST(ZooTest, MobileNetShapesAndNamesAtKnownPoints) {
  const Model model = MobileNet();
  // conv1 "same" stride 2: 224 -> 112; conv_pad_2 pads ((0, 1), (0, 1)): 112 -> 113; its
  // "valid" 3x3 stride 2 depthwise: (113 - 3) / 2 + 1 = 56.
  EXPECT_EQ(output_of(model, "conv1_relu"), (Shape{112, 112, 32}));
  EXPECT_EQ(output_of(model, "conv_pad_2"), (Shape{113, 113, 64}));
  EXPECT_EQ(output_of(model, "conv_dw_2"), (Shape{56, 56, 64}));
  EXPECT_EQ(output_of(model, "conv_pw_13_relu"), (Shape{7, 7, 1024}));
  EXPECT_EQ(output_of(model, "global_average_pooling2d"), (Shape{1, 1, 1024}));
  EXPECT_EQ(output_of(model, "dropout"), (Shape{1, 1, 1024}));
  EXPECT_EQ(output_of(model, "conv_preds"), (Shape{1, 1, 1000}));
  EXPECT_EQ(output_of(model, "reshape_2"), (Shape{1000}));
  const std::vector<std::string> names = layer_names(model);
  const std::vector<std::string> first{
      "input_layer",    "conv1",     "conv1_bn",     "conv1_relu",     "conv_dw_1",  "conv_dw_1_bn",
      "conv_dw_1_relu", "conv_pw_1", "conv_pw_1_bn", "conv_pw_1_relu", "conv_pad_2", "conv_dw_2"};
  EXPECT_TRUE(std::equal(first.begin(), first.end(), names.begin()));
  const std::vector<std::string> last{"conv_pw_13_relu", "global_average_pooling2d",
                                      "dropout",         "conv_preds",
                                      "reshape_2",       "predictions"};
  EXPECT_TRUE(std::equal(last.begin(), last.end(), names.end() - 6));
  EXPECT_EQ(model.get_layer("predictions")->class_name(), "Activation");
  EXPECT_EQ(model.get_layer("dropout")->class_name(), "Dropout");
  EXPECT_EQ(model.get_layer("conv_dw_1")->class_name(), "DepthwiseConv2D");
}

TEST(ZooTest, MobileNetV2ShapesAndNamesAtKnownPoints) {
  const Model model = MobileNetV2();
  EXPECT_EQ(output_of(model, "Conv1_relu"), (Shape{112, 112, 32}));
  EXPECT_EQ(output_of(model, "expanded_conv_project_BN"), (Shape{112, 112, 16}));
  // block 1 expands 16 -> 96, pads an even 112 by ((0, 1), (0, 1)), then "valid" stride 2.
  EXPECT_EQ(output_of(model, "block_1_expand_relu"), (Shape{112, 112, 96}));
  EXPECT_EQ(output_of(model, "block_1_pad"), (Shape{113, 113, 96}));
  EXPECT_EQ(output_of(model, "block_1_depthwise"), (Shape{56, 56, 96}));
  EXPECT_EQ(output_of(model, "block_2_add"), (Shape{56, 56, 24}));
  EXPECT_EQ(output_of(model, "block_16_project_BN"), (Shape{7, 7, 320}));
  EXPECT_EQ(output_of(model, "out_relu"), (Shape{7, 7, 1280}));
  EXPECT_EQ(output_of(model, "global_average_pooling2d"), (Shape{1280}));
  EXPECT_EQ(model.get_layer("block_2_add")->class_name(), "Add");
  EXPECT_EQ(model.get_layer("out_relu")->class_name(), "ReLU");
  EXPECT_EQ(model.get_layer("predictions")->class_name(), "Dense");
  // The add reads the block's input and its projection, in that order.
  for (const Tensor& t : model.calls()) {
    if (t.call().layer->name() != "block_2_add") continue;
    ASSERT_EQ(t.call().inputs.size(), 2u);
    EXPECT_EQ(t.call().inputs[0].call().layer->name(), "block_1_project_BN");
    EXPECT_EQ(t.call().inputs[1].call().layer->name(), "block_2_project_BN");
  }
  const std::vector<std::string> names = layer_names(model);
  const std::vector<std::string> first{"input_layer",
                                       "Conv1",
                                       "bn_Conv1",
                                       "Conv1_relu",
                                       "expanded_conv_depthwise",
                                       "expanded_conv_depthwise_BN",
                                       "expanded_conv_depthwise_relu",
                                       "expanded_conv_project",
                                       "expanded_conv_project_BN",
                                       "block_1_expand",
                                       "block_1_expand_BN",
                                       "block_1_expand_relu",
                                       "block_1_pad",
                                       "block_1_depthwise"};
  EXPECT_TRUE(std::equal(first.begin(), first.end(), names.begin()));
  const std::vector<std::string> last{
      "block_16_project_BN",      "Conv_1",     "Conv_1_bn", "out_relu",
      "global_average_pooling2d", "predictions"};
  EXPECT_TRUE(std::equal(last.begin(), last.end(), names.end() - 6));
}

TEST(ZooTest, EfficientNetB0ShapesNamesAndInitializers) {
  const Model model = EfficientNetB0();
  // correct_pad(224, 3) = ((0, 1), (0, 1)); "valid" 3x3 stride 2: (225 - 3) / 2 + 1 = 112.
  EXPECT_EQ(output_of(model, "normalization"), (Shape{224, 224, 3}));
  EXPECT_EQ(output_of(model, "stem_conv_pad"), (Shape{225, 225, 3}));
  EXPECT_EQ(output_of(model, "stem_activation"), (Shape{112, 112, 32}));
  EXPECT_EQ(output_of(model, "block1a_se_squeeze"), (Shape{32}));
  EXPECT_EQ(output_of(model, "block1a_se_reshape"), (Shape{1, 1, 32}));
  EXPECT_EQ(output_of(model, "block1a_se_reduce"), (Shape{1, 1, 8}));  // max(1, int(32 * 0.25))
  EXPECT_EQ(output_of(model, "block1a_se_excite"), (Shape{112, 112, 32}));
  EXPECT_EQ(output_of(model, "block2a_dwconv_pad"), (Shape{113, 113, 96}));
  EXPECT_EQ(output_of(model, "block2b_drop"), (Shape{56, 56, 24}));
  EXPECT_EQ(output_of(model, "block2b_add"), (Shape{56, 56, 24}));
  // block6a: a 5x5 kernel on an even 14: correct_pad = ((1, 2), (1, 2)), (17 - 5) / 2 + 1 = 7.
  EXPECT_EQ(output_of(model, "block6a_dwconv_pad"), (Shape{17, 17, 672}));
  EXPECT_EQ(output_of(model, "block6a_dwconv"), (Shape{7, 7, 672}));
  EXPECT_EQ(output_of(model, "top_activation"), (Shape{7, 7, 1280}));
  EXPECT_EQ(output_of(model, "avg_pool"), (Shape{1280}));
  EXPECT_EQ(model.get_layer("rescaling")->class_name(), "Rescaling");
  EXPECT_EQ(model.get_layer("normalization")->class_name(), "Normalization");
  EXPECT_EQ(model.get_layer("block2b_drop")->class_name(), "Dropout");
  EXPECT_EQ(model.get_layer("block1a_se_excite")->class_name(), "Multiply");
  EXPECT_EQ(model.get_layer("top_dropout")->class_name(), "Dropout");
  EXPECT_THROW(model.get_layer("block1a_drop"), Error);  // no skip: 32 -> 16 channels
  EXPECT_THROW(model.get_layer("block5a_add"), Error);   // 80 -> 112 channels

  int64_t conv_kernels = 0;
  for (const ModelVariable& v : model.variables()) {
    const std::string name = v.full_name();
    if (name == "normalization/mean" || name == "normalization/variance") {
      EXPECT_EQ(v.variable.shape, (Shape{3})) << name;
      EXPECT_FALSE(v.variable.trainable) << name;
    }
    if (name == "normalization/count") {
      EXPECT_EQ(v.variable.shape.rank(), 0);
      EXPECT_FALSE(v.variable.trainable);
    }
    if (name == "predictions/kernel") {
      EXPECT_EQ(v.variable.initializer, kEfficientNetDenseInitializer);
      EXPECT_EQ(v.variable.fan_out, 1000);
    } else if (v.variable.name == "kernel") {
      EXPECT_EQ(v.variable.initializer, kEfficientNetConvInitializer) << name;
      ++conv_kernels;
    }
  }
  // Both names are Keras' VarianceScaling configs of efficientnet.py.
  VarianceScaling conv, dense;
  ASSERT_TRUE(parse_variance_scaling(kEfficientNetConvInitializer, &conv));
  EXPECT_EQ(conv.scale, 2.0);
  EXPECT_EQ(conv.mode, "fan_out");
  EXPECT_EQ(conv.distribution, "truncated_normal");
  ASSERT_TRUE(parse_variance_scaling(kEfficientNetDenseInitializer, &dense));
  EXPECT_EQ(dense.scale, 1.0 / 3.0);
  EXPECT_EQ(dense.mode, "fan_out");
  EXPECT_EQ(dense.distribution, "uniform");
  // stem + top + per block: dwconv, se_reduce, se_expand, project_conv, and expand_conv in 15.
  EXPECT_EQ(conv_kernels, 2 + 16 * 4 + 15);
  const auto vars = model.variables();
  const auto stem = std::find_if(vars.begin(), vars.end(), [](const ModelVariable& v) {
    return v.full_name() == "stem_conv/kernel";
  });
  ASSERT_NE(stem, vars.end());
  EXPECT_EQ(stem->variable.shape, (Shape{3, 3, 3, 32}));
  EXPECT_EQ(stem->variable.fan_out, 3 * 3 * 32);  // VarianceScaling's fan_out for a conv kernel
}

// MobileNetV2(alpha, input channels, classes) parameter counts by Keras' formulas, independent of
// the layers: conv k x k: k*k*in*out (no bias); depthwise 3x3: 9*c; BN: 2c trainable (gamma,
// beta) + 2c non-trainable (moving statistics); Dense: in*out + out.
struct Counts {
  int64_t trainable = 0, non_trainable = 0;
};
int64_t keras_make_divisible(double v) {
  int64_t r = std::max<int64_t>(8, static_cast<int64_t>(v + 4) / 8 * 8);
  return r < 0.9 * v ? r + 8 : r;
}
Counts keras_mobilenet_v2_counts(double alpha, int64_t channels, int64_t classes) {
  Counts n;
  auto bn = [&](int64_t c) {
    n.trainable += 2 * c;
    n.non_trainable += 2 * c;
  };
  int64_t c = keras_make_divisible(32 * alpha);
  n.trainable += 9 * channels * c;
  bn(c);
  const int64_t filters[17] = {16, 24, 24, 32, 32,  32,  64,  64, 64,
                               64, 96, 96, 96, 160, 160, 160, 320};
  for (int i = 0; i < 17; ++i) {
    const int64_t out =
        keras_make_divisible(static_cast<double>(static_cast<int64_t>(filters[i] * alpha)));
    const int64_t mid = i == 0 ? c : 6 * c;
    if (i != 0) {
      n.trainable += c * mid;
      bn(mid);
    }
    n.trainable += 9 * mid;
    bn(mid);
    n.trainable += mid * out;
    bn(out);
    c = out;
  }
  const int64_t last = alpha > 1.0 ? keras_make_divisible(1280 * alpha) : 1280;
  n.trainable += c * last;
  bn(last);
  n.trainable += last * classes + classes;
  return n;
}

TEST(ZooTest, MobileNetV2Alpha035On32x32x1MatchesKerasFormula) {
  // The formula first reproduces Keras' published totals at alpha 1.0 (3,504,872 / 34,112).
  const Counts keras_default = keras_mobilenet_v2_counts(1.0, 3, 1000);
  EXPECT_EQ(keras_default.trainable, 3'504'872);
  EXPECT_EQ(keras_default.non_trainable, 34'112);
  // At alpha 0.35 the channels are: stem make_divisible(11.2) = 16; block outputs
  // make_divisible(int(f * 0.35)) for f = 16, 24, 32, 64, 96, 160, 320: 8, 8, 16, 24, 32, 56,
  // 112; the expansions 6x the block input; 1280 at the end (alpha <= 1). Summed with one input
  // channel and 10 classes: 408,650 trainable + 14,080 non-trainable = 422,730.
  const Counts expected = keras_mobilenet_v2_counts(0.35, 1, 10);
  EXPECT_EQ(expected.trainable, 408'650);
  EXPECT_EQ(expected.non_trainable, 14'080);

  const Model model = MobileNetV2(
      {.input_shape = {32, 32, 1}, .alpha = 0.35, .classes = 10, .classifier_activation = ""});
  EXPECT_EQ(model.count_params(true), expected.trainable);
  EXPECT_EQ(model.count_params(false), expected.non_trainable);
  EXPECT_EQ(model.name(), "mobilenetv2_0.35_32");
  EXPECT_EQ(model.layers().size(), kMobileNetV2Layers);  // the same ten adds at alpha 0.35
  EXPECT_EQ(output_of(model, "Conv1"), (Shape{16, 16, 16}));
  EXPECT_EQ(output_of(model, "block_16_project_BN"), (Shape{1, 1, 112}));
  EXPECT_EQ(output_of(model, "out_relu"), (Shape{1, 1, 1280}));
  EXPECT_EQ(model.output_shape(), (Shape{10}));
}

TEST(ZooTest, OddAndNonSquareInputsPadAsCorrectPad) {
  // 33x47: Conv1 "same" stride 2 -> 17x24. block_1_pad: correct_pad with an odd 17 pads (1, 1),
  // an even 24 pads (0, 1) -> 19x25; "valid" 3x3 stride 2 -> 9x12.
  const Model model = MobileNetV2({.input_shape = {33, 47, 3}, .include_top = false});
  EXPECT_EQ(output_of(model, "Conv1"), (Shape{17, 24, 32}));
  EXPECT_EQ(output_of(model, "block_1_pad"), (Shape{19, 25, 96}));
  EXPECT_EQ(output_of(model, "block_1_depthwise"), (Shape{9, 12, 96}));
  EXPECT_EQ(model.name(), "mobilenetv2_1.00_33");
}

TEST(ZooTest, WithoutTopPoolingGivesFeatures) {
  // MobileNetV2 without the top: the 2 top layers go; Keras' no-top total 2,257,984 is the full
  // total less the classifier (1280 * 1000 + 1000).
  const Model features = MobileNetV2({.include_top = false});
  EXPECT_EQ(features.layers().size(), kMobileNetV2Layers - 2);
  EXPECT_EQ(features.output_shape(), (Shape{7, 7, 1280}));
  EXPECT_EQ(features.count_params(true) + features.count_params(false),
            3'538'984 - (1280 * 1000 + 1000));
  const Model avg = MobileNetV2({.include_top = false, .pooling = "avg"});
  EXPECT_EQ(avg.output_shape(), (Shape{1280}));
  EXPECT_EQ(avg.layers().back()->name(), "global_average_pooling2d");
  const Model max = MobileNetV2({.include_top = false, .pooling = "max"});
  EXPECT_EQ(max.output_shape(), (Shape{1280}));
  EXPECT_EQ(max.layers().back()->name(), "global_max_pooling2d");
  EXPECT_EQ(max.layers().back()->class_name(), "GlobalMaxPooling2D");

  const Model mobilenet = MobileNet({.include_top = false, .pooling = "avg"});
  EXPECT_EQ(mobilenet.output_shape(), (Shape{1024}));
  EXPECT_EQ(mobilenet.layers().size(), kMobileNetLayers - 5 + 1);

  const Model eff_avg = EfficientNetB0({.include_top = false, .pooling = "avg"});
  EXPECT_EQ(eff_avg.output_shape(), (Shape{1280}));
  EXPECT_EQ(eff_avg.layers().back()->name(), "avg_pool");
  EXPECT_EQ(eff_avg.layers().size(), kEfficientNetB0Layers - 2);
  const Model eff_max = EfficientNetB0({.include_top = false, .pooling = "max"});
  EXPECT_EQ(eff_max.layers().back()->name(), "max_pool");
  const Model eff = EfficientNetB0({.input_shape = {64, 96, 3}, .include_top = false});
  EXPECT_EQ(eff.output_shape(), (Shape{2, 3, 1280}));  // five stride-2 stages: 64/32, 96/32
}

TEST(ZooTest, MobileNetAlphaAndDepthMultiplier) {
  // alpha 0.5: filters int(f * 0.5); depth_multiplier 2 doubles each depthwise output, which the
  // pointwise convolution then reads.
  const Model model = MobileNet(
      {.input_shape = {128, 128, 3}, .alpha = 0.5, .depth_multiplier = 2, .include_top = false});
  EXPECT_EQ(model.name(), "mobilenet_0.50_128");
  EXPECT_EQ(output_of(model, "conv1"), (Shape{64, 64, 16}));
  EXPECT_EQ(output_of(model, "conv_dw_1"), (Shape{64, 64, 32}));
  EXPECT_EQ(output_of(model, "conv_pw_1"), (Shape{64, 64, 32}));
  EXPECT_EQ(output_of(model, "conv_pw_13_relu"), (Shape{4, 4, 512}));
}

TEST(ZooTest, RejectsArgumentsKerasRejects) {
  auto expect_invalid = [](auto build, const std::string& fragment) {
    try {
      build();
      ADD_FAILURE() << "expected an error mentioning " << fragment;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_invalid([] { MobileNetV2({.input_shape = {28, 28, 1}}); }, "at least 32x32");
  expect_invalid([] { MobileNet({.input_shape = {31, 64, 3}}); }, "at least 32x32");
  expect_invalid([] { EfficientNetB0({.input_shape = {64, 64}}); }, "(rows, cols, channels)");
  expect_invalid([] { MobileNetV2({.include_top = false, .pooling = "mean"}); }, "pooling");
  expect_invalid([] { MobileNetV2({.alpha = 0}); }, "alpha");
  expect_invalid([] { MobileNet({.classes = 0}); }, "classes");
  EXPECT_THROW(MobileNetV2({.classifier_activation = "no_such_activation"}), Error);
}

TEST(ZooTest, MakeModelBuildsLogitModelsByName) {
  EXPECT_EQ(model_names(),
            (std::vector<std::string>{"cnn", "mobilenet", "mobilenet_v2", "efficientnet_b0"}));
  const Model v2 = make_model("mobilenet_v2", Shape{32, 32, 1}, 10, 0, {.alpha = 0.35});
  const Model direct = MobileNetV2(
      {.input_shape = {32, 32, 1}, .alpha = 0.35, .classes = 10, .classifier_activation = ""});
  EXPECT_EQ(v2.count_params(true), direct.count_params(true));
  EXPECT_EQ(v2.name(), "mobilenetv2_0.35_32");
  EXPECT_EQ(v2.output_shape(), (Shape{10}));
  // Logits: the Keras config of the classifier says activation "linear" (Keras' None).
  EXPECT_EQ(v2.get_layer("predictions")->get_config()["activation"], "linear");
  const Model m = make_model("mobilenet", Shape{64, 64, 3}, 7, 0, {.depth_multiplier = 2});
  EXPECT_EQ(m.output_shape(), (Shape{7}));
  EXPECT_EQ(m.get_layer("predictions")->get_config()["activation"], "linear");
  EXPECT_EQ(make_model("efficientnet_b0", Shape{32, 32, 3}, 5).output_shape(), (Shape{5}));
  EXPECT_EQ(make_model("cnn", Shape{28, 28, 1}, 10).name(), "cnn");

  try {
    make_model("resnet50", Shape{224, 224, 3}, 10);
    FAIL() << "an unknown model must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("mobilenet_v2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_model("cnn", Shape{28, 28, 1}, 10, 0, {.alpha = 0.5}), Error);
  EXPECT_THROW(make_model("efficientnet_b0", Shape{32, 32, 3}, 10, 0, {.alpha = 0.5}), Error);
  EXPECT_THROW(make_model("mobilenet_v2", Shape{32, 32, 3}, 10, 0, {.depth_multiplier = 2}), Error);
}

TEST(ZooTest, DefaultsAreKerasApplicationsAndFashionMnistForTheCnn) {
  for (const std::string name : {"mobilenet", "mobilenet_v2", "efficientnet_b0"}) {
    const ZooDefaults d = zoo_defaults(name);
    EXPECT_EQ(d.input_shape, (Shape{224, 224, 3})) << name;
    EXPECT_EQ(d.classes, 1000) << name;
  }
  EXPECT_EQ(zoo_defaults("cnn").input_shape, (Shape{28, 28, 1}));
  EXPECT_EQ(zoo_defaults("cnn").classes, 10);
  try {
    zoo_defaults("resnet50");
    FAIL() << "an unknown model must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("known models: cnn"), std::string::npos) << e.what();
  }
}

TEST(ZooTest, MobileNetV2SummaryHasConnectedToAndKerasTotals) {
  const std::string s = MobileNetV2().summary();
  EXPECT_NE(s.find("Model: \"mobilenetv2_1.00_224\""), std::string::npos);
  EXPECT_NE(s.find("Connected to"), std::string::npos) << s;
  EXPECT_NE(s.find("block_2_add (Add)"), std::string::npos) << s;
  EXPECT_NE(s.find("block_1_project_BN[0][0]"), std::string::npos) << s;
  // Sizes at 4 bytes per parameter: 14,155,936 B / 2^20 = 13.50 MB; 14,019,488 B = 13.37 MB;
  // 136,448 B / 2^10 = 133.25 KB.
  EXPECT_NE(s.find(" Total params: 3,538,984 (13.50 MB)"), std::string::npos) << s;
  EXPECT_NE(s.find(" Trainable params: 3,504,872 (13.37 MB)"), std::string::npos) << s;
  EXPECT_NE(s.find(" Non-trainable params: 34,112 (133.25 KB)"), std::string::npos) << s;
  // One table row (at least) per layer, the input layer included.
  size_t rows = 0;
  for (size_t at = s.find("│ "); at != std::string::npos; at = s.find("\n│ ", at + 1)) ++rows;
  EXPECT_GE(rows, kMobileNetV2Layers);
  EXPECT_NE(EfficientNetB0().summary().find("normalization (Normalization)"), std::string::npos);
}

}  // namespace
}  // namespace leantrain::nn

// The zoo's extra layers (Normalization, Dropout with a noise shape, GlobalMaxPooling2D): shapes,
// variables, the nodes they add in training and inference, their Keras configs and their errors.
// Their numbers are checked in tests/ops, tests/kernels and tests/train/zoo_training_test.cc.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/nn/model.h"

namespace leantrain::nn {
namespace {

// The op types of a model's forward nodes for a batch of 2.
std::vector<std::string> node_types(const Model& model, bool training) {
  graph::Graph g;
  model.build(g, 2, training);
  std::vector<std::string> types;
  for (const graph::Node& node : g.nodes()) types.push_back(node.op->type());
  return types;
}

TEST(LayersExtraTest, NormalizationHasKerasVariablesAndKeepsTheShape) {
  const Tensor in = Input({.shape = {5, 4, 3}});
  const Tensor out = Normalization({.axis = 3})(in);
  const Model model(in, out);
  EXPECT_EQ(out.shape(), (Shape{5, 4, 3}));
  const std::vector<ModelVariable> vars = model.variables();
  ASSERT_EQ(vars.size(), 3u);
  EXPECT_EQ(vars[0].full_name(), "normalization/mean");
  EXPECT_EQ(vars[0].variable.initializer, "zeros");
  EXPECT_EQ(vars[1].full_name(), "normalization/variance");
  EXPECT_EQ(vars[1].variable.initializer, "ones");
  EXPECT_EQ(vars[2].full_name(), "normalization/count");
  EXPECT_EQ(vars[2].variable.shape.rank(), 0);
  for (const ModelVariable& v : vars) EXPECT_FALSE(v.variable.trainable) << v.full_name();
  // Keras counts 2 C + 1 non-trainable parameters (mean, variance, the scalar count).
  EXPECT_EQ(model.count_params(false), 7);
  EXPECT_EQ(model.count_params(true), 0);
  EXPECT_EQ(node_types(model, true), (std::vector<std::string>{"Normalization"}));
  const auto config = model.layers()[1]->get_config();
  EXPECT_EQ(config["axis"], nlohmann::ordered_json::array({3}));
  EXPECT_EQ(config["invert"], false);
}

TEST(LayersExtraTest, NormalizationRejectsOtherAxes) {
  const Tensor in = Input({.shape = {5, 4, 3}});
  try {
    Normalization({.axis = 1})(in);
    FAIL() << "axis 1 is not the channel axis";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_NE(std::string(e.what()).find("axis=1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(Normalization()(Input({.shape = {6}})).shape(), (Shape{6}));
}

TEST(LayersExtraTest, PerExampleDropoutOnlyInTraining) {
  const Tensor in = Input({.shape = {4, 4, 8}});
  const Tensor out = Dropout({.rate = 0.2f, .name = "drop"}, {kNoneDim, 1, 1, 1})(in);
  const Model model(in, out);
  EXPECT_EQ(out.shape(), (Shape{4, 4, 8}));
  EXPECT_EQ(model.layers()[1]->class_name(), "Dropout");
  EXPECT_EQ(node_types(model, true), (std::vector<std::string>{"PerExampleDropout"}));
  EXPECT_TRUE(node_types(model, false).empty());
  const auto config = model.layers()[1]->get_config();
  EXPECT_EQ(config["noise_shape"], nlohmann::ordered_json::parse("[null, 1, 1, 1]"));
}

TEST(LayersExtraTest, NoiseShapeOfTheInputIsOrdinaryDropout) {
  const Tensor in = Input({.shape = {3, 5}});
  const Model model(in, Dropout({.rate = 0.5f}, {kNoneDim, 3, kNoneDim})(in));
  EXPECT_EQ(node_types(model, true), (std::vector<std::string>{"Dropout"}));
}

TEST(LayersExtraTest, UnsupportedNoiseShapesAreClearErrors) {
  const Tensor in = Input({.shape = {4, 4, 8}});
  try {
    Dropout({.rate = 0.2f}, {kNoneDim, 1, 1, 8})(in);  // SpatialDropout2D's shape
    FAIL() << "a per-channel noise shape is not supported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_NE(std::string(e.what()).find("(None, 1, 1, 8)"), std::string::npos) << e.what();
  }
  try {
    Dropout({.rate = 0.2f}, {kNoneDim, 1, 1})(in);
    FAIL() << "a noise shape of the wrong rank must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_THROW(Dropout({.rate = 1.0f}, {kNoneDim, 1, 1, 1}), Error);
  EXPECT_THROW(Dropout({.rate = 0.1f}, {kNoneDim, 0, 1, 1}), Error);
}

TEST(LayersExtraTest, GlobalMaxPoolingShapesAndNodes) {
  const Tensor in = Input({.shape = {5, 7, 6}});
  const Model flat(in, GlobalMaxPooling2D()(in));
  EXPECT_EQ(flat.output_shape(), (Shape{6}));
  EXPECT_EQ(flat.layers()[1]->name(), "global_max_pooling2d");
  EXPECT_EQ(node_types(flat, false), (std::vector<std::string>{"MaxPooling2D", "Reshape"}));
  const Tensor in2 = Input({.shape = {5, 7, 6}});
  const Model kept(in2, GlobalMaxPooling2D({.keepdims = true})(in2));
  EXPECT_EQ(kept.output_shape(), (Shape{1, 1, 6}));
  EXPECT_EQ(node_types(kept, false), (std::vector<std::string>{"MaxPooling2D"}));
  EXPECT_EQ(kept.layers()[1]->get_config()["keepdims"], true);
  EXPECT_THROW(GlobalMaxPooling2D()(Input({.shape = {6}})), Error);
}

TEST(LayersExtraTest, VarianceScalingNamesReadBack) {
  // EfficientNet's CONV_KERNEL_INITIALIZER and DENSE_KERNEL_INITIALIZER.
  EXPECT_EQ(variance_scaling_name({2.0, "fan_out", "truncated_normal"}),
            "variance_scaling_fan_out_truncated_normal_2.0");
  EXPECT_EQ(variance_scaling_name({1.0 / 3.0, "fan_out", "uniform"}),
            "variance_scaling_fan_out_uniform_0.3333333333333333");  // Python's repr(1/3)
  VarianceScaling v;
  ASSERT_TRUE(parse_variance_scaling("variance_scaling_fan_out_uniform_0.3333333333333333", &v));
  EXPECT_EQ(v.scale, 1.0 / 3.0);  // the shortest repr reads back exactly
  EXPECT_EQ(v.mode, "fan_out");
  EXPECT_EQ(v.distribution, "uniform");
  ASSERT_TRUE(parse_variance_scaling("variance_scaling_fan_avg_untruncated_normal_1e-05", &v));
  EXPECT_EQ(v.scale, 1e-5);
  EXPECT_EQ(v.mode, "fan_avg");
  EXPECT_EQ(v.distribution, "untruncated_normal");
  for (const char* bad :
       {"glorot_uniform", "variance_scaling_fan_out_uniform_",
        "variance_scaling_fan_out_uniform_-1.0", "variance_scaling_fan_x_uniform_1.0",
        "variance_scaling_fan_in_normal_2.0", "variance_scaling_fan_in_uniform_2.0x"}) {
    EXPECT_FALSE(parse_variance_scaling(bad, &v)) << bad;
  }
  EXPECT_THROW(variance_scaling_name({0.0, "fan_in", "uniform"}), Error);
  EXPECT_THROW(variance_scaling_name({1.0, "fan_sideways", "uniform"}), Error);
  EXPECT_THROW(variance_scaling_name({1.0, "fan_in", "normal"}), Error);
}

}  // namespace
}  // namespace leantrain::nn

#include "leantrain/nn/model.h"

#include <gtest/gtest.h>

#include "leantrain/core/error.h"
#include "leantrain/nn/sequential.h"

namespace leantrain::nn {
namespace {

// in (8,8,3) -> a = conv 3x3 same (4), b = conv 1x1 (4), add(a, b), concatenate(add, a), global
// average pooling, dense 2.
Model residual_model() {
  const Tensor in = Input({.shape = {8, 8, 3}});
  const Tensor a = Conv2D({.filters = 4, .kernel_size = 3, .padding = "same"})(in);
  const Tensor b = Conv2D({.filters = 4, .kernel_size = 1})(in);
  const Tensor s = Add()({a, b});
  const Tensor c = Concatenate()({s, a});
  const Tensor g = GlobalAveragePooling2D()(c);
  return Model(in, Dense({.units = 2})(g));
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(ModelTest, FunctionalModelNamesLayersInCallOrderAndCountsParams) {
  const Model m = residual_model();
  std::vector<std::string> names;
  for (const LayerPtr& l : m.layers()) names.push_back(l->name());
  EXPECT_EQ(names, (std::vector<std::string>{"input_layer", "conv2d", "conv2d_1", "add",
                                             "concatenate", "global_average_pooling2d", "dense"}));
  EXPECT_FALSE(m.sequential_like());
  // conv 3*3*3*4 + 4, conv 1*1*3*4 + 4, dense 8*2 + 2.
  EXPECT_EQ(m.count_params(true), 112 + 16 + 18);
  EXPECT_EQ(m.output_shape(), Shape({2}));
  EXPECT_EQ(m.get_layer("concatenate")->class_name(), "Concatenate");
  EXPECT_THROW(m.get_layer("nope"), Error);
}

TEST(ModelTest, SummaryHasKerasConnectedToColumnWithWrappedCells) {
  const std::string s = residual_model().summary();
  // Keras 3 draws a non-sequential model 108 columns wide; rich fits the columns to 29, 25, 15
  // and 26 characters of text and wraps cells at spaces (worked out by hand from Keras'
  // positions [0.3, 0.56, 0.74, 1.0] and rich's ratio_reduce).
  const char* rows[] = {
      "┃ Layer (type)                  ┃ Output Shape              ┃         Param # ┃ Connected "
      "to               ┃",
      "│ input_layer (InputLayer)      │ (None, 8, 8, 3)           │               0 │ -         "
      "                 │",
      "│ add (Add)                     │ (None, 8, 8, 4)           │               0 │ conv2d[0][0"
      "],              │\n│                               │                           │           "
      "      │ conv2d_1[0][0]             │",
      "│ concatenate (Concatenate)     │ (None, 8, 8, 8)           │               0 │ add[0][0], "
      "conv2d[0][0]    │",
      "│ global_average_pooling2d      │ (None, 8)                 │               0 │ concatenat"
      "e[0][0]          │\n│ (GlobalAveragePooling2D)      │                           │        "
      "         │                            │",
  };
  for (const char* row : rows) EXPECT_TRUE(contains(s, row)) << row << "\n" << s;
  EXPECT_TRUE(contains(s, " Total params: 146 (584.00 B)")) << s;
  EXPECT_FALSE(contains(s, "Optimizer params")) << s;
  // Once an optimizer is built, Keras counts its variables in the total (Adam: 2 x 146 + 2).
  const std::string with_optimizer = residual_model().summary(nullptr, 294);
  EXPECT_TRUE(contains(with_optimizer, " Total params: 440 (1.72 KB)")) << with_optimizer;
  EXPECT_TRUE(contains(with_optimizer, " Trainable params: 146 (584.00 B)")) << with_optimizer;
  EXPECT_TRUE(contains(with_optimizer,
                       " Non-trainable params: 0 (0.00 B)\n Optimizer params: "
                       "294 (1.15 KB)\n"))
      << with_optimizer;
}

TEST(ModelTest, ChainOfCallsIsSequentialLikeAndShowsItsInputLayer) {
  const Tensor in = Input({.shape = {4, 4, 1}, .name = "pixels"});
  const Tensor x = Flatten()(in);
  const Model m(in, Dense({.units = 3, .name = "logits"})(x), "chain");
  EXPECT_TRUE(m.sequential_like());
  const std::string s = m.summary();
  EXPECT_TRUE(contains(s, "│ pixels (InputLayer)                  │ (None, 4, 4, 1)")) << s;
  EXPECT_TRUE(contains(s, "│ logits (Dense)                       │ (None, 3)")) << s;
  EXPECT_FALSE(contains(s, "Connected to")) << s;
  // Sequential leaves its input layer out of the table.
  const Sequential seq(Shape{4, 4, 1}, {Flatten(), Dense({.units = 3})});
  EXPECT_FALSE(contains(seq.summary(), "InputLayer")) << seq.summary();
}

TEST(ModelTest, SharedLayerSharesItsVariablesAndBuildsBothCalls) {
  const Tensor a = Input({.shape = {5}});
  const Tensor b = Input({.shape = {5}});
  const LayerPtr shared = Dense({.units = 4});
  const Tensor y = Add()({shared(a), shared(b)});
  const Model m({a, b}, {y}, "siamese");
  EXPECT_EQ(m.variables().size(), 2u);  // one kernel, one bias
  EXPECT_EQ(m.count_params(true), 5 * 4 + 4);
  graph::Graph g;
  const BuiltModel built = m.build(g, 3, false);
  ASSERT_EQ(built.inputs.size(), 2u);
  EXPECT_EQ(g.value(built.outputs[0]).spec.shape, Shape({3, 4}));
  int dense_nodes = 0;
  for (const graph::Node& n : g.nodes()) dense_nodes += n.op->type() == "Dense";
  EXPECT_EQ(dense_nodes, 2);
  EXPECT_TRUE(contains(m.summary(), "dense[0][0], dense[1][0]")) << m.summary();
}

TEST(ModelTest, RejectsBadGraphsWithClearErrors) {
  const Tensor in = Input({.shape = {4}});
  const Tensor other = Input({.shape = {4}, .name = "other"});
  const Tensor y = Add()({in, other});
  try {
    Model m(in, y);
    FAIL() << "an output that reads an input outside the model must fail";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "'other'")) << e.what();
  }
  try {
    const Tensor x = Dense({.units = 2, .name = "twin"})(in);
    Model m(in, Dense({.units = 2, .name = "twin"})(x));
    FAIL() << "duplicate names must fail";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "'twin'")) << e.what();
  }
  EXPECT_THROW(Add()(in), Error);                           // needs two inputs
  EXPECT_THROW(Add()({in, Input({.shape = {5}})}), Error);  // shapes differ
  EXPECT_THROW(Concatenate()({Input({.shape = {2, 2, 1}}), Input({.shape = {3, 2, 1}})}), Error);
  EXPECT_THROW(Model(y, y), Error);  // an input must come from Input()
}

TEST(ModelTest, MultiplyBroadcastsASqueezeExcitationGate) {
  const Tensor in = Input({.shape = {6, 6, 8}});
  const Tensor se = Reshape({.target_shape = {1, 1, 8}})(GlobalAveragePooling2D()(in));
  const Tensor y = Multiply()({in, se});
  EXPECT_EQ(y.shape(), Shape({6, 6, 8}));
  const Model m(in, y);
  graph::Graph g;
  const BuiltModel built = m.build(g, 2, true);
  EXPECT_EQ(g.value(built.outputs[0]).spec.shape, Shape({2, 6, 6, 8}));
}

}  // namespace
}  // namespace leantrain::nn

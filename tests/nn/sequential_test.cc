#include "leantrain/nn/sequential.h"

#include <gtest/gtest.h>

#include "leantrain/core/error.h"
#include "leantrain/nn/zoo.h"

namespace leantrain::nn {
namespace {

TEST(SequentialTest, CnnSummaryMatchesKeras) {
  const Sequential model = make_cnn(Shape{28, 28, 1}, 10);
  const std::string s = model.summary();
  // Keras 3 prints exactly these rows for this model (shapes and counts worked out by hand:
  // conv 3*3*1*32+32, 3*3*32*64+64, dense 1600*128+128, 128*10+10).
  const char* expected_rows[] = {
      "│ conv2d (Conv2D)                      │ (None, 26, 26, 32)          │             320 │",
      "│ max_pooling2d (MaxPooling2D)         │ (None, 13, 13, 32)          │               0 │",
      "│ conv2d_1 (Conv2D)                    │ (None, 11, 11, 64)          │          18,496 │",
      "│ max_pooling2d_1 (MaxPooling2D)       │ (None, 5, 5, 64)            │               0 │",
      "│ flatten (Flatten)                    │ (None, 1600)                │               0 │",
      "│ dense (Dense)                        │ (None, 128)                 │         204,928 │",
      "│ dropout (Dropout)                    │ (None, 128)                 │               0 │",
      "│ dense_1 (Dense)                      │ (None, 10)                  │           1,290 │",
  };
  for (const char* row : expected_rows)
    EXPECT_NE(s.find(row), std::string::npos) << row << "\n" << s;
  EXPECT_NE(s.find(" Total params: 225,034 (879.04 KB)"), std::string::npos) << s;
  EXPECT_NE(s.find(" Trainable params: 225,034 (879.04 KB)"), std::string::npos) << s;
  EXPECT_NE(s.find(" Non-trainable params: 0 (0.00 B)"), std::string::npos) << s;
  EXPECT_NE(s.find("┃ Layer (type)                         ┃ Output Shape                ┃         "
                   "Param # ┃"),
            std::string::npos)
      << s;
}

TEST(SequentialTest, KerasDefaultNames) {
  EXPECT_EQ(MaxPooling2D()->default_name(), "max_pooling2d");
  EXPECT_EQ(ReLU()->default_name(), "re_lu");
  EXPECT_EQ(GlobalAveragePooling2D()->default_name(), "global_average_pooling2d");
  EXPECT_EQ(BatchNormalization()->default_name(), "batch_normalization");
  EXPECT_EQ(DepthwiseConv2D({.kernel_size = 3})->default_name(), "depthwise_conv2d");
}

TEST(SequentialTest, BatchNormVariablesAreKerasOrderedAndCounted) {
  const Sequential model(
      Shape{8, 8, 3},
      {Conv2D({.filters = 4, .kernel_size = 3, .use_bias = false}), BatchNormalization(), ReLU(),
       GlobalAveragePooling2D(), Dense({.units = 2})});
  const auto vars = model.variables();
  ASSERT_EQ(vars.size(), 7u);
  EXPECT_EQ(vars[1].full_name(), "batch_normalization/gamma");
  EXPECT_EQ(vars[4].full_name(), "batch_normalization/moving_variance");
  EXPECT_FALSE(vars[4].variable.trainable);
  EXPECT_EQ(model.count_params(false), 8);
  EXPECT_EQ(model.count_params(true), 3 * 3 * 3 * 4 + 8 + 4 * 2 + 2);
}

TEST(SequentialTest, MisfitLayerErrorNamesTheLayer) {
  try {
    Sequential model(Shape{28, 28, 1},
                     {Conv2D({.filters = 4, .kernel_size = 3}), Dense({.units = 10})});
    FAIL() << "Dense on an image must fail";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("dense"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Flatten"), std::string::npos) << msg;
  }
  EXPECT_THROW(Conv2D({.filters = 4, .kernel_size = 3, .activation = "gelu_tanh_fancy"}), Error);
  EXPECT_THROW(make_model("resnet9000", Shape{28, 28, 1}, 10), Error);
}

}  // namespace
}  // namespace leantrain::nn

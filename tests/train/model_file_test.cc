#include "leantrain/train/model_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "leantrain/core/error.h"
#include "leantrain/core/file.h"
#include "leantrain/nn/serialization.h"
#include "leantrain/nn/zoo.h"

namespace leantrain::train {
namespace {

// A path under the test temp directory, unique to this process.
std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "leantrain_model_file_test_" + std::to_string(::getpid()) + "_" +
         name;
}

ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "expected an Error";
  return ErrorCode::kInternal;
}

TEST(ResolveModelTest, BuildsAZooModelWithTheRequestedShapeAndClasses) {
  const nn::Model model =
      resolve_model("cnn", {.input_shape = Shape{32, 32, 3}, .classes = 7, .seed = 1});
  EXPECT_EQ(model.input_shape(), (Shape{32, 32, 3}));
  EXPECT_EQ(model.output_shape(), (Shape{7}));
}

TEST(ResolveModelTest, AnApplicationModelDefaultsToKerasApplicationsInputAndClasses) {
  // Keras' figures for MobileNet, MobileNetV2 and EfficientNetB0 at 224x224x3, 1000 classes.
  const nn::Model mobilenet = resolve_model("mobilenet");
  EXPECT_EQ(mobilenet.count_params(true) + mobilenet.count_params(false), 4'253'864);
  const nn::Model v2 = resolve_model("mobilenet_v2");
  EXPECT_EQ(v2.input_shape(), (Shape{224, 224, 3}));
  EXPECT_EQ(v2.count_params(true) + v2.count_params(false), 3'538'984);
}

TEST(ResolveModelTest, TheCnnDefaultsToFashionMnist) {
  const nn::Model model = resolve_model("cnn");
  EXPECT_EQ(model.input_shape(), (Shape{28, 28, 1}));
  EXPECT_EQ(model.output_shape(), (Shape{10}));
}

TEST(ResolveModelTest, ReadsAKerasJsonFileAndIgnoresTheZooRequest) {
  const std::string path = temp_path("cnn.json");
  write_file_atomically(path, nn::to_json(nn::make_cnn(Shape{20, 20, 1}, 4)));
  const nn::Model model = resolve_model(path, {.input_shape = Shape{28, 28, 1}, .classes = 10});
  EXPECT_EQ(model.input_shape(), (Shape{20, 20, 1}));
  EXPECT_EQ(model.output_shape(), (Shape{4}));
  std::filesystem::remove(path);
}

TEST(ResolveModelTest, AMissingModelFileIsNotFoundRatherThanAnUnknownZooName) {
  EXPECT_EQ(code_of([] { resolve_model(temp_path("missing.json")); }), ErrorCode::kNotFound);
  EXPECT_EQ(code_of([] { resolve_model(temp_path("missing.safetensors")); }), ErrorCode::kNotFound);
  try {
    resolve_model("nope");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("known models: cnn"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace leantrain::train

#include "leantrain/nn/serialization.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "leantrain/core/error.h"
#include "leantrain/nn/sequential.h"
#include "leantrain/nn/zoo.h"

namespace leantrain::nn {
namespace {

using Json = nlohmann::json;

// The fixtures are written by hand from Keras 3's format (keras/src/models/functional.py,
// sequential.py, saving/serialization_lib.py and each layer's get_config), not by our writer.
std::string read_fixture(const std::string& name) {
  const std::filesystem::path path =
      std::filesystem::path(LEANTRAIN_TESTS_DIR) / "nn" / "fixtures" / name;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Compares two JSON values ignoring key order; numbers compare as the float32 values leantrain
// keeps (Keras writes Python doubles). Names the first difference by its path.
::testing::AssertionResult same_json(const Json& a, const Json& b, const std::string& path = "$") {
  if (a.is_number() && b.is_number()) {
    if (static_cast<float>(a.get<double>()) == static_cast<float>(b.get<double>())) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << path << ": " << a.dump() << " != " << b.dump();
  }
  if (a.type() != b.type()) {
    return ::testing::AssertionFailure() << path << ": " << a.dump() << " != " << b.dump();
  }
  if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key())) {
        return ::testing::AssertionFailure() << path << ": key " << it.key() << " only left";
      }
      auto r = same_json(it.value(), b.at(it.key()), path + "." + it.key());
      if (!r) return r;
    }
    for (auto it = b.begin(); it != b.end(); ++it) {
      if (!a.contains(it.key())) {
        return ::testing::AssertionFailure() << path << ": key " << it.key() << " only right";
      }
    }
    return ::testing::AssertionSuccess();
  }
  if (a.is_array()) {
    if (a.size() != b.size()) {
      return ::testing::AssertionFailure()
             << path << ": " << a.size() << " items != " << b.size() << " items";
    }
    for (size_t i = 0; i < a.size(); ++i) {
      auto r = same_json(a[i], b[i], path + "[" + std::to_string(i) + "]");
      if (!r) return r;
    }
    return ::testing::AssertionSuccess();
  }
  if (a == b) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << path << ": " << a.dump() << " != " << b.dump();
}

// The fixture with `edit` applied to its parsed form.
std::string edited(const std::string& fixture, const std::function<void(Json&)>& edit) {
  Json j = Json::parse(read_fixture(fixture));
  edit(j);
  return j.dump();
}

// The entry of layer `name` in a parsed model.
Json& entry(Json& model, const std::string& name) {
  for (Json& e : model["config"]["layers"]) {
    if (e["config"]["name"] == name) return e;
  }
  throw std::runtime_error("no layer " + name + " in the fixture");
}

// Succeeds when loading `json` throws Error(code) whose message holds every one of `parts`.
::testing::AssertionResult fails_with(const std::string& json, ErrorCode code,
                                      const std::vector<std::string>& parts) {
  try {
    model_from_json(json);
  } catch (const Error& e) {
    const std::string message = e.what();
    if (e.code() != code) {
      return ::testing::AssertionFailure() << "code " << error_code_name(e.code()) << ", wanted "
                                           << error_code_name(code) << ": " << message;
    }
    for (const std::string& part : parts) {
      if (message.find(part) == std::string::npos) {
        return ::testing::AssertionFailure() << "'" << part << "' not in: " << message;
      }
    }
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no error";
}

std::vector<std::string> layer_names(const Model& m) {
  std::vector<std::string> names;
  for (const LayerPtr& l : m.layers()) names.push_back(l->name());
  return names;
}

std::vector<std::string> class_names(const Model& m) {
  std::vector<std::string> names;
  for (const LayerPtr& l : m.layers()) names.push_back(l->class_name());
  return names;
}

const Tensor::Call& call_of(const Model& m, const std::string& layer, int node = 0) {
  for (const Tensor& t : m.calls()) {
    if (t.call().layer->name() == layer && t.call().node_index == node) return t.call();
  }
  throw std::runtime_error("no call of " + layer);
}

std::vector<std::string> input_names(const Tensor::Call& c) {
  std::vector<std::string> names;
  for (const Tensor& t : c.inputs) names.push_back(t.call().layer->name());
  return names;
}

Variable variable(const Model& m, const std::string& full_name) {
  for (const ModelVariable& v : m.variables()) {
    if (v.full_name() == full_name) return v.variable;
  }
  throw std::runtime_error("no variable " + full_name);
}

TEST(SerializationTest, LoadsAKeras3SequentialWithItsNamesShapesAndParams) {
  const Model m = model_from_json(read_fixture("keras3_sequential.json"));
  EXPECT_TRUE(m.is_sequential());
  EXPECT_EQ(m.name(), "small_cnn");
  EXPECT_EQ(layer_names(m), (std::vector<std::string>{"image", "conv", "bn", "relu", "pool",
                                                      "flatten", "dropout", "classifier"}));
  EXPECT_EQ(class_names(m),
            (std::vector<std::string>{"InputLayer", "Conv2D", "BatchNormalization", "ReLU",
                                      "MaxPooling2D", "Flatten", "Dropout", "Dense"}));
  // 12x12x1 -> conv 3x3 same (8) -> bn -> relu -> pool 2 (6x6x8) -> 288 -> dense 4.
  const std::vector<Shape> shapes{{12, 12, 1}, {12, 12, 8}, {12, 12, 8}, {12, 12, 8},
                                  {6, 6, 8},   {288},       {288},       {4}};
  ASSERT_EQ(m.calls().size(), shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) EXPECT_EQ(m.calls()[i].shape(), shapes[i]) << i;
  // conv 3*3*1*8 + 8; bn gamma, beta (trainable) and moving mean, variance: 4*8; dense 288*4 + 4.
  EXPECT_EQ(m.count_params(true), 80 + 16 + 1156);
  EXPECT_EQ(m.count_params(false), 16);
  EXPECT_EQ(variable(m, "conv/kernel").initializer, "he_normal");
  EXPECT_EQ(variable(m, "classifier/kernel").initializer, "glorot_uniform");
  EXPECT_FLOAT_EQ(variable(m, "classifier/kernel").l2, 0.001f);
  EXPECT_EQ(variable(m, "conv/kernel").l2, 0.0f);
  EXPECT_NE(m.summary().find("Total params: 1,268"), std::string::npos) << m.summary();
}

TEST(SerializationTest, LoadsAKeras3FunctionalWithResidualAddAndConcatenate) {
  const Model m = model_from_json(read_fixture("keras3_functional.json"));
  EXPECT_FALSE(m.is_sequential());
  EXPECT_EQ(m.name(), "residual_net");
  EXPECT_EQ(layer_names(m),
            (std::vector<std::string>{"pixels", "rescale", "stem", "branch_conv", "branch_bn",
                                      "residual", "residual_relu", "side_dw", "concat", "pool",
                                      "flatten", "logits"}));
  EXPECT_EQ(input_names(call_of(m, "residual")), (std::vector<std::string>{"stem", "branch_bn"}));
  EXPECT_EQ(input_names(call_of(m, "concat")),
            (std::vector<std::string>{"residual_relu", "side_dw"}));
  EXPECT_EQ(input_names(call_of(m, "side_dw")), (std::vector<std::string>{"stem"}));
  EXPECT_EQ(call_of(m, "concat").shape, Shape({12, 12, 16}));
  EXPECT_EQ(call_of(m, "pool").shape, Shape({2, 2, 16}));
  EXPECT_EQ(m.input_shape(), Shape({12, 12, 1}));
  EXPECT_EQ(m.output_shape(), Shape({4}));
  // stem 3*3*1*8 + 8; branch_conv 3*3*8*8 (no bias); bn 2*8 trainable + 2*8 not;
  // depthwise 3*3*8*1 + 8; dense (2*2*16)*4 + 4.
  EXPECT_EQ(m.count_params(true), 80 + 576 + 16 + 80 + 260);
  EXPECT_EQ(m.count_params(false), 16);
  EXPECT_EQ(variable(m, "branch_conv/kernel").initializer, "he_uniform");
  EXPECT_THROW(variable(m, "branch_conv/bias"), std::runtime_error);
}

TEST(SerializationTest, KerasFixturesRoundTripToEquivalentJson) {
  for (const char* name : {"keras3_sequential.json", "keras3_functional.json"}) {
    SCOPED_TRACE(name);
    Json original = Json::parse(read_fixture(name));
    Json ours = Json::parse(to_json(model_from_json(read_fixture(name))));
    // compile_config is Keras' compile() state, which model_from_json does not keep.
    original.erase("compile_config");
    ours.erase("compile_config");
    EXPECT_TRUE(same_json(ours, original));
  }
}

TEST(SerializationTest, ToJsonPrintsAsKerasDoes) {
  // keras3_functional.json is json.dumps() of the model's config, as model.to_json() returns
  // it: the same content prints byte for byte the same.
  std::string text = read_fixture("keras3_functional.json");
  while (!text.empty() && text.back() == '\n') text.pop_back();
  EXPECT_EQ(to_json(model_from_json(text)), text);
}

TEST(SerializationTest, WritesKerasKeysInKerasOrder) {
  const Tensor in = Input({.shape = {8, 8, 3}, .name = "in"});
  const Tensor c = Conv2D({.filters = 4, .kernel_size = 3, .name = "c"})(in);
  const Tensor b = BatchNormalization({.name = "b"})(c);
  const Tensor d = Dense({.units = 2, .name = "d"})(Flatten({.name = "f"})(b));
  const nlohmann::ordered_json j = to_keras_config(Model(in, d, "m"));
  auto keys = [](const nlohmann::ordered_json& o) {
    std::vector<std::string> out;
    for (auto it = o.begin(); it != o.end(); ++it) out.push_back(it.key());
    return out;
  };
  using Keys = std::vector<std::string>;
  EXPECT_EQ(keys(j), (Keys{"module", "class_name", "config", "registered_name", "build_config",
                           "compile_config"}));
  EXPECT_EQ(keys(j["config"]),
            (Keys{"name", "trainable", "layers", "input_layers", "output_layers"}));
  const nlohmann::ordered_json& layers = j["config"]["layers"];
  EXPECT_EQ(keys(layers[0]),
            (Keys{"module", "class_name", "config", "registered_name", "name", "inbound_nodes"}));
  EXPECT_EQ(keys(layers[0]["config"]),
            (Keys{"batch_shape", "dtype", "sparse", "ragged", "name", "optional"}));
  EXPECT_EQ(keys(layers[1]), (Keys{"module", "class_name", "config", "registered_name",
                                   "build_config", "name", "inbound_nodes"}));
  // keras/src/layers/convolutional/base_conv.py get_config.
  EXPECT_EQ(
      keys(layers[1]["config"]),
      (Keys{"name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding",
            "data_format", "dilation_rate", "groups", "activation", "use_bias",
            "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
            "activity_regularizer", "kernel_constraint", "bias_constraint"}));
  // normalization/batch_normalization.py get_config.
  EXPECT_EQ(keys(layers[2]["config"]), (Keys{"name",
                                             "trainable",
                                             "dtype",
                                             "axis",
                                             "momentum",
                                             "epsilon",
                                             "center",
                                             "scale",
                                             "beta_initializer",
                                             "gamma_initializer",
                                             "moving_mean_initializer",
                                             "moving_variance_initializer",
                                             "beta_regularizer",
                                             "gamma_regularizer",
                                             "beta_constraint",
                                             "gamma_constraint",
                                             "synchronized",
                                             "renorm",
                                             "renorm_clipping",
                                             "renorm_momentum"}));
  // core/dense.py get_config (Keras 3.13+).
  EXPECT_EQ(
      keys(layers[4]["config"]),
      (Keys{"name", "trainable", "dtype", "units", "activation", "use_bias", "kernel_initializer",
            "bias_initializer", "kernel_regularizer", "bias_regularizer", "kernel_constraint",
            "bias_constraint", "quantization_config"}));
  EXPECT_EQ(layers[1]["config"]["kernel_size"], nlohmann::ordered_json::array({3, 3}));
  EXPECT_EQ(layers[1]["config"]["kernel_initializer"].dump(),
            R"({"module":"keras.initializers","class_name":"GlorotUniform",)"
            R"("config":{"seed":null},"registered_name":null})");
  EXPECT_EQ(layers[1]["config"]["dtype"].dump(),
            R"({"module":"keras","class_name":"DTypePolicy","config":{"name":"float32"},)"
            R"("registered_name":null})");
  EXPECT_EQ(layers[2]["config"]["momentum"].dump(), "0.99");  // not 0.9900000095367432
  EXPECT_EQ(layers[1]["inbound_nodes"].dump(),
            R"([{"args":[{"class_name":"__keras_tensor__","config":{"shape":[null,8,8,3],)"
            R"("dtype":"float32","keras_history":["in",0,0]}}],"kwargs":{}}])");
  EXPECT_EQ(j["config"]["output_layers"].dump(), R"(["d",0,0])");

  const Sequential s(Shape{4}, {Dense({.units = 2, .kernel_regularizer = L2(0.01f)})}, "s");
  const nlohmann::ordered_json q = to_keras_config(s);
  EXPECT_EQ(keys(q), (Keys{"module", "class_name", "config", "registered_name", "build_config",
                           "compile_config"}));
  EXPECT_EQ(q["module"], "keras");
  EXPECT_EQ(keys(q["config"]), (Keys{"name", "trainable", "dtype", "layers", "build_input_shape"}));
  EXPECT_EQ(q["config"]["layers"][0]["class_name"], "InputLayer");
  EXPECT_EQ(q["config"]["layers"][1]["config"]["kernel_regularizer"].dump(),
            R"({"module":"keras.regularizers","class_name":"L2","config":{"l2":0.01},)"
            R"("registered_name":null})");
  EXPECT_EQ(q["config"]["build_input_shape"].dump(), "[null,4]");
}

// Every layer kind, non-default arguments, to JSON and back.
Sequential every_kind_sequential() {
  return Sequential(
      Shape{16, 16, 3},
      {Rescaling({.scale = 1.0f / 127.5f, .offset = -1.0f}), ZeroPadding2D({.padding = 1}),
       Conv2D({.filters = 8,
               .kernel_size = 3,
               .strides = 2,
               .activation = "relu6",
               .use_bias = false,
               .kernel_initializer = "lecun_normal",
               .kernel_regularizer = L2(1e-4f)}),
       DepthwiseConv2D({.kernel_size = {3, 1},
                        .padding = "same",
                        .depth_multiplier = 2,
                        .depthwise_initializer = "he_uniform"}),
       BatchNormalization({.momentum = 0.9f, .epsilon = 1e-5f}), ReLU({.max_value = 6.0f}),
       SeparableConv2D({.filters = 8,
                        .kernel_size = 3,
                        .padding = "same",
                        .activation = "swish",
                        .pointwise_regularizer = L2(0.02f)}),
       Conv2D({.filters = 8, .kernel_size = 1, .groups = 2, .bias_initializer = "ones"}),
       AveragePooling2D({.pool_size = 2}), Resizing({.height = 6, .width = 6}),
       MaxPooling2D({.pool_size = 3, .strides = 1, .padding = "same"}), Activation("tanh"),
       ZeroPadding2D({.top_bottom = {1, 0}, .left_right = {0, 2}}),
       Reshape({.target_shape = {7, 64}}), Flatten(), Dropout({.rate = 0.3f, .seed = 7}),
       Dense({.units = 5, .activation = "sigmoid", .kernel_initializer = "glorot_normal"}),
       Softmax()},
      "every_kind");
}

void expect_same_variables(const Model& a, const Model& b) {
  const std::vector<ModelVariable> va = a.variables(), vb = b.variables();
  ASSERT_EQ(va.size(), vb.size());
  for (size_t i = 0; i < va.size(); ++i) {
    EXPECT_EQ(va[i].full_name(), vb[i].full_name());
    EXPECT_EQ(va[i].variable.shape, vb[i].variable.shape) << va[i].full_name();
    EXPECT_EQ(va[i].variable.initializer, vb[i].variable.initializer) << va[i].full_name();
    EXPECT_EQ(va[i].variable.trainable, vb[i].variable.trainable) << va[i].full_name();
    EXPECT_EQ(va[i].variable.l2, vb[i].variable.l2) << va[i].full_name();
  }
}

TEST(SerializationTest, OwnSequentialOfEveryLayerKindLoadsBackIdentical) {
  const Sequential m = every_kind_sequential();
  const std::string json = to_json(m);
  const Model back = model_from_json(json);
  EXPECT_TRUE(back.is_sequential());
  EXPECT_EQ(back.summary(), m.summary());
  EXPECT_EQ(to_json(back), json);
  expect_same_variables(back, m);
  // Activation("swish") is Keras' silu; ReLU(max_value=6) keeps its float.
  const Json j = Json::parse(json);
  EXPECT_EQ(j["config"]["layers"][6]["config"]["max_value"], 6.0);
  EXPECT_EQ(j["config"]["layers"][7]["config"]["activation"], "silu");
  EXPECT_EQ(j["config"]["layers"][13]["config"]["padding"], Json::parse("[[1, 0], [0, 2]]"));
}

TEST(SerializationTest, OwnFunctionalWithSharedLayersAndTwoInputsAndOutputsLoadsBackIdentical) {
  const Tensor image = Input({.shape = {12, 12, 3}, .name = "image"});
  const Tensor extra = Input({.shape = {3}, .name = "extra"});
  const Tensor n = Normalization()(image);
  const Tensor c = Conv2D({.filters = 8, .kernel_size = 3, .padding = "same"})(n);
  const LayerPtr shared =
      Conv2D({.filters = 8, .kernel_size = 3, .padding = "same", .name = "shared"});
  const Tensor a = shared(c);
  const Tensor b = shared(a);  // the second node of "shared"
  const Tensor squeeze = GlobalAveragePooling2D({.keepdims = true})(b);
  const Tensor gate = Conv2D({.filters = 8, .kernel_size = 1, .activation = "sigmoid"})(squeeze);
  const Tensor excited = Multiply()({b, gate});
  const Tensor joined = Concatenate()({excited, a});
  const Tensor dropped = Dropout({.rate = 0.2f}, {kNoneDim, 1, 1, 1})(joined);
  const Tensor pooled = GlobalMaxPooling2D()(dropped);
  const Tensor features = Concatenate()({pooled, extra});
  const Tensor y1 = Dense({.units = 3, .name = "y1"})(features);
  const Tensor y2 = Add()({Dense({.units = 2})(features), Dense({.units = 2})(features)});
  const Model m({image, extra}, {y1, y2}, "two_heads");

  const std::string json = to_json(m);
  const Json j = Json::parse(json);
  EXPECT_EQ(j["config"]["input_layers"], Json::parse(R"([["image", 0, 0], ["extra", 0, 0]])"));
  EXPECT_EQ(j["config"]["output_layers"], Json::parse(R"([["y1", 0, 0], ["add", 0, 0]])"));
  for (const Json& e : j["config"]["layers"]) {
    if (e["name"] != "shared") continue;
    ASSERT_EQ(e["inbound_nodes"].size(), 2u);
    EXPECT_EQ(e["inbound_nodes"][1]["args"][0]["config"]["keras_history"],
              Json::parse(R"(["shared", 0, 0])"));
  }
  const Model back = model_from_json(json);
  EXPECT_EQ(back.summary(), m.summary());
  EXPECT_EQ(to_json(back), json);
  expect_same_variables(back, m);
  EXPECT_EQ(back.get_layer("shared")->calls(), 2);
}

TEST(SerializationTest, ZooModelsLoadBackIdentical) {
  const std::vector<Model> models{
      make_cnn(Shape{28, 28, 1}, 10),
      MobileNet({.input_shape = {32, 32, 3}, .alpha = 0.25, .classes = 10}),
      MobileNetV2({.input_shape = {32, 32, 3}, .alpha = 0.35, .classes = 10}),
      EfficientNetB0({.input_shape = {32, 32, 3}, .classes = 10}),
  };
  for (const Model& m : models) {
    SCOPED_TRACE(m.name());
    const std::string json = to_json(m);
    const Model back = model_from_json(json);
    EXPECT_EQ(back.is_sequential(), m.is_sequential());
    EXPECT_EQ(back.summary(), m.summary());
    EXPECT_EQ(to_json(back), json);
    expect_same_variables(back, m);
  }
}

TEST(SerializationTest, ReadsKeras2Layouts) {
  const Model f = model_from_json(read_fixture("keras2_functional.json"));
  EXPECT_EQ(layer_names(f),
            (std::vector<std::string>{"input_1", "conv2d", "batch_normalization", "conv2d_1",
                                      "concatenate", "global_average_pooling2d", "dense"}));
  EXPECT_EQ(input_names(call_of(f, "concatenate")),
            (std::vector<std::string>{"batch_normalization", "conv2d_1"}));
  // conv 3*3*3*4 + 4; bn 2*4 + 2*4; conv 1*1*3*4 + 4; dense 8*3 + 3.
  EXPECT_EQ(f.count_params(true), 112 + 8 + 16 + 27);
  EXPECT_EQ(f.count_params(false), 8);
  // VarianceScaling(2, fan_in, truncated_normal) is HeNormal; L1L2(l1=0) is L2.
  EXPECT_EQ(variable(f, "conv2d/kernel").initializer, "he_normal");
  EXPECT_FLOAT_EQ(variable(f, "conv2d/kernel").l2, 0.0005f);

  const Model s = model_from_json(read_fixture("keras2_sequential.json"));
  EXPECT_TRUE(s.is_sequential());
  EXPECT_EQ(s.input_shape(), Shape({10, 10, 1}));  // the first layer's batch_input_shape
  // conv 3*3*1*2 + 2 -> (8, 8, 2) -> pool (4, 4, 2) -> 32 -> dense 32*3 + 3.
  EXPECT_EQ(s.count_params(true), 20 + 99);
  EXPECT_EQ(variable(s, "conv2d/kernel").initializer, "glorot_uniform");
  EXPECT_EQ(variable(s, "dense/kernel").initializer, "glorot_uniform");  // the string form
}

TEST(SerializationTest, MapsInitializerFormsToLeantrainNames) {
  struct Case {
    const char* initializer;
    const char* expected;
  };
  const Case cases[] = {
      // VarianceScaling equal to a named initializer takes its name ("normal" is Keras'
      // truncated_normal).
      {R"({"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg",
          "distribution": "uniform", "seed": null}})",
       "glorot_uniform"},
      {R"({"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg",
          "distribution": "normal"}})",
       "glorot_normal"},
      {R"({"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_in",
          "distribution": "truncated_normal"}})",
       "lecun_normal"},
      {R"({"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_in",
          "distribution": "uniform"}})",
       "lecun_uniform"},
      {R"({"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_in",
          "distribution": "uniform"}})",
       "he_uniform"},
      // Any other VarianceScaling keeps its parameters.
      {R"({"module": "keras.initializers", "class_name": "VarianceScaling", "config": {"seed": null,
          "scale": 2.0, "mode": "fan_out", "distribution": "normal"}, "registered_name": null})",
       "variance_scaling_fan_out_truncated_normal_2.0"},
      {R"({"class_name": "VarianceScaling", "config": {"scale": 0.5, "mode": "fan_avg",
          "distribution": "untruncated_normal", "input_axes": null}})",
       "variance_scaling_fan_avg_untruncated_normal_0.5"},
      {R"({"module": "keras.initializers", "class_name": "LecunUniform", "config": {"seed": 3},
          "registered_name": null})",
       "lecun_uniform"},
      {R"("he_normal")", "he_normal"},
      {R"("GlorotNormal")", "glorot_normal"},
      {R"({"class_name": "Constant", "config": {"value": 1.0}})", "ones"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.initializer);
    const Model m = model_from_json(edited("keras3_sequential.json", [&](Json& j) {
      entry(j, "conv")["config"]["kernel_initializer"] = Json::parse(c.initializer);
    }));
    EXPECT_EQ(variable(m, "conv/kernel").initializer, c.expected);
  }
  for (const char* unsupported :
       {R"({"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_sideways",
            "distribution": "normal"}})",
        R"({"class_name": "VarianceScaling", "config": {"scale": -1.0}})",
        R"({"class_name": "VarianceScaling", "config": {"scale": "2"}})",
        R"({"class_name": "VarianceScaling", "config": {"scale": 1.0, "input_axes": [0]}})",
        R"({"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.05}})",
        R"("orthogonal")"}) {
    SCOPED_TRACE(unsupported);
    EXPECT_TRUE(fails_with(
        edited("keras3_sequential.json",
               [&](Json& j) {
                 entry(j, "conv")["config"]["kernel_initializer"] = Json::parse(unsupported);
               }),
        ErrorCode::kUnimplemented, {"layer 'conv' (Conv2D): kernel_initializer=", "HeNormal"}));
  }
}

TEST(SerializationTest, UnsupportedLayerClassNamesTheLayerAndWhatIsSupported) {
  const std::string json = edited("keras3_functional.json", [](Json& j) {
    Json& e = entry(j, "side_dw");
    e["class_name"] = "LSTM";
    e["config"] = Json{{"name", "side_dw"}, {"units", 8}};
  });
  EXPECT_TRUE(fails_with(json, ErrorCode::kUnimplemented,
                         {"Keras JSON: layer 'side_dw' (LSTM)", "LSTM is not supported", "Conv2D",
                          "SeparableConv2D"}));
  EXPECT_TRUE(fails_with(edited("keras3_functional.json",
                                [](Json& j) { entry(j, "stem")["class_name"] = "Functional"; }),
                         ErrorCode::kUnimplemented, {"layer 'stem' (Functional)", "nested"}));
  EXPECT_TRUE(
      fails_with(edited("keras3_functional.json", [](Json& j) { j["class_name"] = "MyResNet"; }),
                 ErrorCode::kUnimplemented, {"model class MyResNet"}));
}

TEST(SerializationTest, UnsupportedArgumentsNameTheLayerTheArgumentAndItsValue) {
  struct Case {
    const char* layer;
    const char* key;
    const char* value;
    std::vector<std::string> parts;
  };
  const Case cases[] = {
      {"conv",
       "data_format",
       R"("channels_first")",
       {"layer 'conv' (Conv2D): data_format=\"channels_first\"", "channels_last"}},
      {"conv",
       "kernel_constraint",
       R"({"module": "keras.constraints", "class_name": "MaxNorm", "config": {"max_value": 2,
           "axis": 0}, "registered_name": null})",
       {"layer 'conv' (Conv2D): kernel_constraint=", "constraints"}},
      {"classifier",
       "activity_regularizer",
       R"({"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01},
           "registered_name": null})",
       {"layer 'classifier' (Dense): activity_regularizer="}},
      {"classifier",
       "bias_regularizer",
       R"({"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01},
           "registered_name": null})",
       {"layer 'classifier' (Dense): bias_regularizer="}},
      {"classifier",
       "kernel_regularizer",
       R"({"module": "keras.regularizers", "class_name": "L1", "config": {"l1": 0.01},
           "registered_name": null})",
       {"layer 'classifier' (Dense): kernel_regularizer=", "L2 regularization only"}},
      {"bn", "trainable", "false", {"layer 'bn' (BatchNormalization): trainable=false"}},
      {"bn", "renorm", "true", {"layer 'bn' (BatchNormalization): renorm=true"}},
      {"conv",
       "dtype",
       R"({"module": "keras", "class_name": "DTypePolicy", "config": {"name": "mixed_float16"},
           "registered_name": null})",
       {"layer 'conv' (Conv2D): dtype=", "mixed_float16", "float32"}},
      {"conv", "lora_rank", "4", {"layer 'conv' (Conv2D): argument lora_rank=4"}},
      {"relu", "negative_slope", "0.1", {"layer 'relu' (ReLU): negative_slope=0.1"}},
      {"relu", "max_value", "0.0", {"layer 'relu' (ReLU): max_value=0.0"}},
      {"pool", "padding", R"("causal")", {"layer 'pool' (MaxPooling2D): padding=\"causal\""}},
      {"dropout", "rate", R"("high")", {"layer 'dropout' (Dropout): rate must be a number"}},
      {"image", "dtype", R"("int32")", {"layer 'image' (InputLayer): dtype=\"int32\""}},
      {"image",
       "batch_shape",
       "[null, null, null, 1]",
       {"layer 'image' (InputLayer): batch_shape=", "unknown (None) dimension at axis 1"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.layer) + "." + c.key);
    const std::string json = edited("keras3_sequential.json", [&](Json& j) {
      entry(j, c.layer)["config"][c.key] = Json::parse(c.value);
    });
    const bool invalid = std::string(c.key) == "rate";
    EXPECT_TRUE(fails_with(json, invalid ? ErrorCode::kInvalidArgument : ErrorCode::kUnimplemented,
                           c.parts));
  }
  // The model itself.
  EXPECT_TRUE(fails_with(
      edited("keras3_sequential.json", [](Json& j) { j["config"]["trainable"] = false; }),
      ErrorCode::kUnimplemented, {"model 'small_cnn' (Sequential): trainable=false"}));
}

TEST(SerializationTest, CallArgumentsOtherThanTensorsAreRefused) {
  // Keras 3 records Dropout's symbolic call as training=false (and fit / predict override it
  // with the model's mode, as leantrain's steps do): a boolean training is read, anything else
  // refused.
  for (const bool value : {true, false}) {
    EXPECT_NO_THROW(model_from_json(edited("keras3_functional.json", [&](Json& j) {
      entry(j, "branch_bn")["inbound_nodes"][0]["kwargs"] = Json{{"training", value}};
    })));
  }
  const std::string training = edited("keras3_functional.json", [](Json& j) {
    entry(j, "branch_bn")["inbound_nodes"][0]["kwargs"] = Json{{"training", "yes"}};
  });
  EXPECT_TRUE(fails_with(training, ErrorCode::kUnimplemented,
                         {"layer 'branch_bn' (BatchNormalization)", "training=\"yes\""}));
  const std::string masked = edited("keras3_functional.json", [](Json& j) {
    entry(j, "branch_bn")["inbound_nodes"][0]["kwargs"] = Json{{"mask", true}};
  });
  EXPECT_TRUE(fails_with(masked, ErrorCode::kUnimplemented,
                         {"layer 'branch_bn' (BatchNormalization)", "mask=true"}));
  const std::string mask = edited("keras3_functional.json", [](Json& j) {
    entry(j, "branch_bn")["inbound_nodes"][0]["kwargs"] = Json{{"mask", nullptr}};
  });
  EXPECT_NO_THROW(model_from_json(mask));  // a null keyword changes nothing
  const std::string constant = edited("keras3_functional.json", [](Json& j) {
    entry(j, "residual")["inbound_nodes"][0]["args"][0].push_back(2.5);
  });
  EXPECT_TRUE(fails_with(constant, ErrorCode::kUnimplemented,
                         {"layer 'residual' (Add)", "non-tensor argument 2.5"}));
}

TEST(SerializationTest, MalformedJsonNamesThePosition) {
  // Line 3 misses the ':' after "name": the parser stops at the end of the string that follows
  // it, "x" in columns 21 to 23.
  const std::string text =
      "{\n  \"class_name\": \"Sequential\",\n  \"config\": {\"name\" \"x\"}\n}";
  EXPECT_TRUE(
      fails_with(text, ErrorCode::kDataLoss,
                 {"Keras JSON: malformed JSON at line 3, column 23 (byte ", "syntax error"}));
  std::string truncated = read_fixture("keras3_functional.json");
  truncated.resize(truncated.size() / 2);
  EXPECT_TRUE(fails_with(truncated, ErrorCode::kDataLoss, {"malformed JSON at line 1, column"}));
  EXPECT_TRUE(fails_with("[1, 2]", ErrorCode::kInvalidArgument, {"must be a JSON object"}));
  EXPECT_TRUE(
      fails_with(R"({"class_name": "Sequential"})", ErrorCode::kInvalidArgument, {"\"config\""}));
}

TEST(SerializationTest, DanglingInboundNodesAreErrors) {
  const std::string ghost = edited("keras3_functional.json", [](Json& j) {
    entry(j, "stem")["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "ghost";
  });
  EXPECT_TRUE(fails_with(
      ghost, ErrorCode::kInvalidArgument,
      {"layer 'stem' (Conv2D) inbound node 0 reads layer 'ghost'", "dangling inbound node"}));
  const std::string never = edited("keras3_functional.json", [](Json& j) {
    entry(j, "branch_conv")["inbound_nodes"][0]["args"][0]["config"]["keras_history"][1] = 1;
  });
  EXPECT_TRUE(fails_with(never, ErrorCode::kInvalidArgument,
                         {"layer 'branch_conv' (Conv2D) inbound node 0 reads node 1 of layer "
                          "'stem', which is never made"}));
  const std::string output = edited("keras3_functional.json", [](Json& j) {
    j["config"]["output_layers"] = Json::parse(R"(["nope", 0, 0])");
  });
  EXPECT_TRUE(fails_with(output, ErrorCode::kInvalidArgument,
                         {"output_layers reads layer 'nope'", "dangling"}));
  const std::string second_output = edited("keras3_functional.json", [](Json& j) {
    entry(j, "pool")["inbound_nodes"][0]["args"][0]["config"]["keras_history"][2] = 1;
  });
  EXPECT_TRUE(fails_with(second_output, ErrorCode::kInvalidArgument,
                         {"reads output 1 of node 0 of layer 'concat'"}));
}

TEST(SerializationTest, InconsistentModelsAreErrorsNamingTheLayer) {
  EXPECT_TRUE(fails_with(edited("keras3_functional.json",
                                [](Json& j) { entry(j, "branch_conv")["config"]["filters"] = 4; }),
                         ErrorCode::kInvalidArgument, {"layer 'residual' (Add)"}));
  EXPECT_TRUE(fails_with(edited("keras3_functional.json",
                                [](Json& j) {
                                  Json& e = entry(j, "side_dw");
                                  e["name"] = "stem";
                                  e["config"]["name"] = "stem";
                                }),
                         ErrorCode::kInvalidArgument, {"two layers are named 'stem'"}));
  EXPECT_TRUE(fails_with(edited("keras3_sequential.json",
                                [](Json& j) {
                                  j["config"]["layers"].erase(0);
                                  j["config"].erase("build_input_shape");
                                }),
                         ErrorCode::kInvalidArgument, {"has no input shape"}));
  EXPECT_TRUE(fails_with(edited("keras3_sequential.json",
                                [](Json& j) { entry(j, "classifier")["config"].erase("units"); }),
                         ErrorCode::kInvalidArgument,
                         {"layer 'classifier' (Dense): missing argument units"}));
}

TEST(SerializationTest, SizesTooLargeToPlanAreErrors) {
  EXPECT_TRUE(fails_with(edited("keras3_sequential.json",
                                [](Json& j) { entry(j, "conv")["config"]["filters"] = 1 << 30; }),
                         ErrorCode::kInvalidArgument,
                         {"layer 'conv' (Conv2D): filters must be an integer in [-2^20, 2^20]"}));
  // 2^20 x 2^20 x 1 is 2^40 elements, the most a tensor may hold; 8 filters make 2^43.
  EXPECT_TRUE(fails_with(edited("keras3_sequential.json",
                                [](Json& j) {
                                  entry(j, "image")["config"]["batch_shape"] =
                                      Json::array({nullptr, 1 << 20, 1 << 20, 1});
                                }),
                         ErrorCode::kInvalidArgument,
                         {"layer 'conv' (Conv2D): its output (None, 1048576, 1048576, 8) has "
                          "more than 2^40 elements"}));
  EXPECT_TRUE(fails_with(edited("keras3_functional.json",
                                [](Json& j) {
                                  entry(j, "pixels")["config"]["batch_shape"] =
                                      Json::array({nullptr, 1 << 20, 1 << 20, 2});
                                }),
                         ErrorCode::kInvalidArgument,
                         {"layer 'pixels' (InputLayer): batch_shape=", "more than 2^40 elements"}));
}

TEST(SerializationTest, SequentialWithoutInputLayerTakesBuildInputShape) {
  const Model m = model_from_json(
      edited("keras3_sequential.json", [](Json& j) { j["config"]["layers"].erase(0); }));
  EXPECT_EQ(m.input_shape(), Shape({12, 12, 1}));
  EXPECT_EQ(m.count_params(true), 80 + 16 + 1156);
}

// A layer with no Keras form.
class IdentityLayer final : public Layer {
 public:
  std::string class_name() const override { return "Identity"; }
  Shape output_shape(std::span<const Shape> inputs) const override { return inputs[0]; }
  graph::ValueId build(BuildContext&, std::span<const graph::ValueId> inputs,
                       std::span<const graph::ValueId>) const override {
    return inputs[0];
  }
};

TEST(SerializationTest, WritingALayerWithoutKerasFormNamesIt) {
  const Sequential m(Shape{4}, {LayerPtr(std::make_shared<IdentityLayer>())});
  try {
    to_json(m);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_NE(std::string(e.what()).find("layer 'identity' (Identity)"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace leantrain::nn

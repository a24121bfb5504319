// make_gradients_step_local: each update node moves to just after what it must follow (its
// gradient's producer, every other reader of its parameter), gradients become step-local, and
// training is bit for bit what updating after the backward pass gives: SGD with momentum and
// Adam, reference and fast kernels, a layer called twice (its gradient a sum of two), a
// rematerialized budget plan. A gradient something else reads stays persistent.
#include "leantrain/passes/step_local_gradients.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "leantrain/nn/layers.h"
#include "leantrain/nn/model.h"
#include "leantrain/nn/zoo.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/trainer.h"
#include "ops/ops.h"
#include "testing/testing.h"

namespace leantrain::passes {
namespace {

using graph::Graph;
using graph::is_persistent;
using graph::KernelChoice;
using graph::kNoValue;
using graph::Node;
using graph::NodeId;
using graph::Phase;
using graph::StepState;
using graph::Value;
using graph::value_readers;
using graph::ValueId;
using graph::ValueKind;

constexpr int64_t kBatch = 8;

// Replaces `g` with its rewrite; returns the number of gradients made step-local.
int32_t make_step_local_in_place(Graph& g) {
  const auto gradients = [](const Graph& x) {
    return static_cast<int32_t>(
        std::count_if(x.values().begin(), x.values().end(),
                      [](const Value& v) { return v.kind == ValueKind::kGradient; }));
  };
  Graph rewritten = passes::make_gradients_step_local(g);
  const int32_t made_local = gradients(g) - gradients(rewritten);
  g = std::move(rewritten);
  return made_local;
}
constexpr int32_t kClasses = 5;

// Conv, batch norm, depthwise conv, and a Dense layer called twice: its gradient is the sum of
// two backward nodes' and its kernel is read by both calls' input-gradient nodes.
nn::Model shared_layer_model() {
  const nn::Tensor in = nn::Input({.shape = Shape{12, 12, 3}});
  nn::Tensor x = nn::Conv2D({.filters = 6, .kernel_size = 3, .padding = "same"})(in);
  x = nn::ReLU()(nn::BatchNormalization()(x));
  x = nn::DepthwiseConv2D({.kernel_size = 3, .strides = 2, .padding = "same"})(x);
  x = nn::GlobalAveragePooling2D()(x);
  const nn::LayerPtr shared = nn::Dense({.units = 6, .activation = "tanh"});
  x = shared(shared(x));
  x = nn::Dropout({.rate = 0.2f})(x);
  return nn::Model(in, nn::Dense({.units = kClasses})(x), "shared_layer");
}

std::unique_ptr<train::Trainer> make_trainer(const nn::Model& model, bool keep_gradients,
                                             train::Optimizer optimizer,
                                             KernelChoice kernels = KernelChoice::kFast,
                                             int64_t budget = 0) {
  return std::make_unique<train::Trainer>(model,
                                          train::CompileOptions{.optimizer = std::move(optimizer),
                                                                .seed = 11,
                                                                .kernels = {.choice = kernels},
                                                                .memory_budget_bytes = budget,
                                                                .keep_gradients = keep_gradients});
}

struct Trajectory {
  std::vector<float> losses;
  std::vector<std::vector<float>> variables;
};

// `steps` steps of t's training program on seeded data.
Trajectory run_steps(train::Trainer& t, int steps) {
  runtime::Program& p = t.training_program(kBatch);
  const std::string input = t.model().inputs()[0].call().layer->name();
  Trajectory r;
  for (int s = 0; s < steps; ++s) {
    const TensorView x = p.view(input);
    const std::vector<float> images = testing::random_floats(x.num_elements(), 300 + s);
    std::copy(images.begin(), images.end(), x.f32());
    const TensorView y = p.view("labels");
    const std::vector<int32_t> labels = testing::random_labels(y.num_elements(), kClasses, 400 + s);
    std::copy(labels.begin(), labels.end(), y.i32());
    p.run(StepState{s + 1, t.options().optimizer.learning_rate, t.options().seed});
    r.losses.push_back(p.view("loss").f32()[0]);
  }
  r.variables = t.get_weights();
  return r;
}

void expect_bitwise_equal(const Trajectory& a, const Trajectory& b, const std::string& what) {
  ASSERT_EQ(a.losses.size(), b.losses.size());
  EXPECT_EQ(std::memcmp(a.losses.data(), b.losses.data(), a.losses.size() * sizeof(float)), 0)
      << what << ": losses differ, last " << a.losses.back() << " vs " << b.losses.back();
  ASSERT_EQ(a.variables.size(), b.variables.size());
  for (size_t i = 0; i < a.variables.size(); ++i) {
    ASSERT_EQ(a.variables[i].size(), b.variables[i].size());
    EXPECT_EQ(std::memcmp(a.variables[i].data(), b.variables[i].data(),
                          a.variables[i].size() * sizeof(float)),
              0)
        << what << ": variable " << i << " differs";
  }
}

std::vector<std::string> names_without_updates(const Graph& g) {
  std::vector<std::string> out;
  for (const Node& n : g.nodes()) {
    if (n.phase != Phase::kUpdate) out.push_back(n.name);
  }
  return out;
}

TEST(StepLocalGradientsTest, UpdatesFollowWhatTheyMustAndGradientsBecomeStepLocal) {
  auto t = make_trainer(shared_layer_model(), /*keep_gradients=*/true,
                        train::SGD({.learning_rate = 0.1f, .momentum = 0.9f}));
  const Graph& g = t->training_program(kBatch).graph();
  const auto gradients = std::count_if(g.values().begin(), g.values().end(), [](const Value& v) {
    return v.kind == ValueKind::kGradient;
  });
  const std::vector<nn::ModelVariable> vars = t->model().variables();
  ASSERT_EQ(gradients, std::count_if(vars.begin(), vars.end(), [](const nn::ModelVariable& v) {
              return v.variable.trainable;
            }));
  Graph h = g;
  EXPECT_EQ(make_step_local_in_place(h), gradients);
  EXPECT_EQ(h.num_nodes(), g.num_nodes());
  EXPECT_EQ(h.num_values(), g.num_values());
  // Every other node keeps its place relative to the others.
  EXPECT_EQ(names_without_updates(h), names_without_updates(g));
  const std::vector<std::vector<NodeId>> readers = value_readers(h);
  NodeId first_update = h.num_nodes(), last_backward = -1;
  for (NodeId u = 0; u < h.num_nodes(); ++u) {
    const Node& node = h.node(u);
    if (node.phase == Phase::kBackward) last_backward = u;
    if (node.phase != Phase::kUpdate) continue;
    first_update = std::min(first_update, u);
    NodeId must_follow = -1;
    for (ValueId in : node.inputs) {
      const Value& v = h.value(in);
      EXPECT_NE(v.kind, ValueKind::kGradient) << v.name;
      must_follow = std::max(must_follow, v.producer);
      if (!is_persistent(v.kind)) continue;
      for (NodeId r : readers[static_cast<size_t>(in)]) {
        if (r < u) must_follow = std::max(must_follow, r);
      }
    }
    EXPECT_LT(must_follow, u) << node.name;
    // Right after it: only other updates in between.
    for (NodeId n = must_follow + 1; n < u; ++n) {
      EXPECT_EQ(h.node(n).phase, Phase::kUpdate) << node.name << " waits after " << h.node(n).name;
    }
  }
  EXPECT_LT(first_update, last_backward) << "the updates did not move into the backward pass";
  // The gradients a graph's planner now places: written by a backward node, read by an update.
  for (const Value& v : h.values()) {
    if (v.name.ends_with("/grad")) {
      EXPECT_EQ(v.kind, ValueKind::kActivation) << v.name;
      EXPECT_EQ(readers[static_cast<size_t>(h.find(v.name))].size(), 1u) << v.name;
    }
  }
}

TEST(StepLocalGradientsTest, AGradientSomethingElseReadsStaysPersistent) {
  auto t = make_trainer(shared_layer_model(), /*keep_gradients=*/true, train::Adam());
  Graph g = t->training_program(kBatch).graph();
  int32_t gradients = 0;
  ValueId watched = kNoValue;
  for (ValueId v = 0; v < g.num_values(); ++v) {
    if (g.value(v).kind != ValueKind::kGradient) continue;
    ++gradients;
    if (watched == kNoValue) watched = v;
  }
  ASSERT_NE(watched, kNoValue);
  const std::string name = g.value(watched).name;
  g.add_node(ops::copy(), {watched}, "gradient_watch", Phase::kBackward);
  EXPECT_EQ(make_step_local_in_place(g), gradients - 1);
  EXPECT_EQ(g.value(g.find(name)).kind, ValueKind::kGradient) << name;
}

TEST(StepLocalGradientsTest, TrainsBitForBitAsUpdatingAfterTheBackwardPass) {
  const nn::Model model = shared_layer_model();
  for (const KernelChoice k : {KernelChoice::kReference, KernelChoice::kFast}) {
    for (const bool adam : {false, true}) {
      const auto optimizer = [&] {
        return adam ? train::Adam({.learning_rate = 0.01f})
                    : train::SGD({.learning_rate = 0.1f, .momentum = 0.9f});
      };
      const std::string what =
          std::string(adam ? "Adam" : "SGD") +
          (k == KernelChoice::kFast ? ", fast kernels" : ", reference kernels");
      auto keeping = make_trainer(model, true, optimizer(), k);
      auto local = make_trainer(model, false, optimizer(), k);
      const Trajectory expected = run_steps(*keeping, 6);
      EXPECT_NE(expected.losses.front(), expected.losses.back()) << what;
      expect_bitwise_equal(expected, run_steps(*local, 6), what);
      // The persistent block lost the gradients.
      const train::MemoryReport kr = keeping->plan(kBatch), lr = local->plan(kBatch);
      EXPECT_EQ(lr.gradients_bytes, 0) << what;
      EXPECT_TRUE(lr.step_local_gradients) << what;
      EXPECT_EQ(kr.gradients_bytes, model.count_params(true) * 4) << what;
      EXPECT_LE(lr.persistent_bytes + kr.gradients_bytes, kr.persistent_bytes) << what;
    }
  }
}

TEST(StepLocalGradientsTest, MobileNetV2NeedsLessAndARematerializedPlanTrainsBitForBit) {
  const nn::Model model =
      nn::make_model("mobilenet_v2", Shape{32, 32, 3}, kClasses, 3, {.alpha = 0.35});
  const auto sgd = [] { return train::SGD({.learning_rate = 0.05f, .momentum = 0.9f}); };
  auto keeping = make_trainer(model, true, sgd());
  const train::MemoryReport kr = keeping->plan(kBatch);
  auto local = make_trainer(model, false, sgd());
  const train::MemoryReport lr = local->plan(kBatch);
  // The gradients' block is gone; the arena holds at most the few alive at its peak.
  EXPECT_LT(lr.persistent_bytes + lr.train_arena_bytes,
            kr.persistent_bytes + kr.train_arena_bytes - kr.gradients_bytes / 2);
  const Trajectory expected = run_steps(*keeping, 4);
  expect_bitwise_equal(expected, run_steps(*local, 4), "MobileNetV2 keeping everything");

  // Under a budget that needs rematerialization, with step-local gradients.
  const int64_t budget = lr.persistent_bytes + lr.train_arena_bytes * 6 / 10;
  auto remat = make_trainer(model, false, sgd(), KernelChoice::kFast, budget);
  const train::MemoryReport rr = remat->plan(kBatch);
  EXPECT_EQ(rr.plan_kind, train::PlanKind::kRemat);
  EXPECT_TRUE(rr.step_local_gradients);
  EXPECT_LE(rr.persistent_bytes + rr.arena_bytes, budget);
  expect_bitwise_equal(expected, run_steps(*remat, 4), "MobileNetV2 rematerialized");
}

}  // namespace
}  // namespace leantrain::passes

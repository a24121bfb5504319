// accumulate_micro_batch_gradients: each gradient becomes a step-local value added into a
// persistent gradient of its name by an Accumulate node right after its producer; everything
// else keeps its order and names; update nodes and impossible row counts are refused.
#include "leantrain/passes/micro_batch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/graph/autodiff.h"
#include "ops/ops.h"

namespace leantrain::passes {
namespace {

using graph::Graph;
using graph::kNoValue;
using graph::Node;
using graph::Phase;
using graph::Value;
using graph::ValueId;
using graph::ValueKind;

// x (4, 3) -> dense w1 (3, 4) -> dense w2 (4, 5) -> softmax cross-entropy, and its backward.
Graph two_dense_graph() {
  Graph g;
  const ValueId x = g.add_value("x", {Shape{4, 3}, DType::kF32}, ValueKind::kInput);
  const ValueId w1 = g.add_value("w1", {Shape{3, 4}, DType::kF32}, ValueKind::kParameter);
  const ValueId w2 = g.add_value("w2", {Shape{4, 5}, DType::kF32}, ValueKind::kParameter);
  const ValueId h = g.add(ops::dense(), {x, w1}, "d1", Phase::kForward);
  const ValueId y = g.add(ops::dense(), {h, w2}, "d2", Phase::kForward);
  const ValueId labels = g.add_value("labels", {Shape{4}, DType::kI32}, ValueKind::kInput);
  const ValueId loss = g.add(ops::softmax_cross_entropy(), {y, labels}, "loss", Phase::kLoss);
  g.value(loss).is_output = true;
  graph::add_backward(g, loss, ops::add(), ops::copy());
  return g;
}

TEST(AccumulateMicroBatchGradientsTest, AccumulatesEachGradientRightAfterItsProducer) {
  const Graph g = two_dense_graph();
  std::vector<std::string> gradients;
  for (const Value& v : g.values()) {
    if (v.kind == ValueKind::kGradient) gradients.push_back(v.name);
  }
  ASSERT_EQ(gradients.size(), 2u);
  const Graph m = accumulate_micro_batch_gradients(g, {.rows = 2, .batch_rows = 8});
  ASSERT_EQ(m.num_nodes(), g.num_nodes() + 2);
  for (const std::string& name : gradients) {
    const ValueId persistent = m.find(name);
    ASSERT_NE(persistent, kNoValue) << name;
    EXPECT_EQ(m.value(persistent).kind, ValueKind::kGradient) << name;
    EXPECT_LT(m.value(persistent).producer, 0) << name;
    const ValueId local = m.find(name + "/micro");
    ASSERT_NE(local, kNoValue) << name;
    EXPECT_EQ(m.value(local).kind, ValueKind::kActivation) << name;
    const Node& accumulate = m.node(m.value(local).producer + 1);
    EXPECT_EQ(accumulate.op->type(), "Accumulate") << name;
    EXPECT_EQ(accumulate.name, name + "/accumulate");
    EXPECT_EQ(accumulate.phase, Phase::kBackward);
    EXPECT_EQ(accumulate.inputs, (std::vector<ValueId>{persistent, local})) << name;
  }
  // Every other node in its order, under its name.
  std::vector<std::string> before, after;
  for (const Node& n : g.nodes()) before.push_back(n.name);
  for (const Node& n : m.nodes()) {
    if (n.op->type() != "Accumulate") after.push_back(n.name);
  }
  EXPECT_EQ(after, before);
  EXPECT_TRUE(m.value(m.find("loss")).is_output);
}

TEST(AccumulateMicroBatchGradientsTest, RefusesUpdateNodesAndImpossibleRowCounts) {
  const Graph g = two_dense_graph();
  EXPECT_THROW(accumulate_micro_batch_gradients(g, {.rows = 0, .batch_rows = 8}), Error);
  EXPECT_THROW(accumulate_micro_batch_gradients(g, {.rows = 9, .batch_rows = 8}), Error);
  Graph with_update = g;
  const ValueId w1 = g.find("w1");
  ValueId dw1 = kNoValue;
  for (ValueId v = 0; v < g.num_values(); ++v) {
    if (g.value(v).kind == ValueKind::kGradient &&
        g.value(v).spec.shape == g.value(w1).spec.shape) {
      dw1 = v;
    }
  }
  ASSERT_NE(dw1, kNoValue);
  with_update.add_node(ops::sgd_update(0.0f, false), {w1, dw1}, "w1/update", Phase::kUpdate);
  EXPECT_THROW(accumulate_micro_batch_gradients(with_update, {.rows = 2, .batch_rows = 8}), Error);
}

}  // namespace
}  // namespace leantrain::passes

#include <gtest/gtest.h>

#include "leantrain/graph/autodiff.h"
#include "leantrain/graph/memory_plan.h"
#include "ops/ops.h"

namespace leantrain::graph {
namespace {

// An op whose gradient reads its input without declaring it: autodiff must refuse it.
class UndeclaredSaveOp final : public Op {
 public:
  std::string type() const override { return "Undeclared"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override { return {in[0]}; }
  std::vector<ValueId> gradient(GradContext& ctx, const Node& node,
                                std::span<const ValueId> dy) const override {
    return {ctx.add(ops::add(), {node.inputs[0], dy[0]}, "bwd")};
  }
  std::unique_ptr<Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                  const KernelOptions&) const override {
    return nullptr;
  }
};

TEST(GraphTest, NamesAreUniqueAndNodesInferShapes) {
  Graph g;
  const ValueId x = g.add_value("x", {Shape{2, 5}, DType::kF32}, ValueKind::kInput);
  EXPECT_THROW(g.add_value("x", {Shape{1}, DType::kF32}, ValueKind::kInput), Error);
  EXPECT_EQ(g.unique_name("x"), "x_1");
  const ValueId w = g.add_value("w", {Shape{5, 3}, DType::kF32}, ValueKind::kParameter);
  const ValueId y = g.add(ops::dense(), {x, w}, "dense", Phase::kForward);
  EXPECT_EQ(g.value(y).spec.shape, (Shape{2, 3}));
  EXPECT_EQ(g.value(y).producer, 0);
  EXPECT_EQ(g.find("dense"), y);
}

TEST(AutodiffTest, SumsGradientsOfSharedValuesAndSkipsInputGradients) {
  Graph g;
  const ValueId x = g.add_value("x", {Shape{2, 4}, DType::kF32}, ValueKind::kInput);
  const ValueId w = g.add_value("w", {Shape{4, 4}, DType::kF32}, ValueKind::kParameter);
  const ValueId h = g.add(ops::dense(), {x, w}, "d1", Phase::kForward);
  const ValueId r =
      g.add(ops::activation(ops::ActivationKind::kTanh), {h}, "tanh", Phase::kForward);
  const ValueId y = g.add(ops::dense(), {r, w}, "d2", Phase::kForward);  // w used twice
  const ValueId labels = g.add_value("labels", {Shape{2}, DType::kI32}, ValueKind::kInput);
  const ValueId loss = g.add(ops::softmax_cross_entropy(), {y, labels}, "loss", Phase::kLoss);
  const auto grads = add_backward(g, loss, ops::add(), ops::copy());
  ASSERT_EQ(grads.size(), 1u);
  const Value& gw = g.value(grads.at(w));
  EXPECT_EQ(gw.kind, ValueKind::kGradient);
  EXPECT_EQ(gw.name, "w/grad");
  EXPECT_EQ(g.node(gw.producer).op->type(), "Add");  // two contributions summed
  int backward_data_of_input = 0;
  for (const Node& n : g.nodes()) {
    if (n.op->type() == "DenseBackwardData" && n.forward_of == 0) ++backward_data_of_input;
  }
  EXPECT_EQ(backward_data_of_input, 0) << "no gradient is needed for the input x";
}

TEST(AutodiffTest, RefusesGradientRulesThatReadUndeclaredTensors) {
  Graph g;
  const ValueId w = g.add_value("w", {Shape{2, 3}, DType::kF32}, ValueKind::kParameter);
  const ValueId h =
      g.add(ops::activation(ops::ActivationKind::kRelu), {w}, "relu", Phase::kForward);
  const ValueId u = g.add(std::make_shared<UndeclaredSaveOp>(), {h}, "undeclared", Phase::kForward);
  const ValueId labels = g.add_value("labels", {Shape{2}, DType::kI32}, ValueKind::kInput);
  const ValueId loss = g.add(ops::softmax_cross_entropy(), {u, labels}, "loss", Phase::kLoss);
  try {
    add_backward(g, loss, ops::add(), ops::copy());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInternal);
    EXPECT_NE(std::string(e.what()).find("saved_for_backward"), std::string::npos) << e.what();
  }
}

TEST(GraphMemoryPlanTest, ActivationsRunInPlaceAndReshapeIsAView) {
  Graph g;
  const ValueId x = g.add_value("x", {Shape{8, 6, 6, 2}, DType::kF32}, ValueKind::kInput);
  const ValueId w = g.add_value("w", {Shape{3, 3, 2, 4}, DType::kF32}, ValueKind::kParameter);
  const ValueId c =
      g.add(ops::conv2d({3, 3, 1, 1, 1, 1, ops::Padding::kValid}), {x, w}, "conv", Phase::kForward);
  const ValueId r =
      g.add(ops::activation(ops::ActivationKind::kRelu), {c}, "relu", Phase::kForward);
  const ValueId f = g.add(ops::reshape(Shape{64}), {r}, "flat", Phase::kForward);
  const ValueId w2 = g.add_value("w2", {Shape{64, 3}, DType::kF32}, ValueKind::kParameter);
  const ValueId y = g.add(ops::dense(), {f, w2}, "dense", Phase::kForward);
  g.value(y).is_output = true;
  const std::vector<int64_t> scratch(static_cast<size_t>(g.num_nodes()), 0);
  const GraphMemoryPlan plan = plan_graph_memory(g, scratch);
  EXPECT_EQ(plan.value_offset(r), plan.value_offset(c)) << "relu should overwrite the conv output";
  EXPECT_EQ(plan.value_offset(f), plan.value_offset(r)) << "flatten is a view";
  // x dies at conv while y is born at dense: y may reuse x's bytes, so the arena is smaller
  // than the sum of the buffers.
  EXPECT_LT(plan.arena_bytes(), plan.sum_of_buffers_bytes());
  memory::verify_plan(plan.slots.slots, plan.plan);
}

}  // namespace
}  // namespace leantrain::graph

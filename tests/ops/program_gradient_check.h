// Checks an op's gradient rule end to end through autodiff and the compiled program, as
// op_gradient_test.cc does: loss = softmax cross-entropy of the op's output (flattened) against
// fixed labels; every float input is a parameter, so autodiff computes its gradient; central
// differences come from rerunning the program with one element perturbed.
//
// Optionally each input first goes through tanh, so that the op's input gradients are planned
// step-local tensors rather than the parameters' persistent gradient buffers: then the planner
// may let the op's backward write over its incoming gradient, and the check runs that path.
// Header-only; for the ops test binary (links leantrain_runtime).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "leantrain/graph/autodiff.h"
#include "leantrain/runtime/program.h"
#include "ops/ops.h"
#include "testing/testing.h"

namespace leantrain::testing {

struct ProgramGradientCase {
  std::string name;
  ops::OpPtr op;
  std::vector<Shape> inputs;
  // Gives input i a custom range (positive values, away from kinks); may be null.
  std::function<void(size_t, std::vector<float>&)> adjust = nullptr;
  // When true, input i enters the op as tanh(x_i), and the gradient checked is that of x_i.
  bool through_tanh = false;
};

// The program built by check_program_gradient(): the op's node is "op", its output flattened by
// "flat", whose backward ("flat/bwd") is the op's incoming gradient; inputs are "x0", "x1", ...
// (after tanh: "t0", "t1", ...); the op's backward nodes are named "op/<suffix>".
//
// Builds and compiles the program with `choice`, calls `inspect` (if given) on it, and expects
// the analytic gradient of every input to match central differences.
inline void check_program_gradient(
    const ProgramGradientCase& c, graph::KernelChoice choice,
    const std::function<void(runtime::Program&)>& inspect = nullptr) {
  SCOPED_TRACE(c.name);
  graph::Graph g;
  std::vector<graph::ValueId> in;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const std::string index = std::to_string(i);
    graph::ValueId x =
        g.add_value("x" + index, {c.inputs[i], DType::kF32}, graph::ValueKind::kParameter);
    if (c.through_tanh) {
      x = g.add(ops::activation(ops::ActivationKind::kTanh), {x}, "t" + index,
                graph::Phase::kForward);
    }
    in.push_back(x);
  }
  const std::vector<graph::ValueId> outs = g.add_node(c.op, in, "op", graph::Phase::kForward);
  const Shape y = g.value(outs[0]).spec.shape;
  const graph::ValueId flat = g.add(ops::reshape(Shape{y.num_elements() / y[0]}), {outs[0]}, "flat",
                                    graph::Phase::kForward);
  const graph::ValueId labels =
      g.add_value("labels", {Shape{y[0]}, DType::kI32}, graph::ValueKind::kInput);
  const graph::ValueId loss =
      g.add(ops::softmax_cross_entropy(), {flat, labels}, "loss", graph::Phase::kLoss);
  g.value(loss).is_output = true;
  graph::add_backward(g, loss, ops::add(), ops::copy());

  runtime::PersistentStore store;
  for (const graph::Value& v : g.values()) {
    if (graph::is_persistent(v.kind)) store.declare(v.name, v.spec, v.kind);
  }
  store.allocate();
  std::vector<std::vector<float>> values;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    values.push_back(random_floats(c.inputs[i].num_elements(), 100 + i));
    if (c.adjust) c.adjust(i, values.back());
  }
  runtime::SharedArena arena;
  runtime::Program program(std::move(g), store, arena, {.choice = choice});
  ASSERT_TRUE(program.all_pointers_inside());
  if (inspect) inspect(program);
  const std::vector<int32_t> label_values =
      random_labels(y[0], static_cast<int32_t>(y.num_elements() / y[0]), 7);

  const graph::StepState state{1, 0.0f, 42};
  auto run = [&]() -> double {
    for (size_t i = 0; i < values.size(); ++i) {
      std::copy(values[i].begin(), values[i].end(), store.view("x" + std::to_string(i)).f32());
    }
    std::copy(label_values.begin(), label_values.end(), program.view("labels").i32());
    program.run(state);
    return program.view("loss").f32()[0];
  };
  run();
  std::vector<std::vector<float>> analytic;
  std::vector<std::vector<float>*> inputs;
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string name = "x" + std::to_string(i) + "/grad";
    ASSERT_TRUE(store.contains(name)) << "no gradient for input " << i;
    const TensorView gv = store.view(name);
    analytic.emplace_back(gv.f32(), gv.f32() + gv.num_elements());
    inputs.push_back(&values[i]);
  }
  EXPECT_TRUE(gradient_check(run, inputs, analytic, 1e-2, 3e-2, 2e-4));
}

}  // namespace leantrain::testing

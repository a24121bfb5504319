#include "train/step_graph.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/graph/autodiff.h"
#include "leantrain/passes/passes.h"
#include "leantrain/runtime/program.h"
#include "ops/ops.h"
#include "train/objective.h"

namespace leantrain::train {

using graph::ValueId;
using graph::ValueKind;

const char* step_name(StepMode mode) {
  switch (mode) {
    case StepMode::kTrain:
      return "training";
    case StepMode::kEval:
      return "evaluation";
    case StepMode::kPredict:
      return "prediction";
    case StepMode::kCalibrate:
      return "batch-norm calibration";
    case StepMode::kMicro:
      return "micro-batch";
  }
  return "?";
}

StepGraphs::StepGraphs(const nn::Model& model, const CompileOptions& options,
                       bool step_local_gradients)
    : model_(model), options_(options), step_local_gradients_(step_local_gradients) {}

graph::Graph StepGraphs::build(int64_t batch_size, StepMode mode) const {
  graph::Graph g;
  const nn::BuiltModel built = model_.build(
      g, batch_size,
      mode == StepMode::kTrain || mode == StepMode::kMicro || mode == StepMode::kCalibrate);
  const ValueId output = built.outputs[0];
  if (mode == StepMode::kCalibrate) {
    // The training-mode forward pass only: every batch-norm node's batch statistics are read.
    for (const graph::Node& node : g.nodes()) {
      if (node.op->type() != "BatchNormalization") continue;
      g.value(node.outputs[1]).is_output = true;
      g.value(node.outputs[2]).is_output = true;
    }
    g.value(output).is_output = true;
    return g;
  }
  if (mode == StepMode::kPredict) {
    g.value(output).is_output = true;
    return g;
  }
  std::vector<std::pair<ValueId, float>> l2;
  for (const nn::ModelVariable& v : model_.variables()) {
    if (v.variable.l2 != 0.0f) l2.push_back({g.find(v.full_name()), v.variable.l2});
  }
  const ValueId loss = add_objective(g, output, options_.loss, options_.metrics, l2);
  if (mode != StepMode::kTrain && mode != StepMode::kMicro) return g;

  const std::map<ValueId, ValueId> grads = graph::add_backward(g, loss, ops::add(), ops::copy());
  if (mode == StepMode::kMicro) return g;
  const Optimizer& opt = options_.optimizer;
  for (const auto& [param, grad] : grads) {
    const std::string name = g.value(param).name;
    const graph::TensorSpec spec = g.value(param).spec;
    const std::string layer = g.value(param).layer;
    std::vector<ValueId> in{param, grad};
    ops::OpPtr op;
    if (opt.kind == Optimizer::Kind::kSgd) {
      if (opt.momentum > 0) {
        in.push_back(g.add_value(name + "/momentum", spec, ValueKind::kOptimizerState, layer));
      }
      op = ops::sgd_update(opt.momentum, opt.nesterov);
    } else {
      in.push_back(g.add_value(name + "/m", spec, ValueKind::kOptimizerState, layer));
      in.push_back(g.add_value(name + "/v", spec, ValueKind::kOptimizerState, layer));
      op = ops::adam_update(opt.beta_1, opt.beta_2, opt.epsilon,
                            opt.kind == Optimizer::Kind::kAdamW ? opt.weight_decay : 0.0f);
    }
    g.add_node(op, in, name + "/update", graph::Phase::kUpdate, layer);
  }
  return g;
}

void StepGraphs::finish_training_graph(graph::Graph& g) const {
  if (!step_local_gradients_) return;
  g = passes::make_gradients_step_local(g);
  for (const graph::Value& v : g.values()) {
    LT_CHECK(v.kind != ValueKind::kGradient, kInternal, "the gradient '", v.name,
             "' is read by more than its parameter's update: it cannot be step-local");
  }
}

int64_t StepGraphs::planned_arena_bytes(const graph::Graph& g) const {
  if (!step_local_gradients_) return runtime::planned_arena_bytes(g, options_.kernels);
  graph::Graph finished = g;
  finish_training_graph(finished);
  return runtime::planned_arena_bytes(finished, options_.kernels);
}

ValueId the_output(const graph::Graph& g) {
  for (ValueId v = 0; v < g.num_values(); ++v) {
    if (g.value(v).is_output) return v;
  }
  throw Error(ErrorCode::kInternal, "a prediction graph has no output");
}

}  // namespace leantrain::train

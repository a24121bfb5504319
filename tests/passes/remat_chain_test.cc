// Chain extraction on the zoo's training graphs: MobileNetV2 (alpha 0.35, 32x32x1, batch 2)
// splits into stages that follow its 17 inverted residual blocks, each residual block one
// stage; EfficientNetB0's residual MBConv blocks (squeeze-and-excitation, dropout and Add) are
// one stage each; the dynamic program plans both.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "leantrain/graph/autodiff.h"
#include "leantrain/nn/zoo.h"
#include "leantrain/passes/remat.h"
#include "leantrain/runtime/program.h"
#include "ops/ops.h"

namespace leantrain::passes {
namespace {

using graph::add_backward;
using graph::Graph;
using graph::KernelChoice;
using graph::Node;
using graph::NodeId;
using graph::Phase;
using graph::ValueId;
using graph::ValueKind;

// The graph a trainer builds for one step, without the optimizer: the model's forward nodes,
// a sparse softmax cross-entropy on its logits, and autodiff's backward nodes.
Graph training_graph(const nn::Model& model, int64_t batch) {
  Graph g;
  const nn::BuiltModel built = model.build(g, batch, /*training=*/true);
  const ValueId labels = g.add_value("labels", {Shape{batch}, DType::kI32}, ValueKind::kInput);
  const ValueId loss =
      g.add(ops::softmax_cross_entropy(), {built.outputs[0], labels}, "loss", Phase::kLoss);
  g.value(loss).is_output = true;
  add_backward(g, loss, ops::add(), ops::copy());
  return g;
}

// MobileNetV2's layer groups: "stem" (Conv1, bn_Conv1, Conv1_relu), "block_0" (Keras'
// "expanded_conv_*") .. "block_16", and "head" (Conv_1 onwards).
std::string mobilenet_v2_group(const std::string& layer) {
  if (layer == "Conv1" || layer == "bn_Conv1" || layer == "Conv1_relu") return "stem";
  if (layer.starts_with("expanded_conv_")) return "block_0";
  if (layer.starts_with("block_")) return layer.substr(0, layer.find('_', 6));
  return "head";
}

TEST(RematChainTest, MobileNetV2StagesFollowItsInvertedResidualBlocks) {
  const nn::Model model = nn::make_model("mobilenet_v2", Shape{32, 32, 1}, 10, 0, {.alpha = 0.35});
  const Graph g = training_graph(model, 2);
  const Chain c = extract_chain(g);

  // Expected stages, from the architecture (one node per Keras layer) and the cut rule (a cut
  // after a tensor some backward node reads; BatchNorm's output is overwritten by the ReLU6,
  // whose backward reads its own output, so BatchNorm and ReLU6 share a stage):
  // - stem: [Conv1], [bn_Conv1, Conv1_relu]                                               2
  // - block 0 (no expansion, stride 1, 16 -> 8 channels at alpha 0.35, no residual):
  //   [depthwise], [BN, relu], [project], [project_BN]                                    4
  // - blocks 1, 3, 6, 13 (stride 2: no residual): [expand], [BN, relu], [depthwise] (its
  //   ZeroPadding2D is folded into it: no node), [BN, relu], [project], [project_BN]  4 x 6 = 24
  // - blocks 10 and 16 (stride 1 but the channels change: no residual): the same       2 x 6 = 12
  // - blocks 2, 4, 5, 7, 8, 9, 11, 12, 14, 15 (stride 1, same channels: an Add): between
  //   the block input and the Add two tensors are live, so each block is one stage      10
  // - head: [Conv_1], [Conv_1_bn, out_relu], [global pooling], [predictions]              4
  // - the loss                                                                            1
  // 2 + 4 + 24 + 12 + 10 + 4 + 1 = 57.
  ASSERT_EQ(c.stages.size(), 57u);
  EXPECT_EQ(c.stages.back().name, "loss");

  // Every forward stage lies inside one group, and the groups come in order, each once: the
  // 17 blocks are contiguous runs of stages.
  std::vector<std::string> groups;
  std::map<std::string, std::vector<size_t>> stages_of;
  for (size_t i = 0; i + 1 < c.stages.size(); ++i) {
    std::set<std::string> in_stage;
    for (NodeId n : c.stages[i].forward_nodes) in_stage.insert(mobilenet_v2_group(g.node(n).layer));
    ASSERT_EQ(in_stage.size(), 1u) << "stage " << i << " (" << c.stages[i].name << ") spans groups";
    const std::string group = *in_stage.begin();
    if (groups.empty() || groups.back() != group) groups.push_back(group);
    stages_of[group].push_back(i);
  }
  std::vector<std::string> expected_groups = {"stem"};
  for (int b = 0; b < 17; ++b) expected_groups.push_back("block_" + std::to_string(b));
  expected_groups.push_back("head");
  EXPECT_EQ(groups, expected_groups);
  const std::map<std::string, size_t> expected_counts = {
      {"stem", 2},     {"block_0", 4},  {"block_1", 6},  {"block_3", 6}, {"block_6", 6},
      {"block_13", 6}, {"block_10", 6}, {"block_16", 6}, {"head", 4}};
  for (const auto& [group, count] : expected_counts) {
    EXPECT_EQ(stages_of[group].size(), count) << group;
  }

  // A residual block is one stage holding every node of the block, ending in its Add.
  std::map<std::string, size_t> nodes_of_group;
  for (const Node& n : g.nodes()) {
    if (n.phase == Phase::kForward) ++nodes_of_group[mobilenet_v2_group(n.layer)];
  }
  for (int b : {2, 4, 5, 7, 8, 9, 11, 12, 14, 15}) {
    const std::string group = "block_" + std::to_string(b);
    ASSERT_EQ(stages_of[group].size(), 1u) << group;
    const ChainStage& s = c.stages[stages_of[group][0]];
    EXPECT_EQ(s.forward_nodes.size(), nodes_of_group[group]) << group;
    EXPECT_EQ(s.forward_nodes.size(), 9u) << group;  // expand, BN, relu x2, project, BN, add
    EXPECT_EQ(g.node(s.forward_nodes.back()).layer, group + "_add");
  }

  // Block 2 at this size: input and output (2, 8, 8, 8), expanded to 48 channels.
  const ChainStage& block2 = c.stages[stages_of["block_2"][0]];
  const int64_t wide = 2 * 8 * 8 * 48 * 4, narrow = 2 * 8 * 8 * 8 * 4;
  EXPECT_EQ(block2.output_bytes, narrow);
  // Kept for backward: the expand conv's output (its BN reads it), the expand ReLU6's output
  // (its own backward and the depthwise's), the depthwise output (its BN), the depthwise
  // ReLU6's output (its own backward and the project's), the project output (its BN) and the
  // block output; plus each BatchNorm's batch mean and variance (48, 48 and 8 channels).
  EXPECT_EQ(block2.kept_bytes, 4 * wide + 2 * narrow + 2 * (48 + 48 + 8) * 4);
  // The gradient entering the block is its output's; the one it hands down is two tensors (the
  // Add passes its incoming gradient through, beside the expand conv's backward-data).
  EXPECT_EQ(block2.grad_bytes, narrow);
  EXPECT_EQ(c.stages[stages_of["block_2"][0] - 1].grad_bytes, 2 * narrow);

  // Conv1: 3x3, stride 2, 1 -> 16 channels on 32x32: (2, 16, 16, 16) outputs of 9 taps each;
  // the image needs no gradient, so its backward is the weight gradient alone.
  EXPECT_EQ(c.stages[0].forward_cost, 2.0 * (2 * 16 * 16 * 16) * 9);
  EXPECT_EQ(c.stages[0].backward_cost, 2.0 * (2 * 16 * 16 * 16) * 9);

  // The dynamic program plans it: every budget from the smallest to the keep-everything peak
  // fits, within budget, never dearer than a smaller one.
  const int64_t keep_all = simulate_remat(c, keep_all_schedule(c)).peak_bytes;
  const int64_t min_budget = min_remat_budget_bytes(c);
  ASSERT_LT(min_budget, keep_all);
  double previous = 1e300;
  for (int i = 0; i <= 8; ++i) {
    const int64_t budget = min_budget + (keep_all - min_budget) * i / 8;
    const RematSchedule s = solve_remat(c, budget);
    ASSERT_TRUE(s.fits) << budget;
    EXPECT_LE(s.peak_bytes, budget);
    EXPECT_LE(s.cost, previous) << budget;
    previous = s.cost;
  }
  EXPECT_EQ(previous, simulate_remat(c, keep_all_schedule(c)).cost);
  const RematSchedule half = solve_remat(c, min_budget + (keep_all - min_budget) / 2);
  const std::string text = explain_remat(c, half);
  EXPECT_NE(text.find("block_2_expand..block_2_add"), std::string::npos) << text;
  EXPECT_NE(text.find("recompute (runs"), std::string::npos) << text;
}

TEST(RematChainTest, EfficientNetB0ResidualBlocksAreOneStageEach) {
  const nn::Model model = nn::make_model("efficientnet_b0", Shape{32, 32, 3}, 10);
  const Graph g = training_graph(model, 2);
  const Chain c = extract_chain(g);
  // Forward nodes per block ("block2b_expand_conv" belongs to "block2b").
  const auto block_of = [](const std::string& layer) {
    return layer.starts_with("block") ? layer.substr(0, layer.find('_')) : std::string();
  };
  std::map<std::string, size_t> nodes_of_block;
  for (const Node& n : g.nodes()) {
    if (n.phase == Phase::kForward && !block_of(n.layer).empty())
      ++nodes_of_block[block_of(n.layer)];
  }
  // EfficientNetB0's blocks with a residual Add: those repeating a stage (stride 1, same
  // filters): 2b, 3b, 4b, 4c, 5b, 5c, 6b, 6c, 6d.
  std::set<std::string> residual;
  for (const ChainStage& s : c.stages) {
    for (NodeId n : s.forward_nodes) {
      if (g.node(n).op->type() != "Add") continue;
      const std::string block = block_of(g.node(n).layer);
      residual.insert(block);
      // The whole block, squeeze-and-excitation and dropout included, is this one stage.
      EXPECT_EQ(s.forward_nodes.size(), nodes_of_block[block]) << s.name;
      for (NodeId m : s.forward_nodes) EXPECT_EQ(block_of(g.node(m).layer), block) << s.name;
    }
  }
  EXPECT_EQ(residual, (std::set<std::string>{"block2b", "block3b", "block4b", "block4c", "block5b",
                                             "block5c", "block6b", "block6c", "block6d"}));
  const int64_t keep_all = simulate_remat(c, keep_all_schedule(c)).peak_bytes;
  const RematSchedule s = solve_remat(c, (keep_all + min_remat_budget_bytes(c)) / 2);
  ASSERT_TRUE(s.fits);
  EXPECT_GT(s.extra_cost(), 0);
}

TEST(RematChainTest, ModelPeaksMatchThePlannedArenasOfMobileNetV2) {
  // The memory model frees kept tensors and gradients at their last reads, as the arena does, so
  // its peaks are the planned arenas' (reference kernels: no scratch; the arena adds only its
  // placement overhead). Counting a stage's kept tensors whole until its backward ends
  // over-counted the smallest schedule by a third and left the cheaper schedules between the
  // two unused.
  const nn::Model model = nn::make_model("mobilenet_v2", Shape{64, 64, 3}, 10);
  const Graph g = training_graph(model, 4);
  const Chain c = extract_chain(g);
  const auto arena = [&](const RematSchedule& s) {
    return static_cast<double>(runtime::planned_arena_bytes(
        apply_remat(g, {.chain = c, .schedule = s}), {.choice = KernelChoice::kReference}));
  };
  const int64_t keep_all = simulate_remat(c, keep_all_schedule(c)).peak_bytes;
  const int64_t smallest = min_remat_budget_bytes(c);
  for (const int64_t budget : {keep_all, (keep_all + smallest) / 2, smallest}) {
    const RematSchedule s = solve_remat(c, budget);
    ASSERT_TRUE(s.fits) << budget;
    const double planned = arena(s);
    // Never below the arena by more than the placement overhead, never far above it.
    EXPECT_GE(static_cast<double>(s.peak_bytes), 0.98 * planned) << budget;
    EXPECT_LE(static_cast<double>(s.peak_bytes), 1.03 * planned) << budget;
  }
}

}  // namespace
}  // namespace leantrain::passes

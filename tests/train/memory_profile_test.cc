#include "leantrain/train/memory_profile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "leantrain/core/error.h"
#include "leantrain/graph/memory_plan.h"
#include "leantrain/nn/layers.h"
#include "leantrain/nn/sequential.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/trainer.h"

namespace leantrain::train {
namespace {

using graph::Phase;
using graph::TensorSpec;
using graph::ValueId;
using graph::ValueKind;

// An op with a fixed f32 output of `elements`, optionally writing over input `inplace`; never
// compiled (the tests plan its graph, they do not run it).
class FakeOp : public graph::Op {
 public:
  FakeOp(std::string type, int64_t elements, int inplace = -1)
      : type_(std::move(type)), elements_(elements), inplace_(inplace) {}
  std::string type() const override { return type_; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec>) const override {
    return {TensorSpec{Shape{elements_}, DType::kF32}};
  }
  int inplace_input() const override { return inplace_; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec>, std::span<const TensorSpec>,
                                         const graph::KernelOptions&) const override {
    throw Error(ErrorCode::kInternal, "FakeOp is never compiled");
  }

 private:
  std::string type_;
  int64_t elements_;
  int inplace_;
};

std::shared_ptr<const graph::Op> fake(std::string type, int64_t elements, int inplace = -1) {
  return std::make_shared<FakeOp>(std::move(type), elements, inplace);
}

// A step small enough to work out by hand (f32: 4 bytes an element):
//   step 0  A forward     a  = MatMul(x, w)       a 200 B, scratch 64 B
//   step 1  B forward     b  = Relu(a)            b 200 B, in place over a (a dies here)
//   step 2  loss          l  = Loss(b)            l 4 B, read by the host (live to the end)
//   step 3  B backward    gb = ReluGrad(l, b)     gb 200 B
//   step 4  A recomputed  a2 = MatMul(x, w)       a2 200 B, scratch 64 B
//   step 5  A backward    gw = MatMulGrad(gb, a2, x)   gw 40 B, scratch 32 B
// x is the graph input (400 B, layer "in"), live from step 0 to its last read at step 5.
struct HandStep {
  graph::Graph g;
  std::vector<int64_t> scratch = {64, 0, 0, 0, 64, 32};
};

HandStep hand_step() {
  HandStep h;
  graph::Graph& g = h.g;
  const ValueId x = g.add_value("x", {Shape{100}, DType::kF32}, ValueKind::kInput, "in");
  const ValueId w = g.add_value("w", {Shape{10}, DType::kF32}, ValueKind::kParameter, "A");
  g.add_value("w/grad", {Shape{10}, DType::kF32}, ValueKind::kGradient, "A");
  g.add_value("w/m", {Shape{10}, DType::kF32}, ValueKind::kOptimizerState, "A");
  g.add_value("B/moving_mean", {Shape{2}, DType::kF32}, ValueKind::kState, "B");
  const ValueId a = g.add(fake("MatMul", 50), {x, w}, "a", Phase::kForward, "A");
  const ValueId b = g.add(fake("Relu", 50, 0), {a}, "b", Phase::kForward, "B");
  const ValueId l = g.add(fake("Loss", 1), {b}, "l", Phase::kLoss);
  g.value(l).is_output = true;
  const ValueId gb = g.add(fake("ReluGrad", 50), {l, b}, "gb", Phase::kBackward, "B");
  const ValueId a2 = g.add(fake("MatMul", 50), {x, w}, "a2", Phase::kBackward, "A");
  // Graph has no mutable node accessor (passes::apply_remat sets the flag on its own copy);
  // the graph itself is not const, so writing through the cast is defined.
  const_cast<graph::Node&>(g.node(g.num_nodes() - 1)).recomputed = true;
  g.add(fake("MatMulGrad", 10), {gb, a2, x}, "gw", Phase::kBackward, "A");
  return h;
}

const LayerProfile& layer(const MemoryProfile& p, const std::string& name) {
  for (const LayerProfile& l : p.layers) {
    if (l.layer == name) return l;
  }
  throw Error(ErrorCode::kNotFound, "no layer " + name);
}

TEST(MemoryProfileTest, HandBuiltStepMatchesTheTimelineWorkedOutByHand) {
  const HandStep h = hand_step();
  const graph::GraphMemoryPlan plan = graph::plan_graph_memory(h.g, h.scratch);
  const MemoryProfile p = profile_memory(h.g, plan, h.scratch, 1000, "hand");
  // Slots: x 400 [0,5]; a+b 200 [0,3] (in place); scratch0 64 [0,0]; l 4 [2,5]; gb 200 [3,5];
  // a2 200 [4,5]; scratch4 64 [4,4]; gw 40 [5,5]; scratch5 32 [5,5].
  const std::vector<int64_t> expected = {400 + 200 + 64,
                                         400 + 200,
                                         400 + 200 + 4,
                                         400 + 200 + 4 + 200,
                                         400 + 4 + 200 + 200 + 64,
                                         400 + 4 + 200 + 200 + 40 + 32};
  ASSERT_EQ(p.steps.size(), expected.size());
  for (size_t s = 0; s < expected.size(); ++s) {
    EXPECT_EQ(p.steps[s].live_bytes, expected[s]) << "step " << s;
  }
  EXPECT_EQ(p.peak_step, 5);
  EXPECT_EQ(p.peak_live_bytes, 876);
  EXPECT_EQ(p.persistent_bytes, 1000);
  EXPECT_EQ(p.peak().node, "gw");
  EXPECT_EQ(p.peak().op, "MatMulGrad");
  EXPECT_EQ(p.peak().layer, "A");
  EXPECT_EQ(p.steps[2].layer, "(loss)");
  EXPECT_EQ(p.steps[4].kind, StepKind::kRecomputed);
  EXPECT_EQ(p.steps[3].kind, StepKind::kBackward);
  EXPECT_EQ(p.steps[0].scratch_bytes, 64);
  EXPECT_GE(p.arena_bytes, p.peak_live_bytes);
  EXPECT_EQ(p.sum_of_buffers_bytes, 400 + 200 + 64 + 200 + 4 + 200 + 200 + 64 + 40 + 32);

  // Live at the peak, largest first (ties keep slot order: gb before a2).
  std::vector<std::pair<std::string, int64_t>> live;
  for (const LiveTensor& t : p.live_at_peak) live.push_back({t.name, t.bytes});
  const std::vector<std::pair<std::string, int64_t>> expected_live = {
      {"x", 400}, {"gb", 200}, {"a2", 200}, {"gw", 40}, {"gw/scratch", 32}, {"l", 4}};
  EXPECT_EQ(live, expected_live);
  EXPECT_EQ(p.live_at_peak[0].what, "input");
  EXPECT_EQ(p.live_at_peak[1].what, "gradient");
  EXPECT_EQ(p.live_at_peak[2].what, "recomputed");
  EXPECT_EQ(p.live_at_peak[4].what, "scratch");
  EXPECT_EQ(p.live_at_peak[5].layer, "(loss)");

  // Per layer: x is kept (read by backward and by the recomputation); a2 is recomputed, not
  // kept; b is kept for ReluGrad; l comes from the loss, not the forward pass.
  std::vector<std::string> names;
  for (const LayerProfile& l : p.layers) names.push_back(l.layer);
  EXPECT_EQ(names, (std::vector<std::string>{"in", "A", "B", "(loss)"}));
  EXPECT_EQ(layer(p, "in").kept_for_backward_bytes, 400);
  EXPECT_EQ(layer(p, "A").kept_for_backward_bytes, 0);
  EXPECT_EQ(layer(p, "A").recomputed_bytes, 200);
  EXPECT_EQ(layer(p, "A").scratch_bytes, 64);
  EXPECT_EQ(layer(p, "A").live_at_peak_bytes, 200 + 40 + 32);
  EXPECT_EQ(layer(p, "A").parameter_bytes, 40);
  EXPECT_EQ(layer(p, "A").gradient_bytes, 40);
  EXPECT_EQ(layer(p, "A").optimizer_bytes, 40);
  EXPECT_EQ(layer(p, "A").persistent_bytes(), 120);
  EXPECT_EQ(layer(p, "B").kept_for_backward_bytes, 200);
  EXPECT_EQ(layer(p, "B").recomputed_bytes, 0);
  EXPECT_EQ(layer(p, "B").state_bytes, 8);
  EXPECT_EQ(layer(p, "B").live_at_peak_bytes, 200);
  EXPECT_EQ(layer(p, "(loss)").kept_for_backward_bytes, 0);
  EXPECT_EQ(layer(p, "(loss)").live_at_peak_bytes, 4);

  const std::string line = p.peak_line(2);
  EXPECT_NE(line.find("at step 5 of 6 (backward of A: MatMulGrad"), std::string::npos) << line;
  EXPECT_NE(line.find("x 400 B (input, steps 0..5); gb 200 B"), std::string::npos) << line;
  EXPECT_NE(line.find("and 4 more"), std::string::npos) << line;
}

TEST(MemoryProfileTest, RefusesAPlanOfAnotherGraphAndNegativePersistentBytes) {
  const HandStep h = hand_step();
  const graph::GraphMemoryPlan plan = graph::plan_graph_memory(h.g, h.scratch);
  EXPECT_THROW(profile_memory(h.g, plan, h.scratch, -1), Error);
  const std::vector<int64_t> short_scratch = {64, 0};
  EXPECT_THROW(profile_memory(h.g, plan, short_scratch, 0), Error);
  graph::Graph other;
  other.add_value("x", {Shape{4}, DType::kF32}, ValueKind::kInput);
  const std::vector<int64_t> none;
  EXPECT_THROW(profile_memory(other, plan, none, 0), Error);
}

TEST(MemoryProfileTest, EmptyGraphHasNoPeak) {
  const graph::Graph g;
  const std::vector<int64_t> none;
  const graph::GraphMemoryPlan plan = graph::plan_graph_memory(g, none);
  const MemoryProfile p = profile_memory(g, plan, none, 64);
  EXPECT_TRUE(p.steps.empty());
  EXPECT_EQ(p.peak_step, -1);
  EXPECT_EQ(p.peak_live_bytes, 0);
  EXPECT_NE(p.peak_line().find("nothing is live"), std::string::npos);
  EXPECT_NO_THROW(to_svg(p.timeline_chart()));
  EXPECT_EQ(nlohmann::json::parse(p.to_json())["peak"]["step"], -1);
}

nn::Sequential small_cnn() {
  return nn::Sequential(
      Shape{12, 12, 1},
      {nn::Conv2D({.filters = 4, .kernel_size = 3, .activation = "relu"}), nn::MaxPooling2D(),
       nn::Conv2D({.filters = 6, .kernel_size = 3, .padding = "same"}), nn::BatchNormalization(),
       nn::ReLU(), nn::Flatten(), nn::Dense({.units = 16, .activation = "relu"}),
       nn::Dense({.units = 4})});
}

// The arena's live bytes at step s, summed over the slots directly (no difference array).
std::vector<int64_t> brute_force_live(const graph::GraphMemoryPlan& plan, int32_t steps) {
  std::vector<int64_t> live(static_cast<size_t>(steps), 0);
  for (const memory::Buffer& b : plan.slots.slots) {
    for (int32_t s = 0; s < steps; ++s) {
      if (b.first_step <= s && s <= b.last_step) live[static_cast<size_t>(s)] += b.bytes;
    }
  }
  return live;
}

TEST(MemoryProfileTest, TimelineOfATrainingStepMatchesThePlanBuffers) {
  Trainer trainer(small_cnn(), {});
  runtime::Program& program = trainer.training_program(8);
  const MemoryProfile p = profile_memory(program, trainer.store().total_bytes(), "small");
  const graph::GraphMemoryPlan& plan = program.plan();
  const int32_t steps = program.graph().num_nodes();
  ASSERT_EQ(static_cast<int32_t>(p.steps.size()), steps);
  const std::vector<int64_t> live = brute_force_live(plan, steps);
  for (int32_t s = 0; s < steps; ++s) {
    EXPECT_EQ(p.steps[static_cast<size_t>(s)].live_bytes, live[static_cast<size_t>(s)])
        << "step " << s;
    EXPECT_EQ(p.steps[static_cast<size_t>(s)].scratch_bytes, program.scratch_bytes(s));
  }
  // The maximum is the planner's own largest live set, and the peak is its first step.
  EXPECT_EQ(p.peak_live_bytes, memory::peak_live_bytes(plan.slots.slots));
  EXPECT_EQ(p.peak_live_bytes, *std::max_element(live.begin(), live.end()));
  EXPECT_EQ(p.peak().live_bytes, p.peak_live_bytes);
  for (int32_t s = 0; s < p.peak_step; ++s) {
    EXPECT_LT(live[static_cast<size_t>(s)], p.peak_live_bytes) << "step " << s;
  }
  EXPECT_EQ(p.peak().node, program.graph().node(p.peak_step).name);
  EXPECT_LE(p.peak_live_bytes, p.arena_bytes);
  EXPECT_EQ(p.arena_bytes, program.arena_bytes());
  EXPECT_EQ(p.peak_bytes(), trainer.store().total_bytes() + program.arena_bytes());
  // What is live at the peak adds up to the peak, per tensor and per layer.
  int64_t tensors = 0, layers = 0;
  for (const LiveTensor& t : p.live_at_peak) {
    tensors += t.bytes;
    EXPECT_LE(t.first_step, p.peak_step);
    EXPECT_GE(t.last_step, p.peak_step);
  }
  for (const LayerProfile& l : p.layers) layers += l.live_at_peak_bytes;
  EXPECT_EQ(tensors, p.peak_live_bytes);
  EXPECT_EQ(layers, p.peak_live_bytes);
  for (size_t i = 1; i < p.live_at_peak.size(); ++i) {
    EXPECT_GE(p.live_at_peak[i - 1].bytes, p.live_at_peak[i].bytes);
  }
  // Phases follow the schedule: forward, loss, backward, update (nothing is recomputed).
  const std::map<graph::Phase, StepKind> kind = {{graph::Phase::kForward, StepKind::kForward},
                                                 {graph::Phase::kLoss, StepKind::kLoss},
                                                 {graph::Phase::kBackward, StepKind::kBackward},
                                                 {graph::Phase::kUpdate, StepKind::kUpdate}};
  for (int32_t s = 0; s < steps; ++s) {
    EXPECT_EQ(p.steps[static_cast<size_t>(s)].kind, kind.at(program.graph().node(s).phase))
        << "step " << s;
  }
}

TEST(MemoryProfileTest, KeptBytesPerLayerEqualTheTrainersLayerMemory) {
  Trainer trainer(small_cnn(), {});
  const auto expected = trainer.layer_memory(8);
  const MemoryReport report = trainer.plan(8);
  const MemoryProfile p =
      profile_memory(trainer.training_program(8), trainer.store().total_bytes());
  int64_t total = 0;
  for (const LayerProfile& l : p.layers) {
    total += l.kept_for_backward_bytes;
    EXPECT_EQ(l.recomputed_bytes, 0) << l.layer;
    if (l.layer == "(loss)") continue;  // the Trainer's table has no row for the loss
    const auto it = expected.find(l.layer);
    const int64_t want = it == expected.end() ? 0 : it->second.kept_for_backward_bytes;
    EXPECT_EQ(l.kept_for_backward_bytes, want) << l.layer;
  }
  for (const auto& [name, m] : expected) {
    if (m.kept_for_backward_bytes > 0) {
      EXPECT_NO_THROW(layer(p, name)) << name;
    }
  }
  EXPECT_EQ(total, report.kept_for_backward_bytes);
}

TEST(MemoryProfileTest, PersistentBytesPerLayerAddUpToTheStoresKinds) {
  Trainer trainer(small_cnn(), {.optimizer = SGD({.momentum = 0.9f})});
  const MemoryProfile p =
      profile_memory(trainer.training_program(4), trainer.store().total_bytes());
  int64_t parameters = 0, state = 0, gradients = 0, optimizer = 0;
  for (const LayerProfile& l : p.layers) {
    parameters += l.parameter_bytes;
    state += l.state_bytes;
    gradients += l.gradient_bytes;
    optimizer += l.optimizer_bytes;
  }
  const runtime::PersistentStore& store = trainer.store();
  EXPECT_EQ(parameters, store.bytes_of(ValueKind::kParameter));
  EXPECT_EQ(state, store.bytes_of(ValueKind::kState));
  EXPECT_EQ(gradients, store.bytes_of(ValueKind::kGradient));
  EXPECT_EQ(optimizer, store.bytes_of(ValueKind::kOptimizerState));
  // Conv2D 3x3x1x4 + 4 biases, f32: parameters, the same again as gradients and momentum.
  EXPECT_EQ(layer(p, "conv2d").parameter_bytes, (3 * 3 * 1 * 4 + 4) * 4);
  EXPECT_EQ(layer(p, "conv2d").optimizer_bytes, (3 * 3 * 1 * 4 + 4) * 4);
  EXPECT_EQ(layer(p, "batch_normalization").state_bytes, 2 * 6 * 4);
}

TEST(MemoryProfileTest, ReportsTableJsonAndTimelineAgree) {
  Trainer trainer(small_cnn(), {});
  const MemoryProfile p =
      profile_memory(trainer.training_program(8), trainer.store().total_bytes(), "small cnn");
  const std::string table = p.table();
  EXPECT_NE(table.find("Kept for backward"), std::string::npos) << table;
  EXPECT_NE(table.find("Recomputed"), std::string::npos) << table;
  EXPECT_NE(table.find("conv2d_1"), std::string::npos) << table;
  EXPECT_NE(table.find("Total"), std::string::npos) << table;

  const nlohmann::json j = nlohmann::json::parse(p.to_json());
  EXPECT_EQ(j["arena_bytes"].get<int64_t>(), p.arena_bytes);
  EXPECT_EQ(j["peak_live_bytes"].get<int64_t>(), p.peak_live_bytes);
  EXPECT_EQ(j["peak"]["step"].get<int32_t>(), p.peak_step);
  EXPECT_EQ(j["peak"]["node"].get<std::string>(), p.peak().node);
  ASSERT_EQ(j["steps"].size(), p.steps.size());
  int64_t max_live = 0;
  for (const auto& s : j["steps"]) max_live = std::max(max_live, s["live_bytes"].get<int64_t>());
  EXPECT_EQ(max_live, p.peak_live_bytes);
  EXPECT_EQ(j["layers"].size(), p.layers.size());

  const Chart c = p.timeline_chart(800);
  ASSERT_EQ(c.series.size(), 3u);
  EXPECT_EQ(c.series[0].y.size(), p.steps.size());
  EXPECT_EQ(c.series[0].y[static_cast<size_t>(p.peak_step)],
            static_cast<double>(p.persistent_bytes + p.peak_live_bytes));
  ASSERT_EQ(c.markers.size(), 1u);
  EXPECT_EQ(c.markers[0].x, p.peak_step);
  EXPECT_NE(c.markers[0].label.find(p.peak().op), std::string::npos);
  // The regions tile the steps, one per run of a phase, in order.
  ASSERT_FALSE(c.regions.empty());
  EXPECT_EQ(c.regions.front().x_low, -0.5);
  EXPECT_EQ(c.regions.back().x_high, static_cast<double>(p.steps.size()) - 0.5);
  for (size_t i = 1; i < c.regions.size(); ++i) {
    EXPECT_EQ(c.regions[i].x_low, c.regions[i - 1].x_high);
    EXPECT_NE(c.regions[i].label, c.regions[i - 1].label);
  }
  const std::string svg = to_svg(c);
  EXPECT_NE(svg.find("backward"), std::string::npos);
  EXPECT_NE(svg.find("peak "), std::string::npos);
}

// The chart features the memory profile added to plot.h (they belong with plot_test.cc's
// tests; kept here while that file is another engineer's).
TEST(PlotExtensionsTest, RegionsFillsDashesAndPointMarkersDraw) {
  Chart c;
  c.title = "t";
  c.x_label = "step";
  c.y_label = "live bytes";
  c.width = 700;
  c.series = {Series{.name = "filled", .x = {0, 1, 2}, .y = {1, 3, 2}, .fill = true},
              Series{.name = "dashed", .x = {0, 2}, .y = {4, 4}, .dashed = true}};
  c.regions = {Region{.x_low = -0.5, .x_high = 1.5, .label = "forward", .colour = 0},
               Region{.x_low = 1.5, .x_high = 2.5, .label = "backward", .colour = 2},
               Region{.x_low = 2.5, .x_high = 99, .label = "forward", .colour = 0}};
  c.markers = {Marker{.x = 1, .label = "peak", .y = 3}};
  const std::string svg = to_svg(c);
  EXPECT_NE(svg.find("width=\"700\""), std::string::npos);
  EXPECT_NE(svg.find("<polygon"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray=\"6 4\""), std::string::npos);
  EXPECT_NE(svg.find("<circle"), std::string::npos);
  // One legend entry per region label: "forward" appears once as legend text.
  size_t count = 0;
  for (size_t at = svg.find(">forward<"); at != std::string::npos;
       at = svg.find(">forward<", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u);
  // A region past the data does not widen the x axis (ticks stay within 0..2).
  EXPECT_EQ(svg.find(">99<"), std::string::npos);
  EXPECT_EQ(svg.find(">100<"), std::string::npos);
}

TEST(PlotExtensionsTest, BarChartsNeedOneValuePerCategory) {
  Chart c;
  c.title = "bars";
  c.y_label = "bytes";
  c.categories = {"a", "b"};
  c.series = {Series{.name = "one", .y = {1024, 2048}}, Series{.name = "two", .y = {512, 0}}};
  const std::string svg = to_svg(c);
  EXPECT_NE(svg.find(">a<"), std::string::npos);
  EXPECT_NE(svg.find(">b<"), std::string::npos);
  EXPECT_NE(svg.find("2 KB"), std::string::npos) << svg;
  c.series[1].y = {1};
  EXPECT_THROW(to_svg(c), Error);
  // Two panels of different widths side by side.
  Chart wide = c;
  wide.series[1].y = {1, 2};
  wide.width = 300;
  const std::vector<Chart> charts = {wide, wide};
  EXPECT_NE(to_svg(charts).find("width=\"600\""), std::string::npos);
}

}  // namespace
}  // namespace leantrain::train

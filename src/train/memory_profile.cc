#include "leantrain/train/memory_profile.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "leantrain/core/error.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/runtime/program.h"

namespace leantrain::train {
namespace {

using graph::NodeId;
using graph::ValueId;

// The row of values and nodes that belong to no layer: the loss and the metrics.
constexpr const char* kNoLayer = "(loss)";

std::string layer_name(const std::string& layer) { return layer.empty() ? kNoLayer : layer; }

StepKind kind_of(const graph::Node& node) {
  if (node.recomputed) return StepKind::kRecomputed;
  switch (node.phase) {
    case graph::Phase::kForward:
      return StepKind::kForward;
    case graph::Phase::kLoss:
      return StepKind::kLoss;
    case graph::Phase::kBackward:
      return StepKind::kBackward;
    case graph::Phase::kUpdate:
      return StepKind::kUpdate;
  }
  return StepKind::kForward;
}

// What a buffer holds: the first value planned in it, or the node whose scratch it is.
struct BufferOwner {
  ValueId value = graph::kNoValue;
  NodeId scratch_of = -1;
};

std::string what_of(const graph::Graph& g, const BufferOwner& owner) {
  if (owner.scratch_of >= 0) return "scratch";
  const graph::Value& v = g.value(owner.value);
  if (v.producer < 0) return "input";
  switch (kind_of(g.node(v.producer))) {
    case StepKind::kForward:
      return "activation";
    case StepKind::kLoss:
      return "loss";
    case StepKind::kBackward:
      return "gradient";
    case StepKind::kUpdate:
      return "update";
    case StepKind::kRecomputed:
      return "recomputed";
  }
  return "activation";
}

std::string iec(int64_t bytes) { return memory::format_iec_bytes(bytes); }

// A fixed-width row: the first column left-aligned, the others right-aligned.
std::string row(const std::vector<std::string>& cells, const std::vector<size_t>& widths) {
  std::string out;
  for (size_t i = 0; i < cells.size(); ++i) {
    const std::string& c = cells[i];
    const size_t pad = widths[i] > c.size() ? widths[i] - c.size() : 0;
    if (i == 0) {
      out += c + std::string(pad, ' ');
    } else {
      out += "  " + std::string(pad, ' ') + c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + "\n";
}

// The timeline: each step's node and live arena bytes, and the peak.
void profile_timeline(const graph::Graph& g, const graph::GraphMemoryPlan& plan,
                      std::span<const int64_t> scratch_bytes, MemoryProfile& p) {
  const auto nodes = static_cast<size_t>(g.num_nodes());
  const std::vector<memory::Buffer>& slots = plan.slots.slots;
  std::vector<int64_t> delta(nodes + 1, 0);
  for (const memory::Buffer& s : slots) {
    LT_CHECK(s.first_step >= 0 && s.last_step >= s.first_step &&
                 static_cast<size_t>(s.last_step) < nodes,
             kInvalidArgument, "slot '", s.name, "' is live over steps ", s.first_step, "..",
             s.last_step, " of a ", nodes, "-node schedule; profile the plan made from this graph");
    delta[static_cast<size_t>(s.first_step)] += s.bytes;
    delta[static_cast<size_t>(s.last_step) + 1] -= s.bytes;
  }
  p.steps.resize(nodes);
  int64_t live = 0;
  for (size_t n = 0; n < nodes; ++n) {
    const graph::Node& node = g.node(static_cast<NodeId>(n));
    live += delta[n];
    ProfileStep& step = p.steps[n];
    step.node = node.name;
    step.op = node.op ? node.op->type() : "";
    step.layer = layer_name(node.layer);
    step.kind = kind_of(node);
    step.live_bytes = live;
    step.scratch_bytes = scratch_bytes[n];
    if (p.peak_step < 0 || live > p.peak_live_bytes) {
      p.peak_step = static_cast<int32_t>(n);
      p.peak_live_bytes = live;
    }
  }
}

// The tensors live at the peak (per slot, the member live there that started last), largest
// first; returns their bytes per layer.
std::map<std::string, int64_t> profile_live_at_peak(const graph::Graph& g,
                                                    const graph::GraphMemoryPlan& plan,
                                                    MemoryProfile& p) {
  const auto nodes = static_cast<size_t>(g.num_nodes());
  const std::vector<memory::Buffer>& slots = plan.slots.slots;
  // Owners of buffers.
  std::vector<BufferOwner> owner(plan.buffers.size());
  for (ValueId v = 0; v < g.num_values(); ++v) {
    const int32_t b = plan.buffer_of_value[static_cast<size_t>(v)];
    if (b >= 0 && owner[static_cast<size_t>(b)].value == graph::kNoValue &&
        owner[static_cast<size_t>(b)].scratch_of < 0) {
      owner[static_cast<size_t>(b)].value = v;
    }
  }
  for (size_t n = 0; n < nodes; ++n) {
    const int32_t b = plan.scratch_buffer_of_node[n];
    if (b >= 0) owner[static_cast<size_t>(b)] = {graph::kNoValue, static_cast<NodeId>(n)};
  }
  const auto owner_layer = [&](const BufferOwner& o) {
    return layer_name(o.scratch_of >= 0 ? g.node(o.scratch_of).layer : g.value(o.value).layer);
  };

  // Live at the peak: per slot, the member live at the peak that started last.
  const int32_t peak = p.peak_step;
  std::vector<int32_t> member(slots.size(), -1);
  for (size_t b = 0; b < plan.buffers.size(); ++b) {
    const memory::Buffer& buf = plan.buffers[b];
    if (buf.first_step > peak || buf.last_step < peak) continue;
    int32_t& m = member[static_cast<size_t>(plan.slots.slot_of[b])];
    if (m < 0 || plan.buffers[static_cast<size_t>(m)].first_step <= buf.first_step) {
      m = static_cast<int32_t>(b);
    }
  }
  std::map<std::string, int64_t> live_at_peak;
  for (size_t s = 0; s < slots.size(); ++s) {
    if (member[s] < 0 || slots[s].bytes == 0) continue;
    const memory::Buffer& buf = plan.buffers[static_cast<size_t>(member[s])];
    const BufferOwner& o = owner[static_cast<size_t>(member[s])];
    LiveTensor t;
    t.name = buf.name;
    t.layer = owner_layer(o);
    t.what = what_of(g, o);
    t.bytes = slots[s].bytes;
    t.first_step = buf.first_step;
    t.last_step = buf.last_step;
    live_at_peak[t.layer] += t.bytes;
    p.live_at_peak.push_back(std::move(t));
  }
  std::stable_sort(p.live_at_peak.begin(), p.live_at_peak.end(),
                   [](const LiveTensor& a, const LiveTensor& b) { return a.bytes > b.bytes; });
  return live_at_peak;
}

// Per layer, in order of first appearance among nodes, then persistent values.
void profile_layers(const graph::Graph& g, const graph::GraphMemoryPlan& plan,
                    std::span<const int64_t> scratch_bytes,
                    const std::map<std::string, int64_t>& live_at_peak, MemoryProfile& p) {
  const auto nodes = static_cast<size_t>(g.num_nodes());
  std::map<std::string, size_t> index;
  const auto at = [&](const std::string& layer) -> LayerProfile& {
    auto [it, inserted] = index.emplace(layer, p.layers.size());
    if (inserted) p.layers.push_back(LayerProfile{.layer = layer});
    return p.layers[it->second];
  };
  for (size_t n = 0; n < nodes; ++n) {
    const graph::Node& node = g.node(static_cast<NodeId>(n));
    // The layers of the values a node reads come first: the input layer before the first layer.
    for (ValueId v : node.inputs) {
      if (!g.value(v).layer.empty()) at(g.value(v).layer);
    }
    LayerProfile& l = at(layer_name(node.layer));
    l.scratch_bytes = std::max(l.scratch_bytes, scratch_bytes[n]);
  }
  std::set<int32_t> recomputed;
  for (const graph::Node& node : g.nodes()) {
    if (!node.recomputed) continue;
    for (ValueId v : node.outputs) {
      const graph::Value& value = g.value(v);
      const int32_t b = plan.buffer_of_value[static_cast<size_t>(v)];
      if (b >= 0 && recomputed.insert(b).second) {
        at(layer_name(node.layer)).recomputed_bytes += value.spec.bytes();
      }
    }
  }
  for (const ValueId v : kept_for_backward(g, plan)) {
    at(layer_name(g.value(v).layer)).kept_for_backward_bytes += g.value(v).spec.bytes();
  }
  for (const graph::Value& v : g.values()) {
    if (!graph::is_persistent(v.kind)) continue;
    LayerProfile& l = at(layer_name(v.layer));
    const int64_t bytes = v.spec.bytes();
    switch (v.kind) {
      case graph::ValueKind::kParameter:
        l.parameter_bytes += bytes;
        break;
      case graph::ValueKind::kState:
        l.state_bytes += bytes;
        break;
      case graph::ValueKind::kGradient:
        l.gradient_bytes += bytes;
        break;
      case graph::ValueKind::kOptimizerState:
        l.optimizer_bytes += bytes;
        break;
      default:
        break;
    }
  }
  for (const auto& [layer, bytes] : live_at_peak) at(layer).live_at_peak_bytes += bytes;
}

}  // namespace

std::vector<ValueId> kept_for_backward(const graph::Graph& g, const graph::GraphMemoryPlan& plan) {
  std::set<int32_t> buffers;
  std::vector<ValueId> out;
  for (const graph::Node& node : g.nodes()) {
    if (node.phase != graph::Phase::kBackward && !node.recomputed) continue;
    for (ValueId v : node.inputs) {
      const graph::Value& value = g.value(v);
      const int32_t b = plan.buffer_of_value[static_cast<size_t>(v)];
      if (b < 0) continue;  // persistent
      const bool forward =
          value.producer < 0 || (g.node(value.producer).phase == graph::Phase::kForward &&
                                 !g.node(value.producer).recomputed);
      if (forward && buffers.insert(b).second) out.push_back(v);
    }
  }
  return out;
}

const char* step_kind_name(StepKind kind) {
  switch (kind) {
    case StepKind::kForward:
      return "forward";
    case StepKind::kLoss:
      return "loss";
    case StepKind::kBackward:
      return "backward";
    case StepKind::kUpdate:
      return "update";
    case StepKind::kRecomputed:
      return "recomputed";
  }
  return "?";
}

// The profile in four passes:
// - timeline: a difference array over the slots' [first_step, last_step] intervals, summed
//   into live bytes per step; the peak is the first step of the largest sum. O(slots + nodes).
// - live at the peak: every slot whose interval holds the peak, described by its member buffer
//   live there (a slot chains in-place buffers that touch at hand-over steps; the later one,
//   being written, names it). O(buffers + slots log slots).
// - per layer: kept for backward (one count per buffer, as Trainer::layer_memory), recomputed
//   (buffers written by recomputed nodes), scratch (max), live at the peak, and the persistent
//   values by kind. O(nodes + values).
MemoryProfile profile_memory(const graph::Graph& g, const graph::GraphMemoryPlan& plan,
                             std::span<const int64_t> scratch_bytes, int64_t persistent_bytes,
                             std::string title) {
  LT_CHECK(persistent_bytes >= 0, kInvalidArgument, "persistent_bytes must be >= 0, got ",
           persistent_bytes);
  const auto nodes = static_cast<size_t>(g.num_nodes());
  LT_CHECK(scratch_bytes.size() == nodes && plan.scratch_buffer_of_node.size() == nodes &&
               plan.buffer_of_value.size() == static_cast<size_t>(g.num_values()) &&
               plan.slots.slot_of.size() == plan.buffers.size(),
           kInvalidArgument, "the memory plan does not match the graph (", g.num_nodes(),
           " nodes, ", g.num_values(), " values; the plan has ", plan.scratch_buffer_of_node.size(),
           " nodes, ", plan.buffer_of_value.size(), " values, ", scratch_bytes.size(),
           " scratch sizes); profile the plan made from this graph");
  MemoryProfile p;
  p.title = std::move(title);
  p.persistent_bytes = persistent_bytes;
  p.arena_bytes = plan.arena_bytes();
  p.sum_of_buffers_bytes = plan.sum_of_buffers_bytes();
  if (nodes == 0) return p;

  profile_timeline(g, plan, scratch_bytes, p);
  const std::map<std::string, int64_t> live_at_peak = profile_live_at_peak(g, plan, p);
  profile_layers(g, plan, scratch_bytes, live_at_peak, p);
  return p;
}

MemoryProfile profile_memory(const runtime::Program& program, int64_t persistent_bytes,
                             std::string title) {
  const graph::Graph& g = program.graph();
  std::vector<int64_t> scratch(static_cast<size_t>(g.num_nodes()));
  for (NodeId n = 0; n < g.num_nodes(); ++n)
    scratch[static_cast<size_t>(n)] = program.scratch_bytes(n);
  return profile_memory(g, program.plan(), scratch, persistent_bytes, std::move(title));
}

std::string MemoryProfile::table() const {
  const std::vector<std::string> header = {"Layer",     "Kept for backward", "Recomputed",
                                           "Scratch",   "Live at peak",      "Weights",
                                           "Gradients", "Optimizer"};
  std::vector<std::vector<std::string>> rows;
  LayerProfile total{.layer = "Total"};
  for (const LayerProfile& l : layers) {
    rows.push_back({l.layer, iec(l.kept_for_backward_bytes), iec(l.recomputed_bytes),
                    iec(l.scratch_bytes), iec(l.live_at_peak_bytes),
                    iec(l.parameter_bytes + l.state_bytes), iec(l.gradient_bytes),
                    iec(l.optimizer_bytes)});
    total.kept_for_backward_bytes += l.kept_for_backward_bytes;
    total.recomputed_bytes += l.recomputed_bytes;
    total.scratch_bytes = std::max(total.scratch_bytes, l.scratch_bytes);
    total.live_at_peak_bytes += l.live_at_peak_bytes;
    total.parameter_bytes += l.parameter_bytes + l.state_bytes;
    total.gradient_bytes += l.gradient_bytes;
    total.optimizer_bytes += l.optimizer_bytes;
  }
  const std::vector<std::string> totals = {
      "Total (scratch: largest)", iec(total.kept_for_backward_bytes), iec(total.recomputed_bytes),
      iec(total.scratch_bytes),   iec(total.live_at_peak_bytes),      iec(total.parameter_bytes),
      iec(total.gradient_bytes),  iec(total.optimizer_bytes)};
  std::vector<size_t> widths(header.size());
  for (size_t i = 0; i < header.size(); ++i) {
    widths[i] = std::max(header[i].size(), totals[i].size());
    for (const auto& r : rows) widths[i] = std::max(widths[i], r[i].size());
  }
  size_t line_width = 0;
  for (size_t w : widths) line_width += w + 2;
  const std::string rule(line_width - 2, '-');
  std::string out;
  if (!title.empty()) out += "Memory profile: " + title + "\n";
  out += row(header, widths) + rule + "\n";
  for (const auto& r : rows) out += row(r, widths);
  out += rule + "\n" + row(totals, widths);
  return out;
}

std::string MemoryProfile::peak_line(int top) const {
  if (peak_step < 0) return "No steps: nothing is live.\n";
  const ProfileStep& s = peak();
  std::string out = "Peak " + iec(persistent_bytes + peak_live_bytes) + " at step " +
                    std::to_string(peak_step) + " of " + std::to_string(steps.size()) + " (" +
                    step_kind_name(s.kind) + " of " + s.layer + ": " + s.op + ", node " + s.node +
                    "): " + iec(peak_live_bytes) + " live in the arena + " + iec(persistent_bytes) +
                    " persistent. Planned arena " + iec(arena_bytes) + " (placement overhead " +
                    iec(arena_bytes - peak_live_bytes) + "); one training step holds " +
                    iec(peak_bytes()) + ".\n";
  if (!live_at_peak.empty() && top > 0) {
    out += "Live at the peak (largest first):";
    const size_t n = std::min(live_at_peak.size(), static_cast<size_t>(top));
    for (size_t i = 0; i < n; ++i) {
      const LiveTensor& t = live_at_peak[i];
      out += std::string(i ? ";" : "") + " " + t.name + " " + iec(t.bytes) + " (" + t.what +
             ", steps " + std::to_string(t.first_step) + ".." + std::to_string(t.last_step) + ")";
    }
    if (live_at_peak.size() > n) {
      out += "; and " + std::to_string(live_at_peak.size() - n) + " more";
    }
    out += "\n";
  }
  return out;
}

std::string MemoryProfile::to_json() const {
  nlohmann::ordered_json j;
  j["title"] = title;
  j["persistent_bytes"] = persistent_bytes;
  j["arena_bytes"] = arena_bytes;
  j["peak_live_bytes"] = peak_live_bytes;
  j["peak_bytes"] = peak_bytes();
  j["sum_of_buffers_bytes"] = sum_of_buffers_bytes;
  nlohmann::ordered_json peak_json;
  peak_json["step"] = peak_step;
  if (peak_step >= 0) {
    const ProfileStep& s = peak();
    peak_json["node"] = s.node;
    peak_json["op"] = s.op;
    peak_json["layer"] = s.layer;
    peak_json["phase"] = step_kind_name(s.kind);
    peak_json["live_bytes"] = s.live_bytes;
    peak_json["total_bytes"] = persistent_bytes + s.live_bytes;
  }
  peak_json["live"] = nlohmann::ordered_json::array();
  for (const LiveTensor& t : live_at_peak) {
    peak_json["live"].push_back({{"name", t.name},
                                 {"layer", t.layer},
                                 {"what", t.what},
                                 {"bytes", t.bytes},
                                 {"first_step", t.first_step},
                                 {"last_step", t.last_step}});
  }
  j["peak"] = peak_json;
  j["steps"] = nlohmann::ordered_json::array();
  for (const ProfileStep& s : steps) {
    j["steps"].push_back({{"node", s.node},
                          {"op", s.op},
                          {"layer", s.layer},
                          {"phase", step_kind_name(s.kind)},
                          {"live_bytes", s.live_bytes},
                          {"scratch_bytes", s.scratch_bytes}});
  }
  j["layers"] = nlohmann::ordered_json::array();
  for (const LayerProfile& l : layers) {
    j["layers"].push_back({{"layer", l.layer},
                           {"kept_for_backward_bytes", l.kept_for_backward_bytes},
                           {"recomputed_bytes", l.recomputed_bytes},
                           {"scratch_bytes", l.scratch_bytes},
                           {"live_at_peak_bytes", l.live_at_peak_bytes},
                           {"parameter_bytes", l.parameter_bytes},
                           {"state_bytes", l.state_bytes},
                           {"gradient_bytes", l.gradient_bytes},
                           {"optimizer_bytes", l.optimizer_bytes}});
  }
  return j.dump(1) + "\n";
}

Chart MemoryProfile::timeline_chart(double width) const {
  Chart c;
  c.title = "Memory across one training step" + (title.empty() ? "" : ": " + title);
  c.x_label = "step (node in schedule order)";
  c.y_label = "live bytes";
  c.y_from_zero = true;
  c.width = width;
  Series total{.name = "persistent + live arena", .fill = true};
  Series band{.name = "persistent", .fill = true};
  Series planned{.name = "persistent + planned arena", .dashed = true};
  const auto n = static_cast<double>(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    total.x.push_back(static_cast<double>(i));
    total.y.push_back(static_cast<double>(persistent_bytes + steps[i].live_bytes));
  }
  band.x = {0, std::max(n - 1, 0.0)};
  band.y = {static_cast<double>(persistent_bytes), static_cast<double>(persistent_bytes)};
  planned.x = band.x;
  planned.y = {static_cast<double>(peak_bytes()), static_cast<double>(peak_bytes())};
  c.series = {std::move(total), std::move(band), std::move(planned)};
  // Phases: one band per run of steps of one kind, each step covering [s - 0.5, s + 0.5].
  for (size_t i = 0; i < steps.size();) {
    size_t j = i;
    while (j < steps.size() && steps[j].kind == steps[i].kind) ++j;
    c.regions.push_back(Region{.x_low = static_cast<double>(i) - 0.5,
                               .x_high = static_cast<double>(j) - 0.5,
                               .label = step_kind_name(steps[i].kind),
                               .colour = static_cast<int>(steps[i].kind)});
    i = j;
  }
  if (peak_step >= 0) {
    const ProfileStep& s = peak();
    c.markers.push_back(Marker{.x = static_cast<double>(peak_step),
                               .label = "peak " + iec(persistent_bytes + peak_live_bytes) + ": " +
                                        step_kind_name(s.kind) + " of " + s.layer + " (" + s.op +
                                        ")",
                               .y = static_cast<double>(persistent_bytes + peak_live_bytes)});
  }
  return c;
}

}  // namespace leantrain::train

// The bf16 storage rewrite: which kept activations to convert, the rewritten graph, and what the
// arena planner says it saves.
#include "leantrain/passes/bf16_storage.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "ops/cast.h"

namespace leantrain::passes {
namespace {

using graph::Graph;
using graph::Node;
using graph::NodeId;
using graph::Phase;
using graph::Value;
using graph::ValueId;

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// True when a view of `v` (through any chain of views) is read by a backward node.
bool view_read_in_backward(const Graph& g, const std::vector<std::vector<NodeId>>& readers,
                           ValueId v) {
  for (NodeId r : readers[static_cast<size_t>(v)]) {
    const Node& node = g.node(r);
    if (!node.op->aliases_input() || node.inputs.empty() || node.inputs[0] != v) continue;
    for (ValueId out : node.outputs) {
      for (NodeId rr : readers[static_cast<size_t>(out)]) {
        if (g.node(rr).phase == Phase::kBackward) return true;
      }
      if (view_read_in_backward(g, readers, out)) return true;
    }
  }
  return false;
}

}  // namespace

int64_t Bf16StoragePlan::converted_values() const {
  return std::count_if(entries.begin(), entries.end(),
                       [](const Bf16StorageEntry& e) { return e.converted; });
}

int64_t Bf16StoragePlan::converted_f32_bytes() const {
  int64_t bytes = 0;
  for (const Bf16StorageEntry& e : entries) bytes += e.converted ? e.f32_bytes : 0;
  return bytes;
}

std::string Bf16StoragePlan::to_string() const {
  std::string out;
  int64_t kept = 0;
  for (const Bf16StorageEntry& e : entries) {
    kept += e.f32_bytes;
    out += e.name + " " + std::to_string(e.f32_bytes) +
           (e.converted ? (e.center_mean != graph::kNoValue ? " bf16 (centered)\n" : " bf16\n")
                        : " f32: " + e.skipped_because + "\n");
  }
  out += "bf16 storage: " + std::to_string(converted_values()) + " of " +
         std::to_string(entries.size()) + " kept values, kept bytes " + std::to_string(kept) +
         " -> " + std::to_string(kept - converted_f32_bytes() / 2) + "\n";
  return out;
}

Bf16StoragePlan plan_bf16_storage(const Graph& g, const Bf16StorageOptions& options) {
  LT_CHECK(options.min_bytes >= 0, kInvalidArgument, "bf16 storage: min_bytes is ",
           options.min_bytes, "; it must be >= 0");
  const std::vector<std::vector<NodeId>> readers = graph::value_readers(g);
  Bf16StoragePlan plan;
  for (ValueId v = 0; v < g.num_values(); ++v) {
    const Value& value = g.value(v);
    if (value.kind != graph::ValueKind::kActivation || value.spec.dtype != DType::kF32 ||
        value.producer < 0) {
      continue;
    }
    const Node& producer = g.node(value.producer);
    if (producer.phase != Phase::kForward || producer.recomputed) continue;
    Bf16StorageEntry e;
    for (NodeId r : readers[static_cast<size_t>(v)]) {
      if (g.node(r).phase == Phase::kBackward) e.backward_readers.push_back(r);
    }
    const bool via_view = view_read_in_backward(g, readers, v);
    if (e.backward_readers.empty() && !via_view) continue;  // not kept for backward

    e.value = v;
    e.name = value.name;
    e.f32_bytes = value.spec.bytes();
    const auto skip = [&](std::string why) { e.skipped_because = std::move(why); };
    if (value.is_output) {
      skip("the host reads it after the step (a graph output)");
    } else if (producer.op->aliases_input()) {
      skip("a view of another value's bytes (" + producer.op->type() + ")");
    } else if (via_view) {
      skip("a backward node reads a view of it, which keeps its bytes live");
    } else if (e.backward_readers.empty()) {
      skip("no backward node reads it directly");
    } else if (e.f32_bytes < options.min_bytes) {
      skip("smaller than min_bytes (" + std::to_string(options.min_bytes) + ")");
    }
    const NodeId first_backward = e.backward_readers.empty() ? -1 : e.backward_readers.front();
    for (NodeId r : readers[static_cast<size_t>(v)]) {
      if (!e.skipped_because.empty()) break;
      const Node& reader = g.node(r);
      if (reader.phase == Phase::kLoss || reader.phase == Phase::kUpdate) {
        skip(std::string("the ") + graph::phase_name(reader.phase) + " node '" + reader.name +
             "' reads it");
      } else if (reader.phase == Phase::kForward && r > first_backward) {
        skip("the forward node '" + reader.name + "' reads it after backward has begun");
      } else if (reader.phase == Phase::kBackward &&
                 contains(options.skip_reader_types, reader.op->type())) {
        skip(reader.op->type() + " '" + reader.name + "' reads it and must see it exactly");
      } else if (reader.phase == Phase::kBackward && !options.only_reader_types.empty() &&
                 !contains(options.only_reader_types, reader.op->type())) {
        skip(reader.op->type() + " '" + reader.name + "' is not among only_reader_types");
      } else if (reader.phase == Phase::kBackward && options.center_batch_norm_inputs &&
                 reader.op->type() == "BatchNormalizationBackward") {
        // Centered on the batch mean of the normalization whose input it is.
        const NodeId f = reader.forward_of;
        const bool is_input = f >= 0 && g.node(f).op->type() == "BatchNormalization" &&
                              !g.node(f).inputs.empty() && g.node(f).inputs[0] == v &&
                              g.node(f).outputs.size() >= 2 && f < first_backward;
        const ValueId mean = is_input ? g.node(f).outputs[1] : graph::kNoValue;
        if (mean == graph::kNoValue ||
            (e.center_mean != graph::kNoValue && e.center_mean != mean)) {
          skip(reader.op->type() + " '" + reader.name +
               "' reads it, but not as the input of one training-mode normalization to center on");
        } else {
          e.center_mean = mean;
          e.cast_after = f;
        }
      }
    }
    if (!e.skipped_because.empty()) {
      e.center_mean = graph::kNoValue;
      e.cast_after = -1;
    }
    e.converted = e.skipped_because.empty();
    plan.entries.push_back(std::move(e));
  }
  return plan;
}

// - One pass over the original nodes in order. Before node n: a CastToF32 for each converted
//   value whose first backward reader is n. Node n itself, its converted inputs mapped to their
//   f32 copies when it is a backward node. After it: a CastToBF16 for each converted output.
// - Values without a producer are added where they stood among the node outputs.
// - Nodes are copied with graph::copy_node (their outputs keep the original names); cast names
//   avoid every original value name. O(nodes + edges).
Graph store_kept_in_bf16(const Graph& g, const Bf16StorageOptions& options) {
  const Bf16StoragePlan plan = plan_bf16_storage(g, options);
  const size_t num_values = static_cast<size_t>(g.num_values());
  const size_t num_nodes = static_cast<size_t>(g.num_nodes());
  std::vector<bool> converted(num_values, false);
  std::vector<ValueId> center_mean(num_values, graph::kNoValue);
  std::vector<std::vector<ValueId>> f32_casts_before(num_nodes);
  std::vector<std::vector<ValueId>> bf16_casts_after(num_nodes);
  for (const Bf16StorageEntry& e : plan.entries) {
    if (!e.converted) continue;
    converted[static_cast<size_t>(e.value)] = true;
    center_mean[static_cast<size_t>(e.value)] = e.center_mean;
    f32_casts_before[static_cast<size_t>(e.backward_readers.front())].push_back(e.value);
    const NodeId after = e.cast_after >= 0 ? e.cast_after : g.value(e.value).producer;
    bf16_casts_after[static_cast<size_t>(after)].push_back(e.value);
  }
  // New node ids, so that forward_of can be mapped before the node it names is added.
  std::vector<NodeId> new_id(num_nodes, -1);
  NodeId next = 0;
  for (size_t n = 0; n < num_nodes; ++n) {
    next += static_cast<NodeId>(f32_casts_before[n].size());
    new_id[n] = next++;
    next += static_cast<NodeId>(bf16_casts_after[n].size());
  }
  const auto map_node = [&](NodeId n) {
    return n < 0 ? NodeId{-1} : new_id.at(static_cast<size_t>(n));
  };

  std::set<std::string> taken;
  for (const Value& v : g.values()) taken.insert(v.name);
  const auto fresh = [&](const std::string& base) {
    std::string name = base;
    for (int i = 1; taken.contains(name); ++i) name = base + "_" + std::to_string(i);
    taken.insert(name);
    return name;
  };

  Graph out;
  std::vector<ValueId> current(num_values, graph::kNoValue);  // original value -> out value
  std::vector<ValueId> bf16_copy(num_values, graph::kNoValue);
  std::vector<ValueId> f32_copy(num_values, graph::kNoValue);
  // A cast's inputs: `x`, and for a centered value the mean it is stored relative to.
  const auto with_mean = [&](ValueId x, ValueId mean) {
    return mean == graph::kNoValue ? std::vector<ValueId>{x}
                                   : std::vector<ValueId>{x, current[static_cast<size_t>(mean)]};
  };
  // Producer-less values (inputs, persistent values) in their original places among the node
  // outputs, so that a graph with nothing to convert keeps its value ids.
  ValueId next_free = 0;
  const auto add_free_values_below = [&](ValueId end) {
    for (; next_free < end; ++next_free) {
      if (g.value(next_free).producer < 0) {
        current[static_cast<size_t>(next_free)] = graph::copy_value(g, next_free, out);
      }
    }
  };
  for (NodeId n = 0; n < g.num_nodes(); ++n) {
    const Node& node = g.node(n);
    // A node reads only values that existed before it was added, so below its first output.
    if (!node.outputs.empty()) {
      add_free_values_below(*std::min_element(node.outputs.begin(), node.outputs.end()));
    } else if (!node.inputs.empty()) {
      add_free_values_below(*std::max_element(node.inputs.begin(), node.inputs.end()) + 1);
    }
    for (ValueId v : f32_casts_before[static_cast<size_t>(n)]) {
      const Value& value = g.value(v);
      const ValueId mean = center_mean[static_cast<size_t>(v)];
      f32_copy[static_cast<size_t>(v)] =
          out.add(mean == graph::kNoValue ? ops::cast_to_f32() : ops::cast_to_f32_centered(),
                  with_mean(bf16_copy[static_cast<size_t>(v)], mean), fresh(value.name + "/f32"),
                  Phase::kBackward, value.layer, map_node(node.forward_of));
    }
    std::vector<ValueId> inputs;
    for (ValueId in : node.inputs) {
      const size_t i = static_cast<size_t>(in);
      const bool use_copy = node.phase == Phase::kBackward && converted[i];
      const ValueId mapped = use_copy ? f32_copy[i] : current[i];
      LT_CHECK(mapped != graph::kNoValue, kInvalidArgument, "bf16 storage: '", node.name,
               "' reads '", g.value(in).name,
               "' before any node writes it; the graph's nodes are not in schedule order");
      inputs.push_back(mapped);
    }
    const std::vector<ValueId> outs =
        graph::copy_node(g, n, out, std::move(inputs), map_node(node.forward_of));
    LT_ASSERT(out.num_nodes() - 1 == new_id[static_cast<size_t>(n)]);
    for (size_t i = 0; i < outs.size(); ++i)
      current[static_cast<size_t>(node.outputs[i])] = outs[i];
    for (ValueId v : bf16_casts_after[static_cast<size_t>(n)]) {
      const Value& value = g.value(v);
      const ValueId mean = center_mean[static_cast<size_t>(v)];
      bf16_copy[static_cast<size_t>(v)] =
          out.add(mean == graph::kNoValue ? ops::cast_to_bf16() : ops::cast_to_bf16_centered(),
                  with_mean(current[static_cast<size_t>(v)], mean), fresh(value.name + "/bf16"),
                  Phase::kForward, value.layer);
    }
  }
  add_free_values_below(g.num_values());
  return out;
}

Bf16StorageSavings bf16_storage_savings(const Graph& g,
                                        const std::function<int64_t(const Graph&)>& arena_bytes,
                                        const Bf16StorageOptions& options) {
  const Bf16StoragePlan plan = plan_bf16_storage(g, options);
  Bf16StorageSavings s;
  s.converted_values = plan.converted_values();
  s.converted_f32_bytes = plan.converted_f32_bytes();
  s.arena_bytes_before = arena_bytes(g);
  s.arena_bytes_after = arena_bytes(store_kept_in_bf16(g, options));
  return s;
}

}  // namespace leantrain::passes

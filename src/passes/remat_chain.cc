// A training graph's forward part as a chain of stages (cut at articulation points of the
// forward dataflow), with each stage's costs, kept bytes and temporary peaks.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "leantrain/core/error.h"
#include "leantrain/passes/remat.h"

namespace leantrain::passes {

using graph::Graph;
using graph::is_persistent;
using graph::kNoValue;
using graph::Node;
using graph::NodeId;
using graph::Phase;
using graph::Value;
using graph::value_readers;
using graph::ValueId;

namespace {

constexpr int32_t kEnd = std::numeric_limits<int32_t>::max();  // lives past the last node

int64_t bytes_of(const Value& v) { return v.spec.shape.num_elements() * dtype_size(v.spec.dtype); }

bool is_forward_like(Phase p) { return p == Phase::kForward || p == Phase::kLoss; }

// Facts about the whole graph that every stage needs.
struct Facts {
  const Graph* g = nullptr;
  std::vector<ValueId> root;                 // per value: its storage (a view shares its source's)
  std::vector<std::vector<NodeId>> readers;  // per value, in node order (value_readers)
  std::vector<NodeId> last_reader_of_root;   // per root: the last node reading any of its values
  std::vector<bool> kept_root;               // per root: some backward node reads it
  std::vector<int32_t> stage_of_node;        // -1 for update nodes

  const Value& value(ValueId v) const { return g->value(v); }
  bool local(ValueId v) const { return !is_persistent(value(v).kind); }
};

Facts graph_facts(const Graph& g) {
  Facts f;
  f.g = &g;
  const size_t nv = static_cast<size_t>(g.num_values());
  f.root.resize(nv);
  for (size_t v = 0; v < nv; ++v) f.root[v] = static_cast<ValueId>(v);
  f.readers = value_readers(g);
  f.last_reader_of_root.assign(nv, -1);
  f.kept_root.assign(nv, false);
  for (NodeId n = 0; n < g.num_nodes(); ++n) {
    const Node& node = g.node(n);
    if (node.op->aliases_input() && !node.outputs.empty() && !node.inputs.empty()) {
      f.root[static_cast<size_t>(node.outputs[0])] = f.root[static_cast<size_t>(node.inputs[0])];
    }
    for (ValueId in : node.inputs) {
      const size_t r = static_cast<size_t>(f.root[static_cast<size_t>(in)]);
      f.last_reader_of_root[r] = std::max(f.last_reader_of_root[r], n);
      if (node.phase == Phase::kBackward) f.kept_root[r] = true;
    }
  }
  return f;
}

// A storage written outside the nodes stage_peak() runs and live when they start: its bytes and
// the node after which it dies (-1: it outlives them).
struct ExternalStorage {
  int64_t bytes = 0;
  NodeId dies_after = -1;
};

// Peak bytes of the storages the nodes of one stage write, running `nodes` in order with the
// planner's rules: a value lives from its writer to its last reader among `nodes` (to the end
// when `survives`), a view shares its source's storage, an op with an in-place input writes over
// it when it dies at that op. Storages written outside `nodes` are "external": counted by the
// caller, except those in `externals`, which count from the start until they die; an in-place op
// may write over an external storage only when `may_take_external` says so.
template <typename Survives, typename MayTakeExternal>
int64_t stage_peak(const Facts& f, const std::vector<NodeId>& nodes, const Survives& survives,
                   const MayTakeExternal& may_take_external,
                   const std::vector<ExternalStorage>& externals = {}) {
  const Graph& g = *f.g;
  std::vector<int32_t> pos_of(static_cast<size_t>(g.num_nodes()), -1);
  for (size_t p = 0; p < nodes.size(); ++p)
    pos_of[static_cast<size_t>(nodes[p])] = static_cast<int32_t>(p);
  // End of each value written here.
  const auto end_of = [&](ValueId v, int32_t written_at) {
    if (survives(v)) return kEnd;
    int32_t end = written_at;
    for (NodeId r : f.readers[static_cast<size_t>(v)]) {
      const int32_t p = pos_of[static_cast<size_t>(r)];
      if (p >= 0) end = std::max(end, p);
    }
    return end;
  };
  std::vector<int32_t> storage_of(static_cast<size_t>(g.num_values()), -1);  // -1: external
  std::vector<int64_t> storage_bytes;
  std::vector<int32_t> storage_end;
  int64_t live = 0, peak = 0;
  for (const ExternalStorage& e : externals) live += e.bytes;
  for (size_t p = 0; p < nodes.size(); ++p) {
    const Node& node = g.node(nodes[p]);
    const int32_t here = static_cast<int32_t>(p);
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const ValueId out = node.outputs[i];
      if (!f.local(out)) continue;
      int32_t sid = -1;
      bool external = false;
      if (i == 0 && node.op->aliases_input() && !node.inputs.empty()) {
        sid = storage_of[static_cast<size_t>(node.inputs[0])];
        external = sid < 0;
      } else if (const int j = node.op->inplace_input();
                 i == 0 && j >= 0 && static_cast<size_t>(j) < node.inputs.size()) {
        const ValueId src = node.inputs[static_cast<size_t>(j)];
        const int32_t src_sid = storage_of[static_cast<size_t>(src)];
        if (src_sid >= 0 && storage_end[static_cast<size_t>(src_sid)] == here) {
          sid = src_sid;
        } else if (src_sid < 0 && f.local(src) && may_take_external(src, nodes[p])) {
          external = true;
        }
      }
      if (sid < 0 && !external) {
        sid = static_cast<int32_t>(storage_bytes.size());
        storage_bytes.push_back(bytes_of(f.value(out)));
        storage_end.push_back(here);
        live += storage_bytes.back();
      }
      if (sid >= 0) {
        storage_of[static_cast<size_t>(out)] = sid;
        int32_t& end = storage_end[static_cast<size_t>(sid)];
        end = std::max(end, end_of(out, here));
      }
    }
    peak = std::max(peak, live);
    for (size_t s = 0; s < storage_end.size(); ++s) {
      if (storage_end[s] == here) live -= storage_bytes[s];
    }
    for (const ExternalStorage& e : externals) {
      if (e.dies_after == nodes[p]) live -= e.bytes;
    }
  }
  return peak;
}

std::string layer_or_name(const Node& node) { return node.layer.empty() ? node.name : node.layer; }

std::string stage_name(const Graph& g, const std::vector<NodeId>& nodes) {
  const std::string first = layer_or_name(g.node(nodes.front()));
  const std::string last = layer_or_name(g.node(nodes.back()));
  return first == last ? first : first + ".." + last;
}

// Per-element factors of the ops estimate_node_flops does not count as multiply-adds.
double elementwise_factor(const std::string& type) {
  if (type == "BatchNormalization") return 8;
  if (type == "BatchNormalizationBackward") return 12;
  static const std::set<std::string> kTranscendental = {"Sigmoid",
                                                        "Tanh",
                                                        "Swish",
                                                        "Softmax",
                                                        "SigmoidBackward",
                                                        "TanhBackward",
                                                        "SwishBackward",
                                                        "SoftmaxBackward",
                                                        "SoftmaxCrossEntropy",
                                                        "SoftmaxCrossEntropyBackward"};
  return kTranscendental.contains(type) ? 4 : 1;
}

}  // namespace

double estimate_node_flops(const Graph& g, NodeId n) {
  const Node& node = g.node(n);
  const std::string type = node.op->type();
  const auto shape = [&](ValueId v) -> const Shape& { return g.value(v).spec.shape; };
  const auto elems = [&](ValueId v) { return static_cast<double>(shape(v).num_elements()); };
  const auto window = [&](const Shape& w, bool depthwise) {
    return static_cast<double>(w[0] * w[1] * (depthwise ? 1 : w[2]));
  };
  const bool depthwise = type.starts_with("Depthwise");
  if (type == "Conv2D" || type == "DepthwiseConv2D") {  // (src, kernel[, bias]) -> dst
    const double out = elems(node.outputs[0]);
    return 2 * out * window(shape(node.inputs[1]), depthwise) + (node.inputs.size() == 3 ? out : 0);
  }
  if (type == "Conv2DBackwardData" || type == "DepthwiseConv2DBackwardData") {  // (dy, kernel)
    return 2 * elems(node.inputs[0]) * window(shape(node.inputs[1]), depthwise);
  }
  if (type == "Conv2DBackwardWeights" || type == "DepthwiseConv2DBackwardWeights") {
    // (src, dy) -> (dkernel[, dbias])
    const double dy = elems(node.inputs[1]);
    return 2 * dy * window(shape(node.outputs[0]), depthwise) + (node.outputs.size() == 2 ? dy : 0);
  }
  if (type == "Dense") {  // (src (N, IN), kernel (IN, OUT)[, bias]) -> (N, OUT)
    const double out = elems(node.outputs[0]);
    return 2 * out * static_cast<double>(shape(node.inputs[1])[0]) +
           (node.inputs.size() == 3 ? out : 0);
  }
  if (type == "DenseBackwardData") {  // (dy (N, OUT), kernel (IN, OUT)) -> (N, IN)
    return 2 * elems(node.inputs[0]) * static_cast<double>(shape(node.inputs[1])[0]);
  }
  if (type == "DenseBackwardWeights") {  // (src (N, IN), dy (N, OUT)) -> (dkernel[, dbias])
    const double dy = elems(node.inputs[1]);
    return 2 * dy * static_cast<double>(shape(node.inputs[0])[1]) +
           (node.outputs.size() == 2 ? dy : 0);
  }
  if (node.op->aliases_input()) return 0;
  double largest = 0;
  for (ValueId v : node.inputs) largest = std::max(largest, elems(v));
  for (ValueId v : node.outputs) largest = std::max(largest, elems(v));
  return elementwise_factor(type) * largest;
}

namespace {

// The forward, loss and backward nodes of a training graph, each in node order.
struct PhaseNodes {
  std::vector<NodeId> forward, loss, backward;
};

// A cut: a stage ends with the forward node at `last_position` (an index into
// PhaseNodes::forward) and hands `output` to the next.
struct Cut {
  int32_t last_position = 0;
  ValueId output = kNoValue;
};

void check_node_seconds(const Graph& g, const ChainOptions& options) {
  if (options.node_seconds.empty()) return;
  LT_CHECK(static_cast<int32_t>(options.node_seconds.size()) == g.num_nodes(), kInvalidArgument,
           "extract_chain: node_seconds has ", options.node_seconds.size(),
           " entries; the graph has ", g.num_nodes(), " nodes (pass one per node, or none)");
  for (size_t i = 0; i < options.node_seconds.size(); ++i) {
    LT_CHECK(std::isfinite(options.node_seconds[i]) && options.node_seconds[i] >= 0,
             kInvalidArgument, "extract_chain: node_seconds[", i, "] ('",
             g.node(static_cast<NodeId>(i)).name, "') is ", options.node_seconds[i],
             "; times must be finite and >= 0");
  }
}

PhaseNodes nodes_by_phase(const Graph& g) {
  PhaseNodes p;
  for (NodeId n = 0; n < g.num_nodes(); ++n) {
    switch (g.node(n).phase) {
      case Phase::kForward:
        p.forward.push_back(n);
        break;
      case Phase::kLoss:
        p.loss.push_back(n);
        break;
      case Phase::kBackward:
        p.backward.push_back(n);
        break;
      case Phase::kUpdate:
        break;
    }
  }
  LT_CHECK(!p.forward.empty() && !p.loss.empty() && !p.backward.empty(), kInvalidArgument,
           "extract_chain: the graph has ", p.forward.size(), " forward, ", p.loss.size(),
           " loss and ", p.backward.size(),
           " backward nodes; it needs all three (build the model, add a loss, then add_backward)");
  return p;
}

// The cuts of the forward part, in order (the rules above extract_chain in remat.h); the last
// one hands the loss its input. Throws Error(kUnimplemented) naming the tensors when the forward
// part hands the loss more than one.
std::vector<Cut> find_cuts(const Facts& f, const PhaseNodes& p) {
  const Graph& g = *f.g;
  const std::vector<NodeId>& fwd = p.forward;
  const int32_t F = static_cast<int32_t>(fwd.size());
  // Position of each forward node; loss nodes all sit at F.
  std::vector<int32_t> pos(static_cast<size_t>(g.num_nodes()), -1);
  for (int32_t k = 0; k < F; ++k) pos[static_cast<size_t>(fwd[static_cast<size_t>(k)])] = k;
  for (NodeId n : p.loss) pos[static_cast<size_t>(n)] = F;

  // Live-across counts: count[k] = forward-written values written at or before k that a forward
  // or loss node after k reads (graph inputs are held all step and do not count).
  std::vector<int32_t> last_read(static_cast<size_t>(g.num_values()), -1);
  std::vector<int32_t> delta(static_cast<size_t>(F) + 1, 0);
  for (int32_t k = 0; k < F; ++k) {
    for (ValueId v : g.node(fwd[static_cast<size_t>(k)]).outputs) {
      if (!f.local(v)) continue;
      int32_t last = -1;
      for (NodeId r : f.readers[static_cast<size_t>(v)])
        last = std::max(last, pos[static_cast<size_t>(r)]);
      last_read[static_cast<size_t>(v)] = last;
      if (last > k) {
        ++delta[static_cast<size_t>(k)];
        --delta[static_cast<size_t>(last)];
      }
    }
  }
  // Articulation points: exactly one value live across k, written at k.
  std::vector<Cut> cuts;
  int32_t count = 0;
  for (int32_t k = 0; k < F; ++k) {
    count += delta[static_cast<size_t>(k)];
    const Node& node = g.node(fwd[static_cast<size_t>(k)]);
    std::vector<ValueId> crossing;
    for (ValueId v : node.outputs) {
      if (f.local(v) && last_read[static_cast<size_t>(v)] > k) crossing.push_back(v);
    }
    const bool articulation = count == 1 && crossing.size() == 1;
    if (k == F - 1) {
      if (!articulation) {
        std::string names;
        for (int32_t j = 0; j < F; ++j) {
          for (ValueId v : g.node(fwd[static_cast<size_t>(j)]).outputs) {
            if (f.local(v) && last_read[static_cast<size_t>(v)] == F) {
              names += (names.empty() ? "'" : ", '") + g.value(v).name + "'";
            }
          }
        }
        throw Error(ErrorCode::kUnimplemented,
                    "extract_chain: the forward part hands the loss " + std::to_string(count) +
                        " tensors (" + names +
                        "); rematerialization by chains needs exactly one (a single-output model)");
      }
      // The loss's input may be a view (a Reshape to logits): its stage starts before the
      // tensor it views, so the stage owns the storage.
      const NodeId writer = g.value(f.root[static_cast<size_t>(crossing[0])]).producer;
      const int32_t first = writer >= 0 ? pos[static_cast<size_t>(writer)] : -1;
      while (!cuts.empty() && cuts.back().last_position >= first) cuts.pop_back();
      cuts.push_back({k, crossing[0]});
      break;
    }
    if (!articulation) continue;
    const ValueId v = crossing[0];
    const ValueId r = f.root[static_cast<size_t>(v)];
    const NodeId root_writer = g.value(r).producer;
    const int32_t previous = cuts.empty() ? -1 : cuts.back().last_position;
    const bool own_storage = root_writer >= 0 && pos[static_cast<size_t>(root_writer)] > previous &&
                             pos[static_cast<size_t>(root_writer)] < F;
    if (own_storage && f.kept_root[static_cast<size_t>(r)]) cuts.push_back({k, v});
  }
  return cuts;
}

// The stages' forward nodes and outputs (one stage per cut, then the loss stage), with each
// forward and loss node's stage recorded in f.stage_of_node.
std::vector<ChainStage> forward_stages(Facts& f, const PhaseNodes& p,
                                       const std::vector<Cut>& cuts) {
  std::vector<ChainStage> stages;
  f.stage_of_node.assign(static_cast<size_t>(f.g->num_nodes()), -1);
  int32_t begin = 0;
  for (const auto& [k, v] : cuts) {
    ChainStage stage;
    for (int32_t j = begin; j <= k; ++j) {
      stage.forward_nodes.push_back(p.forward[static_cast<size_t>(j)]);
      f.stage_of_node[static_cast<size_t>(p.forward[static_cast<size_t>(j)])] =
          static_cast<int32_t>(stages.size());
    }
    stage.output = v;
    stages.push_back(std::move(stage));
    begin = k + 1;
  }
  ChainStage loss;
  loss.forward_nodes = p.loss;
  for (NodeId n : p.loss)
    f.stage_of_node[static_cast<size_t>(n)] = static_cast<int32_t>(stages.size());
  stages.push_back(std::move(loss));
  return stages;
}

// Backward nodes: the stage of their forward node, or an earlier one whose gradient they read.
void assign_backward_nodes(Facts& f, const std::vector<NodeId>& backward,
                           std::vector<ChainStage>& stages) {
  const Graph& g = *f.g;
  for (NodeId b : backward) {
    const Node& node = g.node(b);
    LT_CHECK(node.forward_of >= 0 && node.forward_of < g.num_nodes() &&
                 f.stage_of_node[static_cast<size_t>(node.forward_of)] >= 0 &&
                 is_forward_like(g.node(node.forward_of).phase),
             kUnimplemented, "extract_chain: backward node '", node.name,
             "' is not tied to a forward or loss node (forward_of = ", node.forward_of, ")");
    int32_t stage = f.stage_of_node[static_cast<size_t>(node.forward_of)];
    for (ValueId in : node.inputs) {
      const NodeId p = g.value(in).producer;
      if (p >= 0 && f.local(in) && g.node(p).phase == Phase::kBackward) {
        stage = std::min(stage, f.stage_of_node[static_cast<size_t>(p)]);
      }
    }
    f.stage_of_node[static_cast<size_t>(b)] = stage;
    stages[static_cast<size_t>(stage)].backward_nodes.push_back(b);
  }
}

// Stage of the writer of v's storage (-1: a graph input or persistent).
int32_t writer_stage(const Facts& f, ValueId v) {
  const NodeId p = f.g->value(f.root[static_cast<size_t>(v)]).producer;
  return p < 0 ? -1 : f.stage_of_node[static_cast<size_t>(p)];
}

// The storage of stage s's output (kNoValue for the loss stage).
ValueId output_root(const Facts& f, const Chain& chain, int32_t s) {
  const ValueId out = chain.stages[static_cast<size_t>(s)].output;
  return out == kNoValue ? kNoValue : f.root[static_cast<size_t>(out)];
}

// A backward node may read forward tensors of its own stage and its stage's input only.
void check_backward_reads(const Facts& f, const std::vector<NodeId>& backward, const Chain& chain) {
  const Graph& g = *f.g;
  for (NodeId b : backward) {
    const int32_t q = f.stage_of_node[static_cast<size_t>(b)];
    for (ValueId in : g.node(b).inputs) {
      if (!f.local(in)) continue;
      const NodeId p = g.value(f.root[static_cast<size_t>(in)]).producer;
      if (p < 0 || !is_forward_like(g.node(p).phase)) continue;
      const int32_t s = writer_stage(f, in);
      const bool own = s == q;
      const bool input = s + 1 == q && f.root[static_cast<size_t>(in)] == output_root(f, chain, s);
      LT_CHECK(own || input, kUnimplemented, "extract_chain: backward node '", g.node(b).name,
               "' (stage ", q, ") reads '", g.value(in).name, "' written by stage ", s,
               "; rematerialization by chains needs each backward to read only its stage's "
               "tensors and input");
    }
  }
}

// Bytes held all step: graph inputs the forward and loss nodes read.
int64_t held_input_bytes(const Facts& f, const Chain& chain) {
  const Graph& g = *f.g;
  std::set<ValueId> inputs;
  for (const ChainStage& stage : chain.stages) {
    for (NodeId n : stage.forward_nodes) {
      for (ValueId in : g.node(n).inputs) {
        const ValueId r = f.root[static_cast<size_t>(in)];
        if (f.local(in) && g.value(r).producer < 0) inputs.insert(r);
      }
    }
  }
  int64_t bytes = 0;
  for (ValueId r : inputs) bytes += bytes_of(g.value(r));
  return bytes;
}

// Each stage's grad_bytes: gradients crossing stage boundaries. A storage written by the
// backward of stage p and read by the backward of stage q < p is live when the backwards of
// stages q..p-1 start.
void set_grad_bytes(const Facts& f, const std::vector<NodeId>& backward, Chain& chain) {
  const Graph& g = *f.g;
  const size_t n_stages = chain.stages.size();
  std::vector<int64_t> grad_delta(n_stages + 1, 0);
  std::vector<int32_t> min_reader(static_cast<size_t>(g.num_values()), kEnd);
  for (NodeId b : backward) {
    for (ValueId in : g.node(b).inputs) {
      if (!f.local(in)) continue;
      int32_t& m = min_reader[static_cast<size_t>(f.root[static_cast<size_t>(in)])];
      m = std::min(m, f.stage_of_node[static_cast<size_t>(b)]);
    }
  }
  for (NodeId b : backward) {
    for (ValueId out : g.node(b).outputs) {
      if (!f.local(out) || f.root[static_cast<size_t>(out)] != out) continue;
      const int32_t p = f.stage_of_node[static_cast<size_t>(b)];
      const int32_t q = min_reader[static_cast<size_t>(out)];
      if (q < p) {
        grad_delta[static_cast<size_t>(q)] += bytes_of(g.value(out));
        grad_delta[static_cast<size_t>(p)] -= bytes_of(g.value(out));
      }
    }
  }
  int64_t grad_running = 0;
  for (size_t s = 0; s < n_stages; ++s) {
    grad_running += grad_delta[s];
    chain.stages[s].grad_bytes = grad_running;
  }
}

// The storages of stage s: its outputs (the loss stage's: the host's outputs) and what it keeps
// for its backward (outputs included).
struct StageStorages {
  std::set<ValueId> outputs, kept;
};

StageStorages stage_storages(const Facts& f, const Chain& chain, int32_t s) {
  const Graph& g = *f.g;
  const ChainStage& st = chain.stages[static_cast<size_t>(s)];
  StageStorages out;
  if (s + 1 == static_cast<int32_t>(chain.stages.size())) {
    for (NodeId n : st.forward_nodes) {
      for (ValueId v : g.node(n).outputs) {
        if (f.local(v) && g.value(v).is_output) out.outputs.insert(f.root[static_cast<size_t>(v)]);
      }
    }
  } else {
    out.outputs.insert(output_root(f, chain, s));
  }
  for (NodeId n : st.forward_nodes) {
    for (ValueId v : g.node(n).outputs) {
      const ValueId r = f.root[static_cast<size_t>(v)];
      if (f.local(v) && writer_stage(f, v) == s && f.kept_root[static_cast<size_t>(r)]) {
        out.kept.insert(r);
      }
    }
  }
  out.kept.insert(out.outputs.begin(), out.outputs.end());
  return out;
}

// The peak of stage s's backward. The model counts kept_bytes and grad_bytes whole until the
// stage's backward ends; the arena frees each at its last read. So the peak is simulated with
// them as external storages: a kept tensor whose last reader ran before this backward (a later
// stage's, such as a convolution output that only the next BatchNormalization's backward reads)
// is dead from the start, and one whose last reader is here (the ReLU6 output its backward
// reads first) dies there.
int64_t backward_peak(const Facts& f, const ChainStage& st, int32_t s,
                      const std::set<ValueId>& kept) {
  const Graph& g = *f.g;
  const auto read_by_earlier_stage = [&](ValueId v) {
    for (NodeId r : f.readers[static_cast<size_t>(v)]) {
      if (f.stage_of_node[static_cast<size_t>(r)] >= 0 &&
          f.stage_of_node[static_cast<size_t>(r)] < s) {
        return true;
      }
    }
    return false;
  };
  // An elementwise backward may write over a gradient or kept tensor that dies there (the
  // model still counts it whole until the stage's backward ends); never over a graph input.
  const auto dies_here = [&](ValueId v, NodeId at) {
    const ValueId r = f.root[static_cast<size_t>(v)];
    return g.value(r).producer >= 0 && !g.value(r).is_output &&
           f.last_reader_of_root[static_cast<size_t>(r)] == at;
  };
  const NodeId first_backward = st.backward_nodes.empty() ? -1 : st.backward_nodes.front();
  const std::set<NodeId> backward_here(st.backward_nodes.begin(), st.backward_nodes.end());
  const auto dies_after = [&](ValueId r) {
    const NodeId last = f.last_reader_of_root[static_cast<size_t>(r)];
    return backward_here.contains(last) ? last : NodeId{-1};
  };
  std::vector<ExternalStorage> externals;
  for (ValueId r : kept) {
    if (first_backward >= 0 && f.last_reader_of_root[static_cast<size_t>(r)] >= first_backward) {
      externals.push_back({bytes_of(g.value(r)), dies_after(r)});
    }
  }
  // The gradients handed in: storages this backward reads that an earlier-running backward
  // node wrote. The model's grad_bytes may count more (contributions passing through): those
  // stay live to the end.
  std::set<ValueId> grads_in;
  for (NodeId n : st.backward_nodes) {
    for (ValueId v : g.node(n).inputs) {
      const ValueId r = f.root[static_cast<size_t>(v)];
      const NodeId producer = g.value(r).producer;
      if (f.local(v) && producer >= 0 && !backward_here.contains(producer) &&
          g.node(producer).phase == Phase::kBackward) {
        grads_in.insert(r);
      }
    }
  }
  int64_t grads_known = 0;
  for (ValueId r : grads_in) {
    externals.push_back({bytes_of(g.value(r)), dies_after(r)});
    grads_known += externals.back().bytes;
  }
  if (grads_known < st.grad_bytes) externals.push_back({st.grad_bytes - grads_known, -1});
  return stage_peak(f, st.backward_nodes, read_by_earlier_stage, dies_here, externals);
}

// Stage s's name, bytes, temporary peaks and costs (its nodes and grad_bytes already set).
void measure_stage(const Facts& f, const ChainOptions& options, int32_t s, Chain& chain) {
  const Graph& g = *f.g;
  ChainStage& st = chain.stages[static_cast<size_t>(s)];
  const bool loss_stage = s + 1 == static_cast<int32_t>(chain.stages.size());
  st.name = loss_stage ? "loss" : stage_name(g, st.forward_nodes);
  const StageStorages storages = stage_storages(f, chain, s);
  const std::set<ValueId>& outputs = storages.outputs;
  const std::set<ValueId>& kept = storages.kept;
  for (ValueId r : outputs) st.output_bytes += bytes_of(g.value(r));
  for (ValueId r : kept) st.kept_bytes += bytes_of(g.value(r));

  // Temporary peaks of the forward (keeping the output, or all) and of the backward. The
  // backward's temp is what the model must add to kept + grad to reach its peak (0 when the
  // peak is below them).
  const auto is_output = [&](ValueId v) {
    return outputs.contains(f.root[static_cast<size_t>(v)]);
  };
  const auto no_external = [](ValueId, NodeId) { return false; };
  const int64_t peak_out = stage_peak(f, st.forward_nodes, is_output, no_external);
  const int64_t peak_all = stage_peak(
      f, st.forward_nodes,
      [&](ValueId v) { return is_output(v) || kept.contains(f.root[static_cast<size_t>(v)]); },
      no_external);
  st.forward_temp_bytes = std::max<int64_t>(0, peak_out - st.output_bytes);
  st.forward_all_temp_bytes = std::max<int64_t>(0, peak_all - st.kept_bytes);
  st.backward_temp_bytes =
      std::max<int64_t>(0, backward_peak(f, st, s, kept) - st.kept_bytes - st.grad_bytes);

  const auto cost = [&](NodeId n) {
    return options.node_seconds.empty() ? estimate_node_flops(g, n)
                                        : options.node_seconds[static_cast<size_t>(n)];
  };
  for (NodeId n : st.forward_nodes) st.forward_cost += cost(n);
  for (NodeId n : st.backward_nodes) st.backward_cost += cost(n);
}

}  // namespace

// Phases: the nodes by phase, the cuts, the stages' forward and then backward nodes (checked
// for reads across stages), the bytes held all step and the gradients crossing stages, then
// each stage's bytes, peaks and costs.
Chain extract_chain(const Graph& g, const ChainOptions& options) {
  check_node_seconds(g, options);
  const PhaseNodes phases = nodes_by_phase(g);
  Facts f = graph_facts(g);
  Chain chain;
  chain.cost_unit = options.node_seconds.empty() ? "FLOP" : "s";
  chain.stages = forward_stages(f, phases, find_cuts(f, phases));
  assign_backward_nodes(f, phases.backward, chain.stages);
  check_backward_reads(f, phases.backward, chain);
  chain.input_bytes = held_input_bytes(f, chain);
  set_grad_bytes(f, phases.backward, chain);
  for (int32_t s = 0; s < static_cast<int32_t>(chain.stages.size()); ++s) {
    measure_stage(f, options, s, chain);
  }
  return chain;
}

}  // namespace leantrain::passes

// A training graph's forward part as a chain of stages (cut at articulation points of the
// forward dataflow), with each stage's costs, kept bytes and temporary peaks.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "leantrain/core/error.h"
#include "leantrain/graph/remat.h"

namespace leantrain::graph {
namespace {

constexpr int32_t kEnd = std::numeric_limits<int32_t>::max();  // lives past the last node

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
        storage_bytes.push_back(f.value(out).spec.bytes());
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

Chain extract_chain(const Graph& g, const ChainOptions& options) {
  const int32_t num_nodes = g.num_nodes();
  if (!options.node_seconds.empty()) {
    LT_CHECK(static_cast<int32_t>(options.node_seconds.size()) == num_nodes, kInvalidArgument,
             "extract_chain: node_seconds has ", options.node_seconds.size(),
             " entries; the graph has ", num_nodes, " nodes (pass one per node, or none)");
    for (size_t i = 0; i < options.node_seconds.size(); ++i) {
      LT_CHECK(std::isfinite(options.node_seconds[i]) && options.node_seconds[i] >= 0,
               kInvalidArgument, "extract_chain: node_seconds[", i, "] ('",
               g.node(static_cast<NodeId>(i)).name, "') is ", options.node_seconds[i],
               "; times must be finite and >= 0");
    }
  }
  std::vector<NodeId> fwd, loss, bwd;
  for (NodeId n = 0; n < num_nodes; ++n) {
    switch (g.node(n).phase) {
      case Phase::kForward:
        fwd.push_back(n);
        break;
      case Phase::kLoss:
        loss.push_back(n);
        break;
      case Phase::kBackward:
        bwd.push_back(n);
        break;
      case Phase::kUpdate:
        break;
    }
  }
  LT_CHECK(!fwd.empty() && !loss.empty() && !bwd.empty(), kInvalidArgument, "extract_chain: the ",
           "graph has ", fwd.size(), " forward, ", loss.size(), " loss and ", bwd.size(),
           " backward nodes; it needs all three (build the model, add a loss, then add_backward)");
  Facts f = graph_facts(g);
  const size_t nv = static_cast<size_t>(g.num_values());
  const int32_t F = static_cast<int32_t>(fwd.size());

  // Position of each forward node; loss nodes all sit at F.
  std::vector<int32_t> pos(static_cast<size_t>(num_nodes), -1);
  for (int32_t k = 0; k < F; ++k) pos[static_cast<size_t>(fwd[static_cast<size_t>(k)])] = k;
  for (NodeId n : loss) pos[static_cast<size_t>(n)] = F;

  // Live-across counts: count[k] = forward-written values written at or before k that a forward
  // or loss node after k reads (graph inputs are held all step and do not count).
  std::vector<int32_t> last_read(nv, -1);
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
  // Cuts: (position, value) pairs.
  std::vector<std::pair<int32_t, ValueId>> cuts;
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
      while (!cuts.empty() && cuts.back().first >= first) cuts.pop_back();
      cuts.push_back({k, crossing[0]});
      break;
    }
    if (!articulation) continue;
    const ValueId v = crossing[0];
    const ValueId r = f.root[static_cast<size_t>(v)];
    const NodeId root_writer = g.value(r).producer;
    const int32_t previous = cuts.empty() ? -1 : cuts.back().first;
    const bool own_storage = root_writer >= 0 && pos[static_cast<size_t>(root_writer)] > previous &&
                             pos[static_cast<size_t>(root_writer)] < F;
    if (own_storage && f.kept_root[static_cast<size_t>(r)]) cuts.push_back({k, v});
  }

  Chain chain;
  chain.cost_unit = options.node_seconds.empty() ? "FLOP" : "s";
  f.stage_of_node.assign(static_cast<size_t>(num_nodes), -1);
  int32_t begin = 0;
  for (const auto& [k, v] : cuts) {
    ChainStage stage;
    for (int32_t j = begin; j <= k; ++j) {
      stage.forward_nodes.push_back(fwd[static_cast<size_t>(j)]);
      f.stage_of_node[static_cast<size_t>(fwd[static_cast<size_t>(j)])] =
          static_cast<int32_t>(chain.stages.size());
    }
    stage.output = v;
    chain.stages.push_back(std::move(stage));
    begin = k + 1;
  }
  {
    ChainStage stage;
    stage.forward_nodes = loss;
    for (NodeId n : loss) {
      f.stage_of_node[static_cast<size_t>(n)] = static_cast<int32_t>(chain.stages.size());
    }
    chain.stages.push_back(std::move(stage));
  }
  const int32_t n_stages = static_cast<int32_t>(chain.stages.size());
  const int32_t loss_stage = n_stages - 1;

  // Backward nodes: the stage of their forward node, or an earlier one whose gradient they read.
  for (NodeId b : bwd) {
    const Node& node = g.node(b);
    LT_CHECK(node.forward_of >= 0 && node.forward_of < num_nodes &&
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
    chain.stages[static_cast<size_t>(stage)].backward_nodes.push_back(b);
  }

  // Stage of the writer of each value's storage (-1: a graph input or persistent).
  const auto writer_stage = [&](ValueId v) {
    const NodeId p = g.value(f.root[static_cast<size_t>(v)]).producer;
    return p < 0 ? -1 : f.stage_of_node[static_cast<size_t>(p)];
  };
  const auto output_root = [&](int32_t s) {
    const ValueId out = chain.stages[static_cast<size_t>(s)].output;
    return out == kNoValue ? kNoValue : f.root[static_cast<size_t>(out)];
  };
  // A backward node may read forward tensors of its own stage and its stage's input only.
  for (NodeId b : bwd) {
    const int32_t q = f.stage_of_node[static_cast<size_t>(b)];
    for (ValueId in : g.node(b).inputs) {
      if (!f.local(in)) continue;
      const NodeId p = g.value(f.root[static_cast<size_t>(in)]).producer;
      if (p < 0 || !is_forward_like(g.node(p).phase)) continue;
      const int32_t s = writer_stage(in);
      const bool own = s == q;
      const bool input = s + 1 == q && f.root[static_cast<size_t>(in)] == output_root(s);
      LT_CHECK(own || input, kUnimplemented, "extract_chain: backward node '", g.node(b).name,
               "' (stage ", q, ") reads '", g.value(in).name, "' written by stage ", s,
               "; rematerialization by chains needs each backward to read only its stage's "
               "tensors and input");
    }
  }

  // Bytes held all step: graph inputs the forward and loss nodes read.
  {
    std::set<ValueId> inputs;
    for (int32_t s = 0; s < n_stages; ++s) {
      for (NodeId n : chain.stages[static_cast<size_t>(s)].forward_nodes) {
        for (ValueId in : g.node(n).inputs) {
          const ValueId r = f.root[static_cast<size_t>(in)];
          if (f.local(in) && g.value(r).producer < 0) inputs.insert(r);
        }
      }
    }
    for (ValueId r : inputs) chain.input_bytes += g.value(r).spec.bytes();
  }

  // Gradients crossing stage boundaries: a storage written by the backward of stage p and read
  // by the backward of stage q < p is live when the backwards of stages q..p-1 start.
  std::vector<int64_t> grad_delta(static_cast<size_t>(n_stages) + 1, 0);
  {
    std::vector<int32_t> min_reader(nv, kEnd);
    for (NodeId b : bwd) {
      for (ValueId in : g.node(b).inputs) {
        if (!f.local(in)) continue;
        int32_t& m = min_reader[static_cast<size_t>(f.root[static_cast<size_t>(in)])];
        m = std::min(m, f.stage_of_node[static_cast<size_t>(b)]);
      }
    }
    for (NodeId b : bwd) {
      for (ValueId out : g.node(b).outputs) {
        if (!f.local(out) || f.root[static_cast<size_t>(out)] != out) continue;
        const int32_t p = f.stage_of_node[static_cast<size_t>(b)];
        const int32_t q = min_reader[static_cast<size_t>(out)];
        if (q < p) {
          grad_delta[static_cast<size_t>(q)] += g.value(out).spec.bytes();
          grad_delta[static_cast<size_t>(p)] -= g.value(out).spec.bytes();
        }
      }
    }
  }

  int64_t grad_running = 0;
  for (int32_t s = 0; s < n_stages; ++s) {
    ChainStage& st = chain.stages[static_cast<size_t>(s)];
    grad_running += grad_delta[static_cast<size_t>(s)];
    st.grad_bytes = grad_running;
    st.name = s == loss_stage ? "loss" : stage_name(g, st.forward_nodes);

    // Output and kept storages.
    std::set<ValueId> outputs, kept;
    if (s == loss_stage) {
      for (NodeId n : st.forward_nodes) {
        for (ValueId v : g.node(n).outputs) {
          if (f.local(v) && g.value(v).is_output) outputs.insert(f.root[static_cast<size_t>(v)]);
        }
      }
    } else {
      outputs.insert(output_root(s));
    }
    for (NodeId n : st.forward_nodes) {
      for (ValueId v : g.node(n).outputs) {
        const ValueId r = f.root[static_cast<size_t>(v)];
        if (f.local(v) && writer_stage(v) == s && f.kept_root[static_cast<size_t>(r)]) {
          kept.insert(r);
        }
      }
    }
    kept.insert(outputs.begin(), outputs.end());
    for (ValueId r : outputs) st.output_bytes += g.value(r).spec.bytes();
    for (ValueId r : kept) st.kept_bytes += g.value(r).spec.bytes();

    // Temporary peaks of the forward (keeping the output, or all) and of the backward.
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
    // The model counts kept_bytes and grad_bytes whole until the stage's backward ends; the
    // arena frees each at its last read. So the peak is simulated with them as external
    // storages: a kept tensor whose last reader ran before this backward (a later stage's,
    // such as a convolution output that only the next BatchNormalization's backward reads) is
    // dead from the start, and one whose last reader is here (the ReLU6 output its backward
    // reads first) dies there. The temp is what the model must add to kept + grad to reach
    // that peak (0 when the peak is below them).
    const NodeId first_backward = st.backward_nodes.empty() ? -1 : st.backward_nodes.front();
    const std::set<NodeId> backward_here(st.backward_nodes.begin(), st.backward_nodes.end());
    const auto dies_after = [&](ValueId r) {
      const NodeId last = f.last_reader_of_root[static_cast<size_t>(r)];
      return backward_here.contains(last) ? last : NodeId{-1};
    };
    std::vector<ExternalStorage> externals;
    for (ValueId r : kept) {
      if (first_backward >= 0 && f.last_reader_of_root[static_cast<size_t>(r)] >= first_backward) {
        externals.push_back({g.value(r).spec.bytes(), dies_after(r)});
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
      externals.push_back({g.value(r).spec.bytes(), dies_after(r)});
      grads_known += externals.back().bytes;
    }
    if (grads_known < st.grad_bytes) externals.push_back({st.grad_bytes - grads_known, -1});
    const int64_t peak_backward =
        stage_peak(f, st.backward_nodes, read_by_earlier_stage, dies_here, externals);
    st.backward_temp_bytes = std::max<int64_t>(0, peak_backward - st.kept_bytes - st.grad_bytes);

    const auto cost = [&](NodeId n) {
      return options.node_seconds.empty() ? estimate_node_flops(g, n)
                                          : options.node_seconds[static_cast<size_t>(n)];
    };
    for (NodeId n : st.forward_nodes) st.forward_cost += cost(n);
    for (NodeId n : st.backward_nodes) st.backward_cost += cost(n);
  }
  return chain;
}

}  // namespace leantrain::graph

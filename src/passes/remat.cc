// The chain model's simulator, the dynamic programs of Beaumont et al. (cheapest persistent
// schedule under a budget; smallest budget that fits) and the schedule report.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "leantrain/core/error.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/passes/remat.h"

namespace leantrain::passes {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Cost-table entries take 12 bytes: at most 384 MiB (500 slots of a 61-stage chain: 11 MB).
constexpr int64_t kMaxTableEntries = int64_t{1} << 25;

void validate_chain(const Chain& chain) {
  LT_CHECK(!chain.stages.empty(), kInvalidArgument,
           "rematerialization: the chain has no stages; extract it from a training graph");
  LT_CHECK(chain.input_bytes >= 0, kInvalidArgument, "rematerialization: chain input_bytes is ",
           chain.input_bytes, "; it must be >= 0");
  for (size_t i = 0; i < chain.stages.size(); ++i) {
    const ChainStage& s = chain.stages[i];
    const auto bytes_ok = [&](int64_t v, const char* field) {
      LT_CHECK(v >= 0, kInvalidArgument, "rematerialization: stage ", i, " ('", s.name, "') has ",
               field, " = ", v, "; sizes must be >= 0");
    };
    bytes_ok(s.output_bytes, "output_bytes");
    bytes_ok(s.kept_bytes, "kept_bytes");
    bytes_ok(s.grad_bytes, "grad_bytes");
    bytes_ok(s.forward_temp_bytes, "forward_temp_bytes");
    bytes_ok(s.forward_all_temp_bytes, "forward_all_temp_bytes");
    bytes_ok(s.backward_temp_bytes, "backward_temp_bytes");
    LT_CHECK(s.kept_bytes >= s.output_bytes, kInvalidArgument, "rematerialization: stage ", i,
             " ('", s.name, "') keeps ", s.kept_bytes, " bytes, less than its output (",
             s.output_bytes, "); kept_bytes includes the output");
    LT_CHECK(std::isfinite(s.forward_cost) && s.forward_cost >= 0 &&
                 std::isfinite(s.backward_cost) && s.backward_cost >= 0,
             kInvalidArgument, "rematerialization: stage ", i, " ('", s.name,
             "') has forward_cost ", s.forward_cost, " and backward_cost ", s.backward_cost,
             "; costs must be finite and >= 0");
  }
}

// Bytes of the gradient handed to stage s-1 by stage s's backward.
int64_t grad_out_bytes(const Chain& chain, int32_t s) {
  return s == 0 ? 0 : chain.stages[static_cast<size_t>(s - 1)].grad_bytes;
}

// The chain in slots: every size rounded up to whole slots.
struct SlotChain {
  int32_t n = 0;
  std::vector<int64_t> out, kept, grad, ftemp, fatemp, btemp;
  std::vector<double> f, b;
};

int64_t to_slots(int64_t bytes, int64_t slot) { return (bytes + slot - 1) / slot; }

SlotChain in_slots(const Chain& chain, int64_t slot) {
  SlotChain c;
  c.n = static_cast<int32_t>(chain.stages.size());
  for (const ChainStage& s : chain.stages) {
    c.out.push_back(to_slots(s.output_bytes, slot));
    c.kept.push_back(to_slots(s.kept_bytes, slot));
    c.grad.push_back(to_slots(s.grad_bytes, slot));
    c.ftemp.push_back(to_slots(s.forward_temp_bytes, slot));
    c.fatemp.push_back(to_slots(s.forward_all_temp_bytes, slot));
    c.btemp.push_back(to_slots(s.backward_temp_bytes, slot));
    c.f.push_back(s.forward_cost);
    c.b.push_back(s.backward_cost);
  }
  return c;
}

// Index of (s, t), s <= t < n, in a triangular table.
size_t tri(int32_t n, int32_t s, int32_t t) {
  const int64_t row = static_cast<int64_t>(s) * n - static_cast<int64_t>(s) * (s - 1) / 2;
  return static_cast<size_t>(row + (t - s));
}

// Free memory (above the held input) step k of a leaf's forward needs: kForward(k) of stages
// s..j-1 keeping only outputs, with the output of k-1 still live (for k > s) and the gradient
// of stage t live. The leaf at j needs the largest of steps s..j-1.
int64_t forward_need(const SlotChain& c, int32_t s, int32_t k, int32_t t) {
  const size_t u = static_cast<size_t>(k);
  const int64_t previous_output = k == s ? 0 : c.out[u - 1];
  return c.grad[static_cast<size_t>(t)] + previous_output + c.out[u] + c.ftemp[u];
}

// Choice codes in the tables: kChain, kBase (s == t), or j > s for a leaf at j.
constexpr int32_t kChain = -1;
constexpr int32_t kBase = -2;

// Appends the ops of stages s..t with m free: what(s, t, m) gives the choice, kept_or_out(s,
// kept) the size (in the table's unit) of stage s's kept tensors or output.
template <typename What, typename Size>
void emit(int32_t s, int32_t t, int64_t m, const What& what, const Size& kept_or_out,
          std::vector<RematOp>& ops) {
  const int32_t choice = what(s, t, m);
  if (choice == kBase || choice == kChain) {
    ops.push_back({RematOpKind::kForwardAll, s});
    if (choice == kChain) emit(s + 1, t, m - kept_or_out(s, true), what, kept_or_out, ops);
    ops.push_back({RematOpKind::kBackward, s});
    return;
  }
  const int32_t j = choice;
  ops.push_back({RematOpKind::kForward, s});
  for (int32_t k = s + 1; k < j; ++k) {
    ops.push_back({RematOpKind::kForward, k});
    ops.push_back({RematOpKind::kFree, k - 1});
  }
  emit(j, t, m - kept_or_out(j - 1, false), what, kept_or_out, ops);
  ops.push_back({RematOpKind::kFree, j - 1});
  emit(s, j - 1, m, what, kept_or_out, ops);
}

// The min-max program: need[s,t] = the least free memory (bytes) that runs stages s..t, and a
// schedule reaching it (ties broken by cost).
struct MinMax {
  int32_t n = 0;
  std::vector<int64_t> need;
  std::vector<double> cost;
  std::vector<int32_t> what;
};

MinMax min_max_program(const Chain& chain) {
  const SlotChain c = in_slots(chain, 1);
  const int32_t n = c.n;
  MinMax r;
  r.n = n;
  const size_t cells = static_cast<size_t>(n) * static_cast<size_t>(n + 1) / 2;
  r.need.assign(cells, 0);
  r.cost.assign(cells, 0);
  r.what.assign(cells, kBase);
  const auto at = [&](int32_t s, int32_t t) { return tri(n, s, t); };
  for (int32_t s = 0; s < n; ++s) {
    const size_t u = static_cast<size_t>(s);
    r.need[at(s, s)] = c.grad[u] + c.kept[u] + std::max(c.fatemp[u], c.btemp[u]);
    r.cost[at(s, s)] = c.f[u] + c.b[u];
  }
  for (int32_t len = 1; len < n; ++len) {
    for (int32_t s = 0; s + len < n; ++s) {
      const int32_t t = s + len;
      const size_t u = static_cast<size_t>(s);
      int64_t best_need =
          std::max({c.grad[static_cast<size_t>(t)] + c.kept[u] + c.fatemp[u],
                    c.grad[u] + c.kept[u] + c.btemp[u], c.kept[u] + r.need[at(s + 1, t)]});
      double best_cost = c.f[u] + c.b[u] + r.cost[at(s + 1, t)];
      int32_t best = kChain;
      int64_t fwd = 0;
      double fsum = 0;
      for (int32_t j = s + 1; j <= t; ++j) {
        fwd = std::max(fwd, forward_need(c, s, j - 1, t));
        fsum += c.f[static_cast<size_t>(j - 1)];
        const int64_t need = std::max(
            {fwd, c.out[static_cast<size_t>(j - 1)] + r.need[at(j, t)], r.need[at(s, j - 1)]});
        const double cost = fsum + r.cost[at(j, t)] + r.cost[at(s, j - 1)];
        if (need < best_need || (need == best_need && cost < best_cost)) {
          best_need = need;
          best_cost = cost;
          best = j;
        }
      }
      r.need[at(s, t)] = best_need;
      r.cost[at(s, t)] = best_cost;
      r.what[at(s, t)] = best;
    }
  }
  return r;
}

// The cost table C(s, t, m) for m = 0..m_max slots and its choices (Beaumont et al.):
// - m ascending, then segment length ascending, so every C a cell reads is already final
//   (the "chain" and "leaf" right parts read smaller m, or the same m when a size rounds to 0
//   slots, on shorter segments);
// - a cell takes the cheapest of "chain" and each feasible "leaf" j, ties to "chain";
// - the leaf loop stops at the first j whose forward does not fit (longer forwards need more).
// O(m_max n^3 / 6) steps, O(m_max n^2 / 2) entries.
struct CostTable {
  int32_t n = 0;
  size_t cells = 0;
  std::vector<double> cost;   // [m][tri(s, t)]
  std::vector<int32_t> what;  // same layout
  double at(int32_t s, int32_t t, int64_t m) const {
    return cost[static_cast<size_t>(m) * cells + tri(n, s, t)];
  }
};

CostTable cost_table(const SlotChain& c, int64_t m_max) {
  const int32_t n = c.n;
  CostTable table;
  table.n = n;
  table.cells = static_cast<size_t>(n) * static_cast<size_t>(n + 1) / 2;
  const size_t total = table.cells * static_cast<size_t>(m_max + 1);
  table.cost.assign(total, kInf);
  table.what.assign(total, kBase);
  for (int64_t m = 0; m <= m_max; ++m) {
    double* cost = table.cost.data() + static_cast<size_t>(m) * table.cells;
    int32_t* what = table.what.data() + static_cast<size_t>(m) * table.cells;
    const auto lower = [&](int32_t s, int32_t t, int64_t mm) {
      return mm < 0 ? kInf : table.at(s, t, mm);
    };
    for (int32_t s = 0; s < n; ++s) {
      const size_t u = static_cast<size_t>(s);
      if (m >= c.grad[u] + c.kept[u] + std::max(c.fatemp[u], c.btemp[u])) {
        cost[tri(n, s, s)] = c.f[u] + c.b[u];
      }
    }
    for (int32_t len = 1; len < n; ++len) {
      for (int32_t s = 0; s + len < n; ++s) {
        const int32_t t = s + len;
        const size_t u = static_cast<size_t>(s);
        double best = kInf;
        int32_t choice = kChain;
        if (m >= c.grad[static_cast<size_t>(t)] + c.kept[u] + c.fatemp[u] &&
            m >= c.grad[u] + c.kept[u] + c.btemp[u]) {
          best = c.f[u] + c.b[u] + lower(s + 1, t, m - c.kept[u]);
        }
        int64_t fwd = 0;
        double fsum = 0;
        for (int32_t j = s + 1; j <= t; ++j) {
          fwd = std::max(fwd, forward_need(c, s, j - 1, t));
          if (fwd > m) break;  // the forward to j-1 does not fit; longer ones neither
          fsum += c.f[static_cast<size_t>(j - 1)];
          const double leaf =
              fsum + lower(j, t, m - c.out[static_cast<size_t>(j - 1)]) + cost[tri(n, s, j - 1)];
          if (leaf < best) {
            best = leaf;
            choice = j;
          }
        }
        cost[tri(n, s, t)] = best;
        what[tri(n, s, t)] = choice;
      }
    }
  }
  return table;
}

// What a schedule does with each stage: forward runs, kept in the first pass, checkpoint after
// the first pass.
void describe_stages(const Chain& chain, RematSchedule& r) {
  const size_t n = chain.stages.size();
  r.forward_runs.assign(n, 0);
  r.kept.assign(n, false);
  r.checkpointed.assign(n, false);
  std::vector<bool> live_checkpoint(n, false);
  bool first_pass = true;
  for (const RematOp& op : r.ops) {
    const size_t s = static_cast<size_t>(op.stage);
    switch (op.kind) {
      case RematOpKind::kForward:
        ++r.forward_runs[s];
        live_checkpoint[s] = true;
        break;
      case RematOpKind::kForwardAll:
        if (first_pass && r.forward_runs[s] == 0) r.kept[s] = true;
        ++r.forward_runs[s];
        break;
      case RematOpKind::kFree:
        live_checkpoint[s] = false;
        break;
      case RematOpKind::kBackward:
        if (first_pass) {
          for (size_t k = 0; k < n; ++k) r.checkpointed[k] = live_checkpoint[k];
        }
        first_pass = false;
        break;
    }
  }
}

std::string format_cost(double value, const std::string& unit) {
  char buf[64];
  if (unit == "FLOP") {
    const char* prefixes[] = {"", "K", "M", "G", "T", "P"};
    int p = 0;
    double v = value;
    while (std::fabs(v) >= 1000.0 && p < 5) {
      v /= 1000.0;
      ++p;
    }
    std::snprintf(buf, sizeof(buf), "%.2f %sFLOP", v, prefixes[p]);
  } else {
    std::snprintf(buf, sizeof(buf), "%.4g %s", value, unit.c_str());
  }
  return buf;
}

}  // namespace

const char* remat_op_kind_name(RematOpKind kind) {
  switch (kind) {
    case RematOpKind::kForward:
      return "forward";
    case RematOpKind::kForwardAll:
      return "forward-all";
    case RematOpKind::kBackward:
      return "backward";
    case RematOpKind::kFree:
      return "free";
  }
  return "?";
}

RematRun simulate_remat(const Chain& chain, std::span<const RematOp> ops) {
  validate_chain(chain);
  const int32_t n = static_cast<int32_t>(chain.stages.size());
  std::vector<bool> checkpoint(static_cast<size_t>(n), false), all(static_cast<size_t>(n), false);
  int32_t next_backward = n - 1;
  int64_t live = chain.input_bytes + chain.stages.back().grad_bytes;
  RematRun run;
  run.peak_bytes = live;
  const auto input_live = [&](int32_t s) {
    return s == 0 || checkpoint[static_cast<size_t>(s - 1)] || all[static_cast<size_t>(s - 1)];
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    const RematOp& op = ops[i];
    const int32_t s = op.stage;
    LT_CHECK(s >= 0 && s < n, kInvalidArgument, "remat op ", i, " (", remat_op_kind_name(op.kind),
             "): stage ", s, " is out of range; the chain has ", n, " stages");
    const ChainStage& st = chain.stages[static_cast<size_t>(s)];
    const size_t u = static_cast<size_t>(s);
    switch (op.kind) {
      case RematOpKind::kForward:
      case RematOpKind::kForwardAll: {
        LT_CHECK(s <= next_backward, kInvalidArgument, "remat op ", i, ": forward of stage ", s,
                 " after its backward");
        LT_CHECK(input_live(s), kInvalidArgument, "remat op ", i, ": forward of stage ", s,
                 " needs the output of stage ", s - 1, ", which is not live");
        LT_CHECK(!checkpoint[u] && !all[u], kInvalidArgument, "remat op ", i, ": forward of stage ",
                 s, " while its output is still live");
        if (op.kind == RematOpKind::kForward) {
          run.peak_bytes = std::max(run.peak_bytes, live + st.output_bytes + st.forward_temp_bytes);
          live += st.output_bytes;
          checkpoint[u] = true;
        } else {
          run.peak_bytes =
              std::max(run.peak_bytes, live + st.kept_bytes + st.forward_all_temp_bytes);
          live += st.kept_bytes;
          all[u] = true;
        }
        run.cost += st.forward_cost;
        break;
      }
      case RematOpKind::kBackward:
        LT_CHECK(s == next_backward, kInvalidArgument, "remat op ", i, ": backward of stage ", s,
                 " out of order; the next backward is stage ", next_backward);
        LT_CHECK(all[u], kInvalidArgument, "remat op ", i, ": backward of stage ", s,
                 " without its kept tensors (run it with forward-all first)");
        LT_CHECK(input_live(s), kInvalidArgument, "remat op ", i, ": backward of stage ", s,
                 " needs the output of stage ", s - 1, ", which is not live");
        run.peak_bytes = std::max(run.peak_bytes, live + st.backward_temp_bytes);
        live += grad_out_bytes(chain, s) - st.kept_bytes - st.grad_bytes;
        all[u] = false;
        run.cost += st.backward_cost;
        --next_backward;
        break;
      case RematOpKind::kFree:
        LT_CHECK(checkpoint[u], kInvalidArgument, "remat op ", i, ": free of stage ", s,
                 "'s output, which is not a live checkpoint");
        live -= st.output_bytes;
        checkpoint[u] = false;
        break;
    }
  }
  LT_CHECK(next_backward == -1, kInvalidArgument, "remat schedule ends before the backward of ",
           "stage ", next_backward);
  for (int32_t s = 0; s < n; ++s) {
    LT_CHECK(!checkpoint[static_cast<size_t>(s)], kInvalidArgument,
             "remat schedule ends with the output of stage ", s, " still live; free it");
  }
  return run;
}

std::vector<RematOp> keep_all_schedule(const Chain& chain) {
  const int32_t n = static_cast<int32_t>(chain.stages.size());
  std::vector<RematOp> ops;
  for (int32_t s = 0; s < n; ++s) ops.push_back({RematOpKind::kForwardAll, s});
  for (int32_t s = n - 1; s >= 0; --s) ops.push_back({RematOpKind::kBackward, s});
  return ops;
}

int64_t min_remat_budget_bytes(const Chain& chain) {
  validate_chain(chain);
  const MinMax mm = min_max_program(chain);
  return chain.input_bytes + mm.need[tri(mm.n, 0, mm.n - 1)];
}

RematSchedule solve_remat(const Chain& chain, int64_t budget_bytes, const RematOptions& options) {
  validate_chain(chain);
  LT_CHECK(budget_bytes >= 0, kInvalidArgument, "rematerialization: budget ", budget_bytes,
           " bytes is negative");
  LT_CHECK(options.memory_slots >= 1 && options.slot_bytes >= 0, kInvalidArgument,
           "rematerialization: memory_slots must be >= 1 and slot_bytes >= 0, got ",
           options.memory_slots, " and ", options.slot_bytes);
  const int32_t n = static_cast<int32_t>(chain.stages.size());
  RematSchedule r;
  r.budget_bytes = budget_bytes;
  const std::vector<RematOp> keep_all = keep_all_schedule(chain);
  const RematRun all_run = simulate_remat(chain, keep_all);
  r.keep_all_peak_bytes = all_run.peak_bytes;
  r.base_cost = all_run.cost;
  const MinMax mm = min_max_program(chain);
  r.min_budget_bytes = chain.input_bytes + mm.need[tri(n, 0, n - 1)];

  if (budget_bytes >= r.keep_all_peak_bytes) {
    r.ops = keep_all;
  } else if (budget_bytes < r.min_budget_bytes) {
    return r;
  } else {
    const int64_t above_input = r.keep_all_peak_bytes - chain.input_bytes;
    r.slot_bytes =
        options.slot_bytes > 0
            ? options.slot_bytes
            : std::max<int64_t>(1, (above_input + options.memory_slots - 1) / options.memory_slots);
    const int64_t m = (budget_bytes - chain.input_bytes) / r.slot_bytes;
    const double entries = static_cast<double>(n) * (n + 1) / 2 * static_cast<double>(m + 1);
    LT_CHECK(entries <= static_cast<double>(kMaxTableEntries), kInvalidArgument,
             "rematerialization: ", n, " stages and ", m + 1, " memory slots of ", r.slot_bytes,
             " bytes need a table of ", entries, " entries (at most ", kMaxTableEntries,
             "); raise slot_bytes or lower memory_slots");
    const SlotChain c = in_slots(chain, r.slot_bytes);
    const CostTable table = cost_table(c, m);
    std::vector<RematOp> dp_ops;
    if (table.at(0, n - 1, m) < kInf) {
      const auto what = [&](int32_t s, int32_t t, int64_t mm_) {
        return s == t ? kBase : table.what[static_cast<size_t>(mm_) * table.cells + tri(n, s, t)];
      };
      const auto size = [&](int32_t s, bool kept) {
        return kept ? c.kept[static_cast<size_t>(s)] : c.out[static_cast<size_t>(s)];
      };
      emit(0, n - 1, m, what, size, dp_ops);
    }
    // The min-max schedule fits in bytes; it wins only when rounding hid something cheaper.
    std::vector<RematOp> mm_ops;
    const auto mm_what = [&](int32_t s, int32_t t, int64_t) {
      return s == t ? kBase : mm.what[tri(n, s, t)];
    };
    const auto mm_size = [&](int32_t s, bool kept) {
      const ChainStage& st = chain.stages[static_cast<size_t>(s)];
      return kept ? st.kept_bytes : st.output_bytes;
    };
    emit(0, n - 1, 0, mm_what, mm_size, mm_ops);
    const RematRun mm_run = simulate_remat(chain, mm_ops);
    LT_ASSERT(mm_run.peak_bytes <= budget_bytes);
    r.ops = std::move(mm_ops);
    if (!dp_ops.empty()) {
      const RematRun dp_run = simulate_remat(chain, dp_ops);
      LT_ASSERT(dp_run.peak_bytes <= budget_bytes);
      if (dp_run.cost <= mm_run.cost) r.ops = std::move(dp_ops);
    }
  }
  const RematRun run = simulate_remat(chain, r.ops);
  LT_ASSERT(run.peak_bytes <= budget_bytes);
  r.fits = true;
  r.peak_bytes = run.peak_bytes;
  r.cost = run.cost;
  describe_stages(chain, r);
  return r;
}

std::string explain_remat(const Chain& chain, const RematSchedule& schedule) {
  using memory::format_iec_bytes;
  std::ostringstream out;
  out << "rematerialization (persistent schedule, Beaumont et al.): budget "
      << format_iec_bytes(schedule.budget_bytes) << "\n";
  if (!schedule.fits) {
    out << "  no schedule fits: the smallest budget that fits is "
        << format_iec_bytes(schedule.min_budget_bytes) << " (keeping everything needs "
        << format_iec_bytes(schedule.keep_all_peak_bytes) << ")\n";
    return out.str();
  }
  char pct[32];
  std::snprintf(pct, sizeof(pct), "%.1f%%", 100.0 * schedule.extra_fraction());
  out << "  predicted peak " << format_iec_bytes(schedule.peak_bytes)
      << " (keeping everything: " << format_iec_bytes(schedule.keep_all_peak_bytes)
      << "; smallest budget that fits: " << format_iec_bytes(schedule.min_budget_bytes) << ")\n"
      << "  extra compute " << pct << ": " << format_cost(schedule.extra_cost(), chain.cost_unit)
      << " of recomputed forward over " << format_cost(schedule.base_cost, chain.cost_unit)
      << " for one forward and backward\n";
  int32_t recomputed = 0;
  for (int32_t runs : schedule.forward_runs) recomputed += runs > 1 ? 1 : 0;
  out << "  " << chain.stages.size() - static_cast<size_t>(recomputed) << " of "
      << chain.stages.size() << " stages keep all activations, " << recomputed
      << " are recomputed\n";
  size_t width = 4;
  for (const ChainStage& s : chain.stages) width = std::max(width, s.name.size());
  width = std::min<size_t>(width, 48);
  char line[256];
  std::snprintf(line, sizeof(line), "  %5s  %-*s  %12s  %12s  %14s  %s\n", "stage",
                static_cast<int>(width), "name", "kept", "output", "forward", "plan");
  out << line;
  for (size_t i = 0; i < chain.stages.size(); ++i) {
    const ChainStage& s = chain.stages[i];
    std::string plan = schedule.forward_runs[i] <= 1
                           ? "keep all"
                           : "recompute (runs " + std::to_string(schedule.forward_runs[i]) + "x)";
    if (schedule.checkpointed[i]) plan += ", checkpoint";
    std::string name = s.name.empty() ? "stage " + std::to_string(i) : s.name;
    if (name.size() > width) name = name.substr(0, width - 3) + "...";
    std::snprintf(line, sizeof(line), "  %5zu  %-*s  %12s  %12s  %14s  %s\n", i,
                  static_cast<int>(width), name.c_str(), format_iec_bytes(s.kept_bytes).c_str(),
                  format_iec_bytes(s.output_bytes).c_str(),
                  format_cost(s.forward_cost, chain.cost_unit).c_str(), plan.c_str());
    out << line;
  }
  return out.str();
}

}  // namespace leantrain::passes

// `leantrain find-batch`: the largest batch whose training plan fits a memory budget, found
// analytically (no out-of-memory trials), then confirmed by real steps whose measured peak must
// not exceed the budget.
#include <malloc.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "leantrain/core/error.h"
#include "leantrain/core/file.h"
#include "leantrain/core/rng.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/memory/process_memory.h"
#include "leantrain/runtime/engine.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/model_file.h"
#include "leantrain/train/plot.h"
#include "leantrain/train/trainer.h"

namespace leantrain::cli {
namespace {

struct FindBatchArgs {
  std::string model = "cnn";
  std::string input;    // "": the zoo model's default (nn::zoo_defaults); see with_model_input
  int64_t classes = 0;  // 0: the zoo model's default
  float alpha = 1.0f;
  std::string memory_budget;
  std::string unplanned = "auto";  // "auto" (measured at batch 1) or bytes
  int64_t measure_batch = 0;       // > 0: this process is a measurement (see measure_fresh)
  int candidates = 3;
  int steps = 4;  // per candidate; the first warms up and is not timed
  int64_t max_batch = 4096;
  std::string optimizer = "adam";
  float momentum = 0;
  int threads = 2;
  std::string kernels = "fast";
  uint64_t seed = 0;
  std::string out;
  std::string report;
};

using memory::format_iec_bytes;

train::Optimizer make_optimizer(const FindBatchArgs& a) {
  return cli::make_optimizer(a.optimizer, -1, a.momentum);
}

nn::Model make_model(const FindBatchArgs& a) {
  train::ModelRequest request = model_request(a.input, a.classes);
  request.seed = a.seed;
  request.zoo.alpha = a.alpha;
  return train::resolve_model(a.model, request);
}

// `a` with the input shape and classes of the model it builds: a zoo model's defaults where
// --input or --classes is not given, a model file's own. What the search prints and reports,
// what the measuring processes are passed, and the range of the labels they draw.
FindBatchArgs with_model_input(FindBatchArgs a) {
  const nn::Model model = make_model(a);
  a.input = shape_arg(model.input_shape());
  a.classes = model.output_shape().dim(-1);
  return a;
}

train::CompileOptions compile_options(const FindBatchArgs& a, const nn::Model& model,
                                      int64_t budget) {
  return {.optimizer = make_optimizer(a),
          .loss = train::SparseCategoricalCrossentropy(
              {.from_logits = !nn::outputs_probabilities(model)}),
          .seed = a.seed,
          .kernels = {.choice = a.kernels == "fast" ? graph::KernelChoice::kFast
                                                    : graph::KernelChoice::kReference},
          .memory_budget_bytes = budget};
}

// One measured candidate: a fresh model and Trainer built after the baseline, its plan compiled,
// `steps` training steps on seeded random data in the input slot.
struct Measured {
  int64_t batch = 0;
  int64_t predicted_bytes = 0;  // persistent + arena
  int64_t measured_bytes = 0;   // peak RSS minus RSS before building
  double images_per_second = 0;
  std::string plan;
  double extra_compute = 0;
};

// Builds and runs one candidate in this process; `budget` is the Trainer's memory budget (the
// plans' share of the user's budget). Meaningful in a fresh process only (measure_fresh).
Measured measure(const FindBatchArgs& a, int64_t batch, int64_t budget) {
  // Heap pages freed by earlier work would otherwise be reused unseen (counted in the baseline).
  malloc_trim(0);
  const int64_t baseline = memory::current_rss_bytes();
  LT_CHECK(memory::reset_peak_rss(), kIo,
           "find-batch measures peaks with /proc/self/clear_refs, which this system refuses");
  Measured m;
  m.batch = batch;
  {
    const nn::Model model = make_model(a);
    train::Trainer trainer(model, compile_options(a, model, budget));
    const train::MemoryReport r = trainer.plan(batch);
    m.predicted_bytes = r.persistent_bytes + r.arena_bytes;
    m.plan = train::plan_kind_name(r.plan_kind);
    m.extra_compute = r.extra_compute_fraction;
    runtime::Program& p = trainer.training_program(batch);
    const std::string input = model.inputs()[0].call().layer->name();
    const TensorView x = p.view(input);
    LT_CHECK(p.graph().find("labels") != graph::kNoValue && p.view("labels").dtype == DType::kI32,
             kUnimplemented, "find-batch feeds class ids: the model's loss must read them");
    const TensorView y = p.view("labels");
    const float lr = trainer.options().optimizer.learning_rate;
    double seconds = 0;
    for (int s = 0; s < a.steps; ++s) {
      // The step's inputs are planned buffers that later nodes may reuse once read: fill them
      // before every step, as the input pipeline does (not timed).
      Rng rng(mix64(a.seed ^ mix64(static_cast<uint64_t>(s) + 1)));
      for (int64_t i = 0; i < x.num_elements(); ++i) x.f32()[i] = rng.uniform(-1.0f, 1.0f);
      for (int64_t i = 0; i < y.num_elements(); ++i) {
        y.i32()[i] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(a.classes)));
      }
      const auto start = std::chrono::steady_clock::now();
      p.run(graph::StepState{s + 1, lr, a.seed});
      // The first step warms up (first touches, oneDNN caches) and is not timed.
      if (s > 0) {
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    }
    m.images_per_second = a.steps > 1 ? static_cast<double>(batch * (a.steps - 1)) / seconds : 0.0;
    m.measured_bytes = memory::peak_rss_bytes() - baseline;
  }
  return m;
}

// Single-quoted for /bin/sh.
std::string quoted(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// measure() in a fresh process (this program, re-run with --measure-batch), so the measured peak
// counts everything a training run of its own would touch after its start-up: library code
// pages first run, oneDNN's kernels and their code, the heap. The child prints one JSON line.
Measured measure_fresh(const FindBatchArgs& a, int64_t batch, int64_t budget) {
  std::string command =
      quoted(std::filesystem::read_symlink("/proc/self/exe").string()) +
      " find-batch --measure-batch " + std::to_string(batch) + " --memory-budget " +
      std::to_string(budget) + " --model " + quoted(a.model) + " --input " + quoted(a.input) +
      " --classes " + std::to_string(a.classes) + " --alpha " + std::to_string(a.alpha) +
      " --steps " + std::to_string(a.steps) + " --optimizer " + quoted(a.optimizer) +
      " --momentum " + std::to_string(a.momentum) + " --threads " + std::to_string(a.threads) +
      " --kernels " + quoted(a.kernels) + " --seed " + std::to_string(a.seed);
  std::fflush(stdout);
  FILE* pipe = popen(command.c_str(), "r");
  LT_CHECK(pipe != nullptr, kIo, "find-batch: cannot start the measuring process: ", command);
  std::string output;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) output += buf;
  const int status = pclose(pipe);
  // The last line: a JSON object (what start-up printed comes before it).
  const size_t brace = output.rfind("\n{");
  const size_t line = output.starts_with("{") && brace == std::string::npos ? 0
                      : brace == std::string::npos                          ? std::string::npos
                                                                            : brace + 1;
  // A child that exited with one of leantrain's error codes printed its error on stderr, which
  // is ours: this process fails with the same code (an impossible budget stays out of budget).
  if (status != 0 && WIFEXITED(status) && WEXITSTATUS(status) >= 2 &&
      WEXITSTATUS(status) < static_cast<int>(ErrorCode::kInternal)) {
    throw Error(static_cast<ErrorCode>(WEXITSTATUS(status)),
                internal::str_cat("find-batch: measuring batch ", batch,
                                  " in a fresh process failed with the error above"));
  }
  if (status != 0 || line == std::string::npos) {
    // Killed, a usage error or an internal error: the command, for a bug report.
    throw Error(ErrorCode::kInternal, internal::str_cat("find-batch: measuring batch ", batch,
                                                        " in a fresh process failed", " (status ",
                                                        status, "): ", command, "\n", output));
  }
  const nlohmann::json j = nlohmann::json::parse(output.substr(line));
  Measured m;
  m.batch = batch;
  m.predicted_bytes = j.at("predicted").get<int64_t>();
  m.measured_bytes = j.at("measured").get<int64_t>();
  m.images_per_second = j.at("images_per_second").get<double>();
  m.plan = j.at("plan").get<std::string>();
  m.extra_compute = j.at("extra_compute").get<double>();
  return m;
}

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * fraction);
  return buf;
}

// Checks the flags and returns the memory budget in bytes.
int64_t checked_budget(const FindBatchArgs& a) {
  LT_CHECK(!a.memory_budget.empty(), kInvalidArgument,
           "find-batch needs --memory-budget, e.g. 512MiB");
  LT_CHECK(a.candidates >= 1, kInvalidArgument, "--candidates must be >= 1, got ", a.candidates);
  LT_CHECK(a.steps >= 1, kInvalidArgument, "--steps must be >= 1, got ", a.steps);
  LT_CHECK(a.classes >= 0, kInvalidArgument, "--classes must be >= 1, got ", a.classes);
  LT_CHECK(a.kernels == "fast" || a.kernels == "reference", kInvalidArgument,
           "--kernels must be fast or reference, got '", a.kernels, "'");
  const int64_t budget = memory::parse_bytes(a.memory_budget);
  LT_CHECK(budget > 0, kInvalidArgument, "--memory-budget must be positive, got '", a.memory_budget,
           "'");
  return budget;
}

// 0. What the plan does not count (the model's objects, graphs, kernel objects and their code):
// measured at batch 1, the smallest build, and kept out of the plans' share (--unplanned auto),
// or as given.
int64_t unplanned_bytes(const FindBatchArgs& a, int64_t budget) {
  int64_t unplanned = 0;
  if (a.unplanned == "auto") {
    std::cout << "Measuring what the plan does not count at batch 1, each in a fresh process\n";
    // The resident set of identical runs differs by about 0.1 MiB (heap and thread-stack
    // pages): the largest of three runs.
    int64_t least = std::numeric_limits<int64_t>::max();
    for (int run = 0; run < 3; ++run) {
      const Measured one = measure_fresh(a, 1, budget);
      const int64_t extra = std::max<int64_t>(0, one.measured_bytes - one.predicted_bytes);
      least = std::min(least, extra);
      std::cout << "  batch 1: predicted " << format_iec_bytes(one.predicted_bytes) << ", measured "
                << format_iec_bytes(one.measured_bytes) << ": unplanned " << format_iec_bytes(extra)
                << "\n";
      unplanned = std::max(unplanned, extra);
    }
    // Identical runs differ: leave room for that spread once more.
    const int64_t spread = unplanned - least;
    unplanned += spread;
    std::cout << "Unplanned (model, graphs, kernel objects and code, first-run pages): "
              << format_iec_bytes(unplanned) << ", the largest of the three plus their spread ("
              << format_iec_bytes(spread) << ")\n";
  } else {
    unplanned = memory::parse_bytes(a.unplanned);
  }
  return unplanned;
}

// The analytic search's plans by batch size, and the largest batch that fits.
struct SearchResult {
  std::map<int64_t, train::BatchPlan> rows;
  int64_t largest = 0;
};

// 1. The analytic search: powers of two up to the first that does not fit, then the exact
// largest by bisection. Nothing is reserved, no step runs.
SearchResult search_batches(const FindBatchArgs& a, int64_t plan_budget, int64_t budget,
                            int64_t unplanned) {
  SearchResult result;
  std::map<int64_t, train::BatchPlan>& rows = result.rows;
  const nn::Model model = make_model(a);
  train::Trainer search(model, compile_options(a, model, plan_budget));
  std::cout << "Searching batch sizes for model '" << model.name() << "' ("
            << model.input_shape().to_string() << ", " << a.classes << " classes): plans within "
            << format_iec_bytes(plan_budget) << " (persistent block "
            << format_iec_bytes(search.store().total_bytes()) << " + step arena) = memory budget "
            << format_iec_bytes(budget) << " - unplanned " << format_iec_bytes(unplanned) << "\n";
  for (int64_t b = 1;; b = std::min(b * 2, a.max_batch)) {
    rows[b] = search.plan_for_budget(b, plan_budget);
    if (!rows[b].fits || b == a.max_batch) break;
  }
  // Throws Error(kOutOfBudget) naming what batch 1 needs when nothing fits.
  result.largest = search.find_batch_size(a.max_batch);
  rows[result.largest] = search.plan_for_budget(result.largest, plan_budget);
  if (result.largest < a.max_batch) {
    rows[result.largest + 1] = search.plan_for_budget(result.largest + 1, plan_budget);
  }
  return result;
}

void print_search(const SearchResult& search, int64_t max_batch) {
  std::printf("\n%8s  %14s  %-18s  %13s  %s\n", "batch", "predicted peak", "plan", "extra compute",
              "fits");
  for (const auto& [b, r] : search.rows) {
    std::printf("%8lld  %14s  %-18s  %13s  %s\n", static_cast<long long>(b),
                format_iec_bytes(r.predicted_bytes).c_str(), train::plan_kind_name(r.plan_kind),
                train::recomputes(r.plan_kind) ? percent(r.extra_compute_fraction).c_str() : "-",
                r.fits ? "yes" : "no (smallest plan)");
  }
  std::printf("Largest batch that fits: %lld%s\n", static_cast<long long>(search.largest),
              search.largest == max_batch ? " (the --max-batch limit)" : "");
}

// 2. Candidates: the largest and the powers of two below it, largest first.
std::vector<int64_t> candidate_batches(int64_t largest, int count) {
  std::vector<int64_t> candidates{largest};
  int64_t power = 1;
  while (power * 2 <= largest) power *= 2;
  if (power == largest) power /= 2;
  for (; power >= 1 && static_cast<int>(candidates.size()) < count; power /= 2) {
    candidates.push_back(power);
  }
  return candidates;
}

// Each candidate measured in a fresh process, printed against the whole budget. Each run plans
// under what the search planned with, so that it runs the plan in the table.
std::vector<Measured> measure_candidates(const FindBatchArgs& a,
                                         const std::vector<int64_t>& candidates,
                                         int64_t plan_budget, int64_t budget) {
  std::cout << "\nMeasuring " << candidates.size() << " candidate(s), each in a fresh process, "
            << a.steps << " steps on seeded random data (the first untimed)\n";
  std::fflush(stdout);
  std::vector<Measured> measured;
  for (const int64_t b : candidates) measured.push_back(measure_fresh(a, b, plan_budget));
  std::printf("%8s  %14s  %14s  %9s  %12s  %s\n", "batch", "predicted peak", "measured peak",
              "vs budget", "images/s", "plan");
  for (const Measured& m : measured) {
    std::printf(
        "%8lld  %14s  %14s  %+8.1f%%  %12.1f  %s\n", static_cast<long long>(m.batch),
        format_iec_bytes(m.predicted_bytes).c_str(), format_iec_bytes(m.measured_bytes).c_str(),
        100.0 * static_cast<double>(m.measured_bytes - budget) / static_cast<double>(budget),
        m.images_per_second, m.plan.c_str());
  }
  return measured;
}

// --out: memory (predicted, measured, the budget and its plans' share) and images/s against
// batch size.
void write_plot(const FindBatchArgs& a, const SearchResult& search,
                const std::vector<Measured>& measured, int64_t budget, int64_t plan_budget,
                int64_t unplanned) {
  const std::map<int64_t, train::BatchPlan>& rows = search.rows;
  const int64_t largest = search.largest;
  train::Chart memory_chart{.title = "memory against batch size",
                            .x_label = "batch size",
                            .y_label = "bytes",
                            .y_from_zero = true};
  train::Series predicted{.name = "predicted peak"}, limit{.name = "budget", .dashed = true};
  for (const auto& [b, r] : rows) {
    predicted.x.push_back(static_cast<double>(b));
    predicted.y.push_back(static_cast<double>(r.predicted_bytes));
  }
  limit.x = {predicted.x.front(), predicted.x.back()};
  limit.y = {static_cast<double>(budget), static_cast<double>(budget)};
  train::Series measured_series{.name = "measured peak"};
  train::Chart speed_chart{.title = "throughput against batch size",
                           .x_label = "batch size",
                           .y_label = "images/s",
                           .y_from_zero = true};
  train::Series speed{.name = "images/s (measured)"};
  std::vector<Measured> by_batch = measured;
  std::sort(by_batch.begin(), by_batch.end(),
            [](const Measured& l, const Measured& r) { return l.batch < r.batch; });
  for (const Measured& m : by_batch) {
    measured_series.x.push_back(static_cast<double>(m.batch));
    measured_series.y.push_back(static_cast<double>(m.measured_bytes));
    speed.x.push_back(static_cast<double>(m.batch));
    speed.y.push_back(m.images_per_second);
  }
  train::Series plan_limit{.name = "budget - unplanned", .dashed = true};
  plan_limit.x = limit.x;
  plan_limit.y = {static_cast<double>(plan_budget), static_cast<double>(plan_budget)};
  memory_chart.series = {predicted, measured_series, limit};
  if (unplanned > 0) memory_chart.series.push_back(plan_limit);
  memory_chart.markers.push_back({static_cast<double>(largest),
                                  "largest fit " + std::to_string(largest),
                                  static_cast<double>(rows.at(largest).predicted_bytes)});
  speed_chart.series = {speed};
  const std::vector<train::Chart> charts{memory_chart, speed_chart};
  train::write_svg(a.out, charts);
  std::cout << "Plot written to " << a.out << "\n";
}

// --report: the search and the measurements as JSON.
void write_report(const FindBatchArgs& a, const SearchResult& search,
                  const std::vector<Measured>& measured, int64_t budget, int64_t unplanned,
                  int64_t plan_budget, int64_t engine_bytes, bool pass) {
  nlohmann::json j;
  j["model"] = a.model;
  j["input"] = a.input;
  j["classes"] = a.classes;
  j["optimizer"] = a.optimizer;
  j["threads"] = a.threads;
  j["memory_budget_bytes"] = budget;
  j["unplanned_bytes"] = unplanned;
  j["plan_budget_bytes"] = plan_budget;
  j["engine_start_bytes"] = engine_bytes;
  for (const auto& [b, r] : search.rows) {
    j["search"].push_back({{"batch_size", b},
                           {"fits", r.fits},
                           {"plan", train::plan_kind_name(r.plan_kind)},
                           {"predicted_bytes", r.predicted_bytes},
                           {"persistent_bytes", r.persistent_bytes},
                           {"train_arena_bytes", r.train_arena_bytes},
                           {"eval_arena_bytes", r.eval_arena_bytes},
                           {"extra_compute", r.extra_compute_fraction}});
  }
  for (const Measured& m : measured) {
    j["candidates"].push_back({{"batch_size", m.batch},
                               {"plan", m.plan},
                               {"extra_compute", m.extra_compute},
                               {"predicted_bytes", m.predicted_bytes},
                               {"measured_peak_bytes", m.measured_bytes},
                               {"images_per_second", m.images_per_second}});
  }
  j["largest_batch_size"] = search.largest;
  j["pass"] = pass;
  write_file_atomically(a.report, j.dump(2) + "\n");
  std::cout << "Report written to " << a.report << "\n";
}

void run_find_batch(const FindBatchArgs& args) {
  const int64_t budget = checked_budget(args);
  const int64_t engine_bytes = runtime::start_engine(args.threads);
  if (args.measure_batch > 0) {  // a measuring child: one JSON line
    // Passed the parent's resolved --input and --classes: nothing built before measure().
    const Measured m = measure(args, args.measure_batch, budget);
    std::cout << nlohmann::json{{"measured", m.measured_bytes},
                                {"predicted", m.predicted_bytes},
                                {"images_per_second", m.images_per_second},
                                {"plan", m.plan},
                                {"extra_compute", m.extra_compute}}
                     .dump()
              << "\n";
    return;
  }
  const FindBatchArgs a = with_model_input(args);
  std::cout << "Engine started with " << a.threads << " threads (+"
            << memory::readable_bytes(engine_bytes) << " resident)\n";
  const int64_t unplanned = unplanned_bytes(a, budget);
  const int64_t plan_budget = budget - unplanned;
  LT_CHECK(plan_budget > 0, kOutOfBudget, "memory budget ", format_iec_bytes(budget),
           ": the memory the plan does not count (", format_iec_bytes(unplanned),
           ") takes all of it");
  const SearchResult search = search_batches(a, plan_budget, budget, unplanned);
  print_search(search, a.max_batch);
  const std::vector<Measured> measured =
      measure_candidates(a, candidate_batches(search.largest, a.candidates), plan_budget, budget);
  const Measured& winner = measured.front();
  const bool pass = winner.measured_bytes <= budget;
  std::printf(
      "%s: batch %lld measured peak %s %s the memory budget %s (predicted %s; measured is peak "
      "RSS minus RSS before building, so it also counts kernel objects, oneDNN's code and "
      "caches and the heap, which the plan does not)\n",
      pass ? "PASS" : "FAIL", static_cast<long long>(winner.batch),
      format_iec_bytes(winner.measured_bytes).c_str(), pass ? "is within" : "exceeds",
      format_iec_bytes(budget).c_str(), format_iec_bytes(winner.predicted_bytes).c_str());
  if (!a.out.empty()) write_plot(a, search, measured, budget, plan_budget, unplanned);
  if (!a.report.empty()) {
    write_report(a, search, measured, budget, unplanned, plan_budget, engine_bytes, pass);
  }
  LT_CHECK(pass, kOutOfBudget, "find-batch: batch ", winner.batch, " measured a peak of ",
           format_iec_bytes(winner.measured_bytes), ", over the memory budget ",
           format_iec_bytes(budget), " it was planned within (",
           format_iec_bytes(winner.predicted_bytes), " predicted)");
}

}  // namespace

void add_find_batch_command(CLI::App& app) {
  auto a = std::make_shared<FindBatchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "find-batch",
      "Find the largest batch size whose training plan fits a memory budget, then confirm it "
      "with real steps");
  cmd->add_option("--model", a->model, kModelHelp)->capture_default_str();
  cmd->add_option("--input", a->input, kInputHelp);
  cmd->add_option("--classes", a->classes, kClassesHelp);
  cmd->add_option("--alpha", a->alpha, "Width multiplier of MobileNet / MobileNetV2")
      ->capture_default_str();
  cmd->add_option("--memory-budget", a->memory_budget,
                  "Memory training may use (persistent block + step arena), e.g. 512MiB")
      ->required();
  cmd->add_option(
         "--unplanned", a->unplanned,
         "Memory the plan does not count (model, graphs, kernels), kept out of the "
         "plans' share of the budget: auto (the largest of three runs at batch 1) or bytes, e.g. "
         "0")
      ->capture_default_str();
  cmd->add_option("--measure-batch", a->measure_batch)->group("");  // internal: the measuring child
  cmd->add_option("--candidates", a->candidates,
                  "Batch sizes to measure: the largest that fits and the powers of two below it")
      ->capture_default_str();
  cmd->add_option("--steps", a->steps, "Training steps per candidate (the first is not timed)")
      ->capture_default_str();
  cmd->add_option("--max-batch", a->max_batch, "Largest batch size to consider")
      ->capture_default_str();
  cmd->add_option("--optimizer", a->optimizer, "adam, adamw or sgd (its state is persistent)")
      ->capture_default_str();
  cmd->add_option("--momentum", a->momentum, "SGD momentum")->capture_default_str();
  cmd->add_option("--threads", a->threads, "Threads")->capture_default_str();
  cmd->add_option("--kernels", a->kernels, "fast (oneDNN) or reference")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed of the weights and the synthetic data")
      ->capture_default_str();
  cmd->add_option("--out", a->out, "Write an SVG plot of memory and images/s against batch size");
  cmd->add_option("--report", a->report, "Write the search and the measurements as JSON");
  cmd->callback([a] { run_find_batch(*a); });
}

}  // namespace leantrain::cli

// `leantrain profile --model M [--input HxWxC] --batch-size N`: the memory of one training step
// (a zoo model on its default input unless --input, as `summary`), before any step runs: per-layer
// table, the peak and what is live there, an SVG timeline and a JSON report. `--compare-separable`
// profiles one convolution block three ways instead (Conv2D, SeparableConv2D, depthwise +
// pointwise) and plots them side by side.
#include <iostream>
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "leantrain/core/error.h"
#include "leantrain/core/file.h"
#include "leantrain/memory/allocator.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/nn/layers.h"
#include "leantrain/nn/sequential.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/memory_profile.h"
#include "leantrain/train/model_file.h"
#include "leantrain/train/plot.h"
#include "leantrain/train/trainer.h"

namespace leantrain::cli {
namespace {

struct ProfileArgs {
  std::string model = "cnn";
  std::string input;    // "": the zoo model's default (nn::zoo_defaults), or kSeparableInput
  int64_t classes = 0;  // 0: the zoo model's default, or kSeparableClasses
  int64_t batch_size = 32;
  float alpha = 1.0f;
  std::string optimizer = "adam";
  float momentum = 0;
  std::string out = "memory_profile.svg";
  std::string report;
  int top = 5;
  bool compare_separable = false;
  int64_t filters = 128;
  std::string memory_budget;  // e.g. 700MiB: profile the plan chosen under it
};

// --compare-separable's block without --input and --classes.
constexpr const char* kSeparableInput = "28x28x1";
constexpr int64_t kSeparableClasses = 10;

train::Optimizer make_optimizer(const ProfileArgs& a) {
  return cli::make_optimizer(a.optimizer, -1, a.momentum);
}

std::string optimizer_label(const ProfileArgs& a) {
  if (a.optimizer != "sgd") return a.optimizer == "adam" ? "Adam" : "AdamW";
  return a.momentum > 0 ? "SGD momentum" : "SGD";
}

// Profiles `model`'s training step for the batch size (nothing runs: the program is compiled
// and planned only; the grow allocator leaves the arena's pages untouched).
train::MemoryProfile profile_of(const nn::Model& model, const ProfileArgs& a,
                                const std::string& title) {
  train::Trainer trainer(
      model,
      {.optimizer = make_optimizer(a),
       .allocator = {.mode = memory::AllocatorMode::kGrow},
       .memory_budget_bytes = a.memory_budget.empty() ? 0 : memory::parse_bytes(a.memory_budget)});
  runtime::Program& program = trainer.training_program(a.batch_size);
  if (!a.memory_budget.empty()) {
    const train::MemoryReport r = trainer.plan(a.batch_size);
    std::cout << "Plan under memory budget " << a.memory_budget << ": "
              << train::plan_kind_name(r.plan_kind);
    if (train::recomputes(r.plan_kind)) {
      std::cout << " (" << r.recomputed_stages << " stages recomputed, +"
                << static_cast<int>(100 * r.extra_compute_fraction + 0.5) << "% compute)";
    }
    std::cout << "\n";
  }
  return train::profile_memory(program, trainer.store().total_bytes(), title);
}

void profile_model(const ProfileArgs& a) {
  train::ModelRequest request = model_request(a.input, a.classes);
  request.zoo.alpha = static_cast<double>(a.alpha);
  const nn::Model model = train::resolve_model(a.model, request);
  // The shape the model was built with: a zoo model's default without --input, a model file's
  // own.
  const std::string title = model.name() + ", " + shape_arg(model.input_shape()) + ", batch " +
                            std::to_string(a.batch_size) + ", " + optimizer_label(a);
  const train::MemoryProfile p = profile_of(model, a, title);
  std::cout << p.table() << "\n" << p.peak_line(a.top);
  if (!a.out.empty()) {
    const train::Chart chart = p.timeline_chart();
    train::write_svg(a.out, std::span<const train::Chart>(&chart, 1));
    std::cout << "Timeline written to " << a.out << "\n";
  }
  if (!a.report.empty()) {
    write_file_atomically(a.report, p.to_json());
    std::cout << "Report written to " << a.report << "\n";
  }
}

// One block three ways on the same input, each followed by the same small head
// (GlobalAveragePooling2D, Dense classes) so that a loss can be trained.
void compare_separable(const ProfileArgs& a) {
  const std::string input_arg = a.input.empty() ? kSeparableInput : a.input;
  const int64_t classes = a.classes > 0 ? a.classes : kSeparableClasses;
  const Shape input = parse_shape(input_arg);
  LT_CHECK(a.filters > 0, kInvalidArgument, "--filters must be positive, got ", a.filters);
  const auto head = [&](std::vector<nn::LayerPtr> layers) {
    layers.push_back(nn::GlobalAveragePooling2D());
    layers.push_back(nn::Dense({.units = classes}));
    return layers;
  };
  struct Variant {
    std::string name;
    nn::Sequential model;
  };
  std::vector<Variant> variants;
  variants.push_back({"Conv2D 3x3", nn::Sequential(input,
                                                   head({nn::Conv2D({.filters = a.filters,
                                                                     .kernel_size = 3,
                                                                     .padding = "same",
                                                                     .use_bias = false}),
                                                         nn::BatchNormalization(), nn::ReLU()}),
                                                   "conv2d_block")});
  variants.push_back(
      {"SeparableConv2D 3x3",
       nn::Sequential(
           input,
           head(
               {nn::SeparableConv2D(
                    {.filters = a.filters, .kernel_size = 3, .padding = "same", .use_bias = false}),
                nn::BatchNormalization(), nn::ReLU()}),
           "separable_block")});
  variants.push_back(
      {"Depthwise 3x3 + BN + ReLU + pointwise 1x1",
       nn::Sequential(
           input,
           head({nn::DepthwiseConv2D({.kernel_size = 3, .padding = "same", .use_bias = false}),
                 nn::BatchNormalization(), nn::ReLU(),
                 nn::Conv2D({.filters = a.filters, .kernel_size = 1, .use_bias = false}),
                 nn::BatchNormalization(), nn::ReLU()}),
           "depthwise_pointwise_block")});

  train::Chart timelines;
  timelines.title = "Live bytes across one training step";
  timelines.x_label = "step (node in schedule order)";
  timelines.y_label = "persistent + live arena bytes";
  timelines.y_from_zero = true;
  timelines.width = 560;
  train::Chart bars;
  bars.title = "Memory by kind";
  bars.y_label = "bytes";
  bars.categories = {"persistent", "kept for backward", "planned arena", "step total"};
  bars.width = 560;

  std::cout << "Conv2D vs SeparableConv2D: input " << input_arg << ", " << a.filters
            << " filters, 3x3, batch " << a.batch_size << ", " << optimizer_label(a) << "\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-44s %12s %14s %12s %12s %12s\n", "Block", "Params",
                "Weights+grads", "Kept", "Arena", "Step total");
  std::cout << line;
  std::string json = "[";
  for (const Variant& v : variants) {
    const std::string title = v.name + ", " + input_arg + ", batch " + std::to_string(a.batch_size);
    const train::MemoryProfile p = profile_of(v.model, a, title);
    int64_t kept = 0, persistent = 0;
    for (const train::LayerProfile& l : p.layers) {
      kept += l.kept_for_backward_bytes;
      persistent += l.persistent_bytes();
    }
    std::snprintf(line, sizeof line, "%-44s %12lld %14s %12s %12s %12s\n", v.name.c_str(),
                  static_cast<long long>(v.model.count_params(true) + v.model.count_params(false)),
                  memory::format_iec_bytes(persistent).c_str(),
                  memory::format_iec_bytes(kept).c_str(),
                  memory::format_iec_bytes(p.arena_bytes).c_str(),
                  memory::format_iec_bytes(p.peak_bytes()).c_str());
    std::cout << line;
    train::Series s{.name = v.name};
    for (size_t i = 0; i < p.steps.size(); ++i) {
      s.x.push_back(static_cast<double>(i));
      s.y.push_back(static_cast<double>(p.persistent_bytes + p.steps[i].live_bytes));
    }
    timelines.series.push_back(std::move(s));
    bars.series.push_back(
        {.name = v.name,
         .y = {static_cast<double>(persistent), static_cast<double>(kept),
               static_cast<double>(p.arena_bytes), static_cast<double>(p.peak_bytes())}});
    json += (json.size() > 1 ? ",\n" : "\n") + p.to_json();
  }
  json += "]\n";
  if (!a.out.empty()) {
    const std::vector<train::Chart> charts = {timelines, bars};
    train::write_svg(a.out, charts);
    std::cout << "Comparison written to " << a.out << "\n";
  }
  if (!a.report.empty()) {
    write_file_atomically(a.report, json);
    std::cout << "Report written to " << a.report << "\n";
  }
}

}  // namespace

void add_profile_command(CLI::App& app) {
  auto a = std::make_shared<ProfileArgs>();
  CLI::App* cmd = app.add_subcommand(
      "profile",
      "Print the memory of one training step per layer, its peak and what is live there, and "
      "plot live bytes across the step (nothing runs: the plan alone)");
  cmd->add_option("--model", a->model, kModelHelp)->capture_default_str();
  cmd->add_option("--input", a->input,
                  std::string(kInputHelp) + "; --compare-separable's block: " + kSeparableInput);
  cmd->add_option("--classes", a->classes,
                  std::string(kClassesHelp) +
                      "; --compare-separable's head: " + std::to_string(kSeparableClasses));
  cmd->add_option("--batch-size", a->batch_size, "Batch size of the step")->capture_default_str();
  cmd->add_option("--alpha", a->alpha, "Width multiplier of MobileNet / MobileNetV2")
      ->capture_default_str();
  cmd->add_option("--optimizer", a->optimizer, "adam, adamw or sgd (its state is persistent)")
      ->capture_default_str();
  cmd->add_option("--momentum", a->momentum, "SGD momentum (> 0 keeps a velocity per weight)")
      ->capture_default_str();
  cmd->add_option("--out", a->out, "SVG timeline to write (empty: none)")->capture_default_str();
  cmd->add_option("--report", a->report, "JSON report to write: every step, layer and tensor");
  cmd->add_option("--top", a->top, "Tensors to list live at the peak")->capture_default_str();
  cmd->add_option("--memory-budget", a->memory_budget,
                  "Profile the plan chosen under this budget, e.g. 700MiB (recomputed tensors "
                  "show in their column and phase)");
  cmd->add_flag("--compare-separable", a->compare_separable,
                "Instead of --model: profile a 3x3 Conv2D block against SeparableConv2D and "
                "depthwise + pointwise on --input (e.g. 56x56x64) with --filters outputs");
  cmd->add_option("--filters", a->filters, "Output channels of --compare-separable's block")
      ->capture_default_str();
  cmd->callback([a] {
    LT_CHECK(a->batch_size > 0, kInvalidArgument, "--batch-size must be positive, got ",
             a->batch_size);
    LT_CHECK(a->classes >= 0, kInvalidArgument, "--classes must be positive, got ", a->classes);
    if (a->compare_separable) {
      compare_separable(*a);
    } else {
      profile_model(*a);
    }
  });
}

}  // namespace leantrain::cli

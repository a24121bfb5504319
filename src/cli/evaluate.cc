// `leantrain evaluate`: a saved model's loss and metrics on the held-out part of --data (or all
// of it), as Keras' model.evaluate reports them.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/inference.h"

namespace leantrain::cli {
namespace {

void run_evaluate(const InferenceArgs& a) {
  const std::unique_ptr<LoadedModel> m = load_model_on_data(a, train::Inference::kEvaluate);
  const auto start = std::chrono::steady_clock::now();
  const train::EvalResult result = m->part.images.has_value()
                                       ? m->trainer->evaluate(*m->part.images, a.data.batch_size)
                                       : m->trainer->evaluate(*m->part.dataset);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Keras' order: the loss, then the compiled metrics.
  char buf[64];
  std::snprintf(buf, sizeof buf, "loss: %.4f", result.loss());
  std::string line = buf;
  for (const auto& [name, value] : result.logs) {
    if (name == "loss") continue;
    std::snprintf(buf, sizeof buf, " - %s: %.4f", name.c_str(), value);
    line += buf;
  }
  std::cout << line << "\n";
  print_speed_and_memory(*m, result.examples, seconds);
}

}  // namespace

void add_evaluate_command(CLI::App& app) {
  auto a = std::make_shared<InferenceArgs>();
  a->data.shuffle = false;
  CLI::App* cmd = app.add_subcommand(
      "evaluate",
      "Evaluate a saved model: loss and accuracy on the test split of fashion-mnist, the "
      "--validation-split part, or all of --data");
  add_inference_options(*cmd, *a);
  cmd->callback([a] { run_evaluate(*a); });
}

}  // namespace leantrain::cli

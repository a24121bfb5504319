// `leantrain summary --model cnn`: the layer table and the memory plan, before any step runs.
// --model takes a zoo name or a model file, as `train` does.
#include <iostream>

#include "cli/commands.h"
#include "leantrain/memory/planner.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/model_file.h"
#include "leantrain/train/trainer.h"

namespace leantrain::cli {

void add_summary_command(CLI::App& app) {
  struct Args {
    std::string model = "cnn";
    std::string input;    // "": the zoo model's default (nn::zoo_defaults)
    int64_t classes = 0;  // 0: the zoo model's default
    int64_t batch_size = 128;
    bool show_plan = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("summary", "Print a model's layers and memory plan");
  cmd->add_option("--model", args->model, kModelHelp)->capture_default_str();
  cmd->add_option("--input", args->input, kInputHelp);
  cmd->add_option("--classes", args->classes, kClassesHelp);
  cmd->add_option("--batch-size", args->batch_size, "Batch size to plan for")
      ->capture_default_str();
  cmd->add_flag("--show-plan", args->show_plan,
                "Also print the training step's arena: every buffer's offset and lifetime");
  cmd->callback([args] {
    const nn::Model model =
        train::resolve_model(args->model, model_request(args->input, args->classes));
    train::Trainer trainer(model, {});
    const auto layer_memory = trainer.layer_memory(args->batch_size);
    std::cout << model.summary(&layer_memory);
    std::cout << "\n" << trainer.plan(args->batch_size).to_string();
    if (args->show_plan) {
      const graph::GraphMemoryPlan& plan = trainer.training_program(args->batch_size).plan();
      std::cout << "\nTraining step arena (steps are nodes in schedule order):\n"
                << memory::format_plan(plan.slots.slots, plan.plan);
    }
  });
}

}  // namespace leantrain::cli

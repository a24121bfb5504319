// The verbs of the `leantrain` command, one file each.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "leantrain/core/error.h"
#include "leantrain/core/shape.h"
#include "leantrain/train/model_file.h"
#include "leantrain/train/trainer.h"

namespace leantrain::cli {

// Registers `train` / `summary` on `app`; the returned callbacks run after parsing.
void add_train_command(CLI::App& app);
void add_summary_command(CLI::App& app);
// Registers `export-images` (a dataset written as a class-folder tree of JPEG/PNG files) and
// `data-bench` (the input pipeline iterated without training; throughput and memory).
void add_export_images_command(CLI::App& app);
void add_data_bench_command(CLI::App& app);
// Registers `profile`: the memory of one training step per layer, its peak and a timeline plot.
void add_profile_command(CLI::App& app);
// Registers `find-batch`: the largest batch whose plan fits a memory budget, searched
// analytically and confirmed by measured steps.
void add_find_batch_command(CLI::App& app);
// Registers `evaluate` (a saved model's loss and metrics on data) and `predict` (its class
// probabilities per image, to .csv or .npy).
void add_evaluate_command(CLI::App& app);
void add_predict_command(CLI::App& app);

// The help of --model, which every verb resolves with train::resolve_model.
inline constexpr const char* kModelHelp =
    "A zoo model (cnn, mobilenet, mobilenet_v2, efficientnet_b0) or a model file (.safetensors "
    "written by leantrain, or a Keras model.to_json() .json)";

// Creates and returns <project>/<name>, or <name>2, <name>3, ... when taken (runs/train/exp,
// runs/train/exp2, ...). Throws Error(kIo) naming the directory when it cannot be created.
std::string make_run_dir(const std::string& project, const std::string& name);

// A CLI11 check accepting what `parse` (a library function that throws leantrain::Error for
// text it does not accept) accepts, and failing with that Error's message, which names the text
// and the accepted values: the flag and the library accept the same names, written once.
template <typename Parse>
CLI::Validator parsed_by(Parse parse) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        try {
          parse(text);
          return {};
        } catch (const Error& e) {
          return e.what();
        }
      },
      "");
}

// Parses "28x28x1" into a shape; throws Error(kInvalidArgument) naming the text.
Shape parse_shape(const std::string& text);
// Formats a shape as --input takes it: "224x224x3".
std::string shape_arg(const Shape& shape);

// The help of --input and --classes of the verbs that build a zoo model (summary, profile,
// find-batch), and the request they build it with: an empty input and classes <= 0 leave the
// model's own (nn::zoo_defaults). Throws Error(kInvalidArgument) for a bad shape.
inline constexpr const char* kInputHelp =
    "Input shape HxWxC of a zoo model (default: 28x28x1 for cnn, Keras Applications' 224x224x3 "
    "for the others)";
inline constexpr const char* kClassesHelp =
    "Output classes of a zoo model (default: 10 for cnn, 1000 for the others)";
train::ModelRequest model_request(const std::string& input, int64_t classes);

// The optimizer a --optimizer flag names (adam, adamw, sgd) with Keras' defaults, except
// learning_rate when > 0 and, for sgd, momentum and nesterov. Throws Error(kInvalidArgument)
// listing the names otherwise.
train::Optimizer make_optimizer(const std::string& name, float learning_rate = -1,
                                float momentum = 0, bool nesterov = false);

// The loss a model is trained and evaluated with: sparse categorical crossentropy, from logits
// unless the model ends in a softmax.
train::Loss make_loss(const nn::Model& model);

// The model's part of --memory-budget `memory_budget` (e.g. "512MiB"; memory::parse_bytes):
// the whole minus the input pipeline's `pipeline_bytes`, which it covers too. Throws what
// parse_bytes throws for a bad size, Error(kOutOfBudget) naming both when the pipeline alone
// takes the budget.
int64_t model_budget_bytes(const std::string& memory_budget, int64_t pipeline_bytes);

// "Predicted peak memory: ... (persistent ... + arena ... + input pipeline ... + programs and
// kernels ...)", the line every verb that runs a model prints before its first batch.
void print_predicted_peak(const train::MemoryReport& plan, std::ostream& out);

}  // namespace leantrain::cli

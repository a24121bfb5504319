// What `evaluate` and `predict` share: their flags, and a saved model loaded and planned on the
// held-out part of --data (or all of it) under --memory-budget, before the first batch.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "cli/input_data.h"
#include "leantrain/train/memory_report.h"
#include "leantrain/train/trainer.h"

namespace leantrain::cli {

struct InferenceArgs {
  std::string model;          // a .safetensors written by train, or a Keras .json with --weights
  std::string weights;        // safetensors weights for a .json model
  DataArgs data;              // shuffle off: rows come in the data's order
  std::string memory_budget;  // e.g. 512MiB; empty: none
  int threads = 2;
};

// Registers --model, --weights, the data flags, --batch-size, --seed, --memory-budget and
// --threads on `cmd`, into `a`.
void add_inference_options(CLI::App& cmd, InferenceArgs& a);

// A saved model ready to run on the data: the engine started, the data loaded and described,
// the model loaded with its weights, and its `step` program compiled and planned under the
// budget; the plan's predicted peak has been printed.
struct LoadedModel {
  InputData in;
  HeldOutOrAll part;  // points into `in`
  std::unique_ptr<train::Trainer> trainer;
  train::MemoryReport plan;
  int64_t baseline_rss_bytes = 0;  // resident set before the model was built
  bool peak_reset = false;         // whether the peak counter was reset then
};

// Throws Error(kInvalidArgument) for a --model that is not a model file (or a .json without
// --weights), what load_input_data, train::resolve_model and Trainer::load_weights throw, and
// Error(kOutOfBudget) when the step's program does not fit --memory-budget.
std::unique_ptr<LoadedModel> load_model_on_data(const InferenceArgs& a, train::Inference step);

// "<images> images in <s> s (<n> images/s); peak memory: predicted X, measured Y (...)".
void print_speed_and_memory(const LoadedModel& m, int64_t images, double seconds);

}  // namespace leantrain::cli

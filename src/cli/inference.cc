#include "cli/inference.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "leantrain/core/error.h"
#include "leantrain/memory/arena.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/memory/process_memory.h"
#include "leantrain/runtime/engine.h"
#include "leantrain/train/model_file.h"

namespace leantrain::cli {
namespace {

// The weights file of --model / --weights. Throws Error(kInvalidArgument) unless --model is a
// model file and, for a .json, --weights is given.
std::string weights_path(const InferenceArgs& a) {
  const std::string extension = std::filesystem::path(a.model).extension().string();
  LT_CHECK(extension == ".safetensors" || extension == ".json", kInvalidArgument, "--model '",
           a.model,
           "' is not a saved model: give a .safetensors written by leantrain train (e.g. "
           "runs/train/exp/weights/best.safetensors), or a Keras .json with --weights FILE");
  if (!a.weights.empty()) return a.weights;
  LT_CHECK(extension == ".safetensors", kInvalidArgument, "--model ", a.model,
           " holds an architecture but no weights: pass --weights FILE.safetensors");
  return a.model;
}

}  // namespace

void add_inference_options(CLI::App& cmd, InferenceArgs& a) {
  cmd.add_option("--model", a.model,
                 "A saved model: a .safetensors written by leantrain train (architecture and "
                 "weights), or a Keras model.to_json() .json with --weights")
      ->required();
  cmd.add_option("--weights", a.weights,
                 "Weights (.safetensors) for a .json model, or instead of a .safetensors "
                 "model's own");
  add_data_options(cmd, a.data);
  cmd.add_option("--batch-size", a.data.batch_size, "Batch size")->capture_default_str();
  cmd.add_option("--seed", a.data.seed,
                 "dir: with --validation-split, the seed of the split (train's --seed)")
      ->capture_default_str();
  cmd.add_option("--memory-budget", a.memory_budget,
                 "Memory the run may use (persistent block, step arena and the input "
                 "pipeline's buffers), e.g. 512MiB; fails before the first batch when the "
                 "program does not fit");
  cmd.add_option("--threads", a.threads, "Threads")->capture_default_str();
}

std::unique_ptr<LoadedModel> load_model_on_data(const InferenceArgs& a, train::Inference step) {
  const std::string weights = weights_path(a);
  const int64_t engine_bytes = runtime::start_engine(a.threads);
  auto m = std::make_unique<LoadedModel>();
  m->in = load_input_data(a.data, std::cout);
  m->part = held_out_or_all(m->in);
  const HeldOutOrAll& part = m->part;
  std::cout << m->in.description << ", " << part.name << ": "
            << (part.images.has_value() ? std::to_string(part.images->count) + " images"
                                        : "streamed (" + part.dataset->describe() + ")")
            << ", " << m->in.image_shape.to_string() << "\n"
            << "Engine started with " << a.threads << " threads (+"
            << memory::readable_bytes(engine_bytes) << " resident)\n";
  m->baseline_rss_bytes = memory::current_rss_bytes();
  m->peak_reset = memory::reset_peak_rss();
  const nn::Model model = train::resolve_model(a.model);
  const int64_t pipeline = part.images.has_value()
                               ? data::Batcher::bytes_for(part.images->count)
                               : std::max<int64_t>(0, part.dataset->max_buffered_bytes());
  // Evaluation updates nothing: SGD without momentum declares no optimizer state.
  m->trainer = std::make_unique<train::Trainer>(
      model, train::CompileOptions{
                 .optimizer = train::SGD(),
                 .loss = make_loss(model),
                 .seed = a.data.seed,
                 .memory_budget_bytes =
                     a.memory_budget.empty() ? 0 : model_budget_bytes(a.memory_budget, pipeline)});
  m->trainer->load_weights(weights);
  m->plan = part.images.has_value() ? m->trainer->plan(step, a.data.batch_size, part.images->count)
                                    : m->trainer->plan(step, *part.dataset);
  std::cout << "Model '" << model.name() << "' from " << a.model << ": " << model.count_params(true)
            << " parameters\n";
  print_predicted_peak(m->plan, std::cout);
  return m;
}

void print_speed_and_memory(const LoadedModel& m, int64_t images, double seconds) {
  const int64_t peak = memory::peak_rss_bytes();
  const int64_t measured = peak - m.baseline_rss_bytes;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%lld images in %.2f s (%.0f images/s); peak memory: predicted %s, measured %s "
                "(peak RSS %s minus %s before the model was built%s)\n",
                static_cast<long long>(images), seconds,
                seconds > 0 ? static_cast<double>(images) / seconds : 0.0,
                memory::readable_bytes(m.plan.predicted_peak_bytes).c_str(),
                memory::readable_bytes(measured).c_str(), memory::readable_bytes(peak).c_str(),
                memory::readable_bytes(m.baseline_rss_bytes).c_str(),
                m.peak_reset ? "" : "; peak counter could not be reset, so data loading may count");
  std::cout << buf;
}

}  // namespace leantrain::cli

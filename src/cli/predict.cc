// `leantrain predict`: a saved model's class probabilities for each image of the held-out part
// of --data (or all of it), in the data's order, written atomically as CSV or .npy.
#include <chrono>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/inference.h"
#include "leantrain/core/error.h"
#include "leantrain/core/file.h"
#include "leantrain/core/npy.h"
#include "leantrain/train/probabilities.h"

namespace leantrain::cli {
namespace {

struct PredictArgs {
  InferenceArgs inference;
  std::string output;
};

enum class OutputFormat { kCsv, kNpy };

// The format --output names by its extension. Throws Error(kInvalidArgument) naming the path
// for another extension or an existing directory, Error(kNotFound) when its directory does not
// exist: checked before any data or model is loaded.
OutputFormat output_format(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const std::string extension = p.extension().string();
  LT_CHECK(extension == ".csv" || extension == ".npy", kInvalidArgument, "--output ", path,
           ": unknown extension '", extension,
           "'; use .csv (a header class_0,... and one row per image) or .npy (float32, shape "
           "(images, classes))");
  const fs::path directory = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  LT_CHECK(fs::is_directory(directory), kNotFound, "--output ", path, ": directory ",
           directory.string(), " does not exist; create it or write elsewhere");
  LT_CHECK(!fs::is_directory(p), kInvalidArgument, "--output ", path,
           " is a directory; name a file in it, e.g. ", (p / "predictions.csv").string());
  return extension == ".csv" ? OutputFormat::kCsv : OutputFormat::kNpy;
}

// A header class_0,...,class_{C-1}, then one line per image; each value printed with 9
// significant digits, enough to read back the same float.
std::string to_csv(const std::vector<float>& values, int64_t classes) {
  std::string out;
  for (int64_t c = 0; c < classes; ++c) out += (c > 0 ? ",class_" : "class_") + std::to_string(c);
  out += "\n";
  char buf[32];
  for (size_t i = 0; i < values.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(values[i]));
    out += buf;
    out += (static_cast<int64_t>(i + 1) % classes == 0) ? '\n' : ',';
  }
  return out;
}

void run_predict(const PredictArgs& args) {
  const OutputFormat format = output_format(args.output);
  const InferenceArgs& a = args.inference;
  const std::unique_ptr<LoadedModel> m = load_model_on_data(a, train::Inference::kPredict);
  const auto start = std::chrono::steady_clock::now();
  std::vector<float> values = m->part.images.has_value()
                                  ? m->trainer->predict(*m->part.images, a.data.batch_size)
                                  : m->trainer->predict(*m->part.dataset);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const nn::Model& model = m->trainer->model();
  train::as_probabilities(model, values);
  const int64_t classes = model.output_shape().num_elements();
  const int64_t rows = static_cast<int64_t>(values.size()) / classes;
  if (format == OutputFormat::kCsv) {
    write_file_atomically(args.output, to_csv(values, classes));
  } else {
    write_npy_f32(args.output, values, rows, classes);
  }
  print_speed_and_memory(*m, rows, seconds);
  std::cout << "Wrote " << rows << " rows of " << classes << " class probabilities to "
            << args.output << "\n";
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto a = std::make_shared<PredictArgs>();
  a->inference.data.shuffle = false;
  CLI::App* cmd = app.add_subcommand(
      "predict",
      "Write a saved model's class probabilities for each image (the test split of "
      "fashion-mnist, the --validation-split part, or all of --data), in the data's order");
  add_inference_options(*cmd, a->inference);
  cmd->add_option("--output", a->output,
                  "preds.csv (header class_0,..., one row per image) or preds.npy (float32, "
                  "shape (images, classes)); written atomically")
      ->required();
  cmd->callback([a] { run_predict(*a); });
}

}  // namespace leantrain::cli

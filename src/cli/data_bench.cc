// `leantrain data-bench`: runs the input pipeline over an image folder without training, as
// tfds.benchmark does: every batch is written into one reusable float buffer (the slot a training
// step would read) and nothing else happens to it. Prints throughput, the first batch's latency,
// the process's peak resident memory and the pipeline's own buffer figures.
//
// The pipeline is the one `leantrain train --data dir:PATH` trains on (data::image_folder_dataset:
// Keras' file order, shuffle buffer of 8 batches, deterministic parallel map, batch, autotuned
// prefetch) with the decode, resize, optional random flip and optional normalization fused into
// one decode_resize_to_float call per image; values 0..255 unless --normalize.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "leantrain/core/error.h"
#include "leantrain/core/file.h"
#include "leantrain/data/dataset.h"
#include "leantrain/data/image_folder.h"
#include "leantrain/memory/bytes.h"
#include "leantrain/memory/process_memory.h"

namespace leantrain::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchArgs {
  std::string data;
  std::string image_size = "224x224";
  int64_t batch_size = 64;
  std::string augment = "none";
  int64_t threads = 2;  // map workers; 0: the consumer's thread; -1: AUTOTUNE
  int64_t epochs = 1;
  uint64_t seed = 0;
  std::string color_mode = "rgb";
  bool normalize = false;
  bool antialias = false;
  std::string on_error = "raise";
  std::string report;
};

struct EpochFigures {
  int64_t images = 0, batches = 0;
  double seconds = 0, first_batch_seconds = 0;
  data::PipelineStats stats;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double per_second(double count, double seconds) { return seconds > 0 ? count / seconds : 0.0; }

// The directory of a --data dir:PATH; throws kInvalidArgument / kUnimplemented otherwise.
std::string directory_of(const std::string& data) {
  LT_CHECK(!data.empty(), kInvalidArgument, "--data is required, e.g. --data dir:images/train");
  LT_CHECK(data.starts_with("dir:") && data.size() > 4, kUnimplemented, "--data '", data,
           "' is not supported by data-bench; use --data dir:PATH (a class-folder tree, as "
           "`leantrain export-images` writes)");
  return data.substr(4);
}

nlohmann::json stats_json(const data::PipelineStats& s) {
  nlohmann::json stages = nlohmann::json::array();
  for (const data::StageStats& st : s.stages) {
    stages.push_back({{"name", st.name},
                      {"capacity_elements", st.capacity_elements},
                      {"bound_bytes", st.bound_bytes},
                      {"parallelism", st.parallelism}});
  }
  return {{"peak_buffered_bytes", s.peak_buffered_bytes},
          {"max_buffered_bytes", s.max_buffered_bytes},
          {"wait_seconds", s.wait_seconds},
          {"skipped", s.skipped},
          {"skipped_reasons", s.skipped_reasons},
          {"stages", stages}};
}

// The pipeline --data and its flags ask for; throws kInvalidArgument naming a bad flag.
data::ImageFolderPipeline pipeline_options(const BenchArgs& a) {
  const Shape size = parse_shape(a.image_size);
  LT_CHECK(size.rank() == 2, kInvalidArgument, "--image-size '", a.image_size,
           "' must be HxW, e.g. 224x224");
  LT_CHECK(a.batch_size >= 1, kInvalidArgument, "--batch-size must be >= 1, got ", a.batch_size);
  LT_CHECK(a.epochs >= 1, kInvalidArgument, "--epochs must be >= 1, got ", a.epochs);
  LT_CHECK(a.threads >= -1, kInvalidArgument, "--threads must be >= 0, or -1 for AUTOTUNE; got ",
           a.threads);
  LT_CHECK(a.augment == "none" || a.augment == "flip", kInvalidArgument, "--augment '", a.augment,
           "' is not supported; use none or flip");
  LT_CHECK(a.color_mode == "rgb" || a.color_mode == "grayscale", kInvalidArgument, "--color-mode '",
           a.color_mode, "' is not supported; use rgb or grayscale");
  LT_CHECK(a.on_error == "raise" || a.on_error == "skip", kInvalidArgument, "--on-error '",
           a.on_error, "' is not supported; use raise or skip");
  data::ImageFolderPipeline p;
  p.height = size[0];
  p.width = size[1];
  p.channels = a.color_mode == "rgb" ? 3 : 1;
  p.batch_size = a.batch_size;
  p.seed = a.seed;
  p.threads = a.threads;
  p.flip = a.augment == "flip";
  p.antialias = a.antialias;
  p.on_error = a.on_error == "skip" ? data::OnError::kSkip : data::OnError::kRaise;
  p.affine = data::PixelAffine::rescale(1.0f);  // 0..255, as image_dataset_from_directory
  if (a.normalize) {
    // torchvision's ImageNet mean and std, after scaling to [0, 1].
    static const float kMean[] = {0.485f, 0.456f, 0.406f}, kStd[] = {0.229f, 0.224f, 0.225f};
    p.affine = p.channels == 3
                   ? data::PixelAffine::normalize(kMean, kStd)
                   : data::PixelAffine::normalize(std::span(kMean, 1), std::span(kStd, 1));
  }
  return p;
}

// Iterates `ds` for a.epochs epochs into one reusable batch slot, printing a line per epoch.
std::vector<EpochFigures> run_epochs(const data::Dataset& ds, const data::ImageFolderPipeline& p,
                                     bool labelled, const BenchArgs& a) {
  // (batch, height, width, channels) f32 and (batch) i32: the slots a training step would read.
  const int64_t batch = p.batch_size;
  std::vector<float> images(static_cast<size_t>(batch * p.height * p.width * p.channels));
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  data::BatchDestination dst{
      {"image", TensorView(images.data(), Shape{batch, p.height, p.width, p.channels})}};
  if (labelled) dst.emplace("label", TensorView(labels.data(), Shape{batch}));

  std::vector<EpochFigures> epochs;
  for (int64_t epoch = 0; epoch < a.epochs; ++epoch) {
    EpochFigures f;
    const Clock::time_point epoch_start = Clock::now();
    data::Iterator it = ds.iterate(epoch);
    while (const int64_t rows = it.next_batch_into(dst)) {
      if (f.batches == 0) f.first_batch_seconds = seconds_since(epoch_start);
      f.images += rows;
      ++f.batches;
    }
    f.seconds = seconds_since(epoch_start);
    f.stats = it.stats();
    char line[256];
    std::snprintf(line, sizeof line,
                  "Epoch %lld: %lld images in %lld batches, %.3f s: %.1f images/s, %.2f "
                  "batches/s, first batch after %.3f s\n",
                  static_cast<long long>(epoch + 1), static_cast<long long>(f.images),
                  static_cast<long long>(f.batches), f.seconds,
                  per_second(static_cast<double>(f.images), f.seconds),
                  per_second(static_cast<double>(f.batches), f.seconds), f.first_batch_seconds);
    std::cout << line;
    epochs.push_back(std::move(f));
  }
  return epochs;
}

// The whole run: the epochs' sums and peaks, and the process's memory around them.
struct RunFigures {
  int64_t images = 0, batches = 0, skipped = 0, peak_buffered = 0, max_buffered = 0;
  double seconds = 0, wait_seconds = 0;
  int64_t baseline_rss = 0, peak_rss = 0, current_rss = 0;
  bool peak_reset = false;
};

RunFigures totals(const std::vector<EpochFigures>& epochs, double seconds) {
  RunFigures r;
  r.seconds = seconds;
  for (const EpochFigures& f : epochs) {
    r.images += f.images;
    r.batches += f.batches;
    r.skipped += f.stats.skipped;
    r.peak_buffered = std::max(r.peak_buffered, f.stats.peak_buffered_bytes);
    r.max_buffered = std::max(r.max_buffered, f.stats.max_buffered_bytes);
    r.wait_seconds += f.stats.wait_seconds;
  }
  return r;
}

void print_totals(const RunFigures& r, const data::ImageFolderPipeline& p,
                  const std::vector<EpochFigures>& epochs) {
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "Total: %lld images, %lld batches of %lld (%lldx%lldx%lld f32), %.3f s: %.1f "
                "images/s, %.2f batches/s; first batch after %.3f s\n"
                "Pipeline buffers: peak %s, bound %s (max buffered bytes); consumer waited "
                "%.3f s; %lld skipped\n"
                "Peak RSS: %s (%s before the pipeline, %s at the end%s)\n",
                static_cast<long long>(r.images), static_cast<long long>(r.batches),
                static_cast<long long>(p.batch_size), static_cast<long long>(p.height),
                static_cast<long long>(p.width), static_cast<long long>(p.channels), r.seconds,
                per_second(static_cast<double>(r.images), r.seconds),
                per_second(static_cast<double>(r.batches), r.seconds),
                epochs.front().first_batch_seconds,
                memory::format_iec_bytes(r.peak_buffered).c_str(),
                memory::format_iec_bytes(r.max_buffered).c_str(), r.wait_seconds,
                static_cast<long long>(r.skipped), memory::format_iec_bytes(r.peak_rss).c_str(),
                memory::format_iec_bytes(r.baseline_rss).c_str(),
                memory::format_iec_bytes(r.current_rss).c_str(),
                r.peak_reset ? "" : "; the peak counter could not be reset, so it covers startup");
  std::cout << buf;
  for (const std::string& reason : epochs.back().stats.skipped_reasons) {
    std::cout << "  skipped: " << reason << "\n";
  }
}

void write_report(const BenchArgs& a, const data::ImageFolderPipeline& p, int64_t files,
                  const std::string& description, const std::vector<EpochFigures>& epochs,
                  const RunFigures& r) {
  nlohmann::json per_epoch = nlohmann::json::array();
  for (const EpochFigures& f : epochs) {
    per_epoch.push_back(
        {{"images", f.images},
         {"batches", f.batches},
         {"seconds", f.seconds},
         {"images_per_second", per_second(static_cast<double>(f.images), f.seconds)},
         {"batches_per_second", per_second(static_cast<double>(f.batches), f.seconds)},
         {"first_batch_seconds", f.first_batch_seconds},
         {"pipeline", stats_json(f.stats)}});
  }
  const nlohmann::json j{
      {"framework", "leantrain"},
      {"data", a.data},
      {"files", files},
      {"image_size", {p.height, p.width}},
      {"channels", p.channels},
      {"batch_size", p.batch_size},
      {"threads", a.threads},
      {"augment", a.augment},
      {"normalize", a.normalize},
      {"antialias", a.antialias},
      {"seed", a.seed},
      {"pipeline_description", description},
      {"epochs", a.epochs},
      {"images", r.images},
      {"batches", r.batches},
      {"seconds", r.seconds},
      {"images_per_second", per_second(static_cast<double>(r.images), r.seconds)},
      {"batches_per_second", per_second(static_cast<double>(r.batches), r.seconds)},
      {"first_batch_seconds", epochs.front().first_batch_seconds},
      {"peak_rss_bytes", r.peak_rss},
      {"peak_rss_reset", r.peak_reset},
      {"baseline_rss_bytes", r.baseline_rss},
      {"current_rss_bytes", r.current_rss},
      {"peak_buffered_bytes", r.peak_buffered},
      {"max_buffered_bytes", r.max_buffered},
      {"skipped", r.skipped},
      {"per_epoch", per_epoch}};
  write_file_atomically(a.report, j.dump(2) + "\n");
  std::cout << "Report written to " << a.report << "\n";
}

void run_bench(const BenchArgs& a) {
  const std::string directory = directory_of(a.data);
  const data::ImageFolderPipeline p = pipeline_options(a);
  const int64_t baseline_rss = memory::current_rss_bytes();
  const bool peak_reset = memory::reset_peak_rss();
  // The index lives only until the dataset holds its paths (compactly): the file list is the one
  // thing that grows with the dataset.
  const data::ImageFolderData folder = data::image_folder_datasets(directory, p);
  memory::release_free_heap_memory();  // what indexing freed
  std::cout << "Pipeline: " << folder.train.describe() << "\n";

  const Clock::time_point start = Clock::now();
  const std::vector<EpochFigures> epochs = run_epochs(folder.train, p, folder.labelled, a);
  RunFigures r = totals(epochs, seconds_since(start));
  r.peak_rss = memory::peak_rss_bytes();
  r.current_rss = memory::current_rss_bytes();
  r.baseline_rss = baseline_rss;
  r.peak_reset = peak_reset;
  print_totals(r, p, epochs);
  if (!a.report.empty()) {
    write_report(a, p, folder.train_count, folder.train.describe(), epochs, r);
  }
}

}  // namespace

void add_data_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "data-bench", "Iterate the input pipeline without training and report its throughput");
  cmd->add_option("--data", a->data, "dir:PATH, a class-folder tree of JPEG/PNG images")
      ->required();
  cmd->add_option("--image-size", a->image_size, "HxW the images are resized to")
      ->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "Batch size")->capture_default_str();
  cmd->add_option("--augment", a->augment, "none or flip (random horizontal flip)")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads,
                  "Decoding workers (map num_parallel_calls; 0: none, -1: AUTOTUNE)")
      ->capture_default_str();
  cmd->add_option("--epochs", a->epochs, "Passes over the data")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed of the file order, shuffle and flips")
      ->capture_default_str();
  cmd->add_option("--color-mode", a->color_mode, "rgb or grayscale")->capture_default_str();
  cmd->add_flag("--normalize", a->normalize,
                "Normalize with ImageNet's mean and std after scaling to [0, 1]");
  cmd->add_flag("--antialias", a->antialias, "Antialias when shrinking (PIL's bilinear)");
  cmd->add_option("--on-error", a->on_error, "A bad image: raise or skip")->capture_default_str();
  cmd->add_option("--report", a->report, "Write the figures as JSON to this file");
  cmd->callback([a] { run_bench(*a); });
}

}  // namespace leantrain::cli

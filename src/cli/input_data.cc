#include "cli/input_data.h"

#include <algorithm>
#include <charconv>
#include <iostream>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "leantrain/core/error.h"
#include "leantrain/data/image_folder.h"
#include "leantrain/data/resize_images.h"
#include "leantrain/data/sources.h"
#include "leantrain/data/synthetic.h"
#include "leantrain/memory/process_memory.h"

namespace leantrain::cli {
namespace {

constexpr const char* kDataForms =
    "fashion-mnist, idx:IMAGES,LABELS, dir:PATH, tfrecord:GLOB or synthetic:HxWxC:CLASSES";

struct Augment {
  bool flip = false, crop = false;
};

Augment parse_augment(const std::string& text) {
  Augment a;
  if (text.empty() || text == "none") return a;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == "flip") {
      a.flip = true;
    } else if (item == "crop") {
      a.crop = true;
    } else {
      throw Error(ErrorCode::kInvalidArgument, "--augment '" + text + "': unknown '" + item +
                                                   "'; use none, flip, crop or flip,crop");
    }
  }
  return a;
}

std::pair<int64_t, int64_t> parse_size(const std::string& text, const char* flag) {
  const Shape s = parse_shape(text);
  LT_CHECK(s.rank() == 2 && s[0] > 0 && s[1] > 0, kInvalidArgument, flag, " takes HxW, e.g. ",
           "224x224; got '", text, "'");
  return {s[0], s[1]};
}

// --image-size for files, which have no one size: 224x224 unless given.
std::pair<int64_t, int64_t> file_image_size(const DataArgs& a) {
  return parse_size(a.image_size.empty() ? "224x224" : a.image_size, "--image-size");
}

int64_t channels_of(const std::string& color_mode) {
  LT_CHECK(color_mode == "rgb" || color_mode == "grayscale", kInvalidArgument, "--color-mode '",
           color_mode, "' is not supported; use rgb or grayscale");
  return color_mode == "rgb" ? 3 : 1;
}

data::OnError on_error_of(const std::string& text) {
  LT_CHECK(text == "raise" || text == "skip", kInvalidArgument, "--on-error '", text,
           "' is not supported; use raise or skip");
  return text == "skip" ? data::OnError::kSkip : data::OnError::kRaise;
}

void check_flags(const DataArgs& a) {
  LT_CHECK(a.batch_size >= 1, kInvalidArgument, "--batch-size must be >= 1, got ", a.batch_size);
  LT_CHECK(a.threads >= -1, kInvalidArgument,
           "--data-threads must be >= 0, or -1 for AUTOTUNE; got ", a.threads);
  LT_CHECK(a.validation_split >= 0 && a.validation_split < 1, kInvalidArgument,
           "--validation-split must be in [0, 1), got ", a.validation_split);
}

// The images of fashion-mnist or idx:IMAGES,LABELS, split when asked.
data::TrainTest read_idx_images(const DataArgs& a, InputData& in) {
  const std::string& spec = a.data;
  if (spec == "fashion-mnist") {
    LT_CHECK(a.validation_split == 0, kInvalidArgument,
             "--validation-split does not apply to fashion-mnist, which validates on its test "
             "split; use --data idx:IMAGES,LABELS to split a file");
    in.validation_name = "test";
    in.description = "Fashion-MNIST";
    return data::load_fashion_mnist(a.data_dir);
  }
  const std::string files = spec.substr(4);
  const size_t comma = files.find(',');
  LT_CHECK(comma != std::string::npos && comma > 0 && comma + 1 < files.size(), kInvalidArgument,
           "--data '", spec, "': idx takes two files, idx:IMAGES,LABELS (gzip or not)");
  in.description = "IDX " + files;
  data::LabeledImages all = data::load_idx_images(files.substr(0, comma), files.substr(comma + 1));
  if (a.validation_split > 0) return data::split_validation_tail(all, a.validation_split);
  return {.train = std::move(all), .test = {}};
}

// fashion-mnist and idx:IMAGES,LABELS: held in memory, as datasets when augmented.
InputData load_in_memory(const DataArgs& a, const Augment& augment) {
  InputData in;
  data::TrainTest images = read_idx_images(a, in);
  LT_CHECK(!augment.crop, kInvalidArgument,
           "--augment crop needs images from files (dir: or tfrecord:); in-memory images take "
           "--augment flip");
  if (!a.image_size.empty()) {
    const auto [h, w] = parse_size(a.image_size, "--image-size");
    images.train = data::resize_images(images.train, h, w);
    if (images.test.count > 0) images.test = data::resize_images(images.test, h, w);
  }
  const data::LabeledImages& t = images.train;
  in.image_shape = Shape{t.height, t.width, t.channels};
  in.classes = std::max(t.num_classes, images.test.num_classes);
  in.train_count = t.count;
  if (!augment.flip) {
    in.images = std::move(images);
    return in;
  }
  in.train = data::randomly_flipped_images(images.train, a.batch_size, a.seed, a.threads);
  if (images.test.count > 0) {
    in.validation = data::labeled_images_dataset(images.test)
                        .map(data::scale_image_to_unit)
                        .batch(a.batch_size);
  }
  return in;
}

// dir:PATH: a class-folder tree, streamed.
InputData load_image_folder(const DataArgs& a, const Augment& augment, std::ostream& out) {
  const std::string directory = a.data.substr(4);
  LT_CHECK(!directory.empty(), kInvalidArgument, "--data dir: needs a directory, dir:PATH");
  const auto [h, w] = file_image_size(a);
  data::ImageFolderPipeline p;
  p.height = h;
  p.width = w;
  p.channels = channels_of(a.color_mode);
  p.batch_size = a.batch_size;
  p.seed = a.seed;
  p.threads = a.threads;
  p.on_error = on_error_of(a.on_error);
  p.flip = augment.flip;
  p.random_resized_crop = augment.crop;
  p.shuffle = a.shuffle;
  const std::optional<double> split =
      a.validation_split > 0 ? std::optional<double>(a.validation_split) : std::nullopt;
  data::ImageFolderData folder = data::image_folder_datasets(directory, p, split, &out);
  // The index's many small blocks are freed once the datasets hold the paths compactly.
  memory::release_free_heap_memory();
  InputData in;
  in.train = std::move(folder.train);
  in.validation = std::move(folder.validation);
  in.image_shape = Shape{h, w, p.channels};
  in.classes = folder.classes;
  in.train_count = folder.train_count;
  in.description = "image folder " + directory;
  return in;
}

std::vector<std::string> matching_files(const std::string& pattern) {
  std::vector<std::string> files;
  data::Iterator it = data::Dataset::list_files(pattern, /*shuffle=*/false).iterate(0);
  while (std::optional<data::Element> e = it.next()) files.push_back(e->string("path"));
  return files;
}

// tfrecord:GLOB: tf.train.Example image records, streamed.
InputData load_tfrecord(const DataArgs& a, const Augment& augment) {
  const std::string pattern = a.data.substr(9);
  LT_CHECK(!pattern.empty(), kInvalidArgument, "--data tfrecord: needs a glob, tfrecord:GLOB");
  LT_CHECK(a.validation_split == 0, kInvalidArgument,
           "--validation-split does not apply to tfrecord: (the record count is not known "
           "before reading); hold out files instead");
  LT_CHECK(!augment.crop, kInvalidArgument,
           "--augment crop is not available for tfrecord: yet; use --augment flip");
  const std::vector<std::string> files = matching_files(pattern);
  const auto [h, w] = file_image_size(a);
  data::ExampleImageOptions example;
  example.image.color_mode = a.color_mode;
  example.image.image_size = {h, w};
  const int64_t channels = channels_of(a.color_mode);
  InputData in;
  in.train = data::tfrecord_images(files, example,
                                   {.batch_size = a.batch_size,
                                    .seed = a.seed,
                                    .num_parallel_calls = a.threads,
                                    .on_error = on_error_of(a.on_error),
                                    .flip = augment.flip,
                                    .shuffle = a.shuffle});
  in.image_shape = Shape{h, w, channels};
  LT_CHECK(a.classes >= 1, kInvalidArgument,
           "--data tfrecord: needs --classes N (the records do not say how many there are)");
  in.classes = a.classes;
  in.description = "TFRecord " + pattern + " (" + std::to_string(files.size()) + " files)";
  return in;
}

// synthetic:HxWxC:CLASSES: seeded random images, generated.
InputData load_synthetic(const DataArgs& a) {
  const std::string& spec = a.data;
  const std::string rest = spec.substr(10);
  const size_t colon = rest.rfind(':');
  LT_CHECK(colon != std::string::npos && colon > 0, kInvalidArgument, "--data '", spec,
           "': use synthetic:HxWxC:CLASSES, e.g. synthetic:224x224x3:1000");
  const Shape shape = parse_shape(rest.substr(0, colon));
  LT_CHECK(shape.rank() == 3, kInvalidArgument, "--data '", spec,
           "': the image shape is HxWxC, e.g. 224x224x3");
  const std::string_view digits = std::string_view(rest).substr(colon + 1);
  int64_t classes = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), classes);
  LT_CHECK(error == std::errc() && end == digits.data() + digits.size() && classes >= 1,
           kInvalidArgument, "--data '", spec, "': CLASSES must be a positive integer, got '",
           digits, "'");
  LT_CHECK(a.synthetic_batches >= 1, kInvalidArgument, "synthetic data needs >= 1 batch");
  const int64_t count = a.synthetic_batches * a.batch_size;
  InputData in;
  in.train = data::synthetic_images(
      shape, classes, count,
      {.batch_size = a.batch_size, .seed = a.seed, .num_parallel_calls = a.threads});
  in.image_shape = shape;
  in.classes = classes;
  in.train_count = count;
  in.description = "synthetic " + shape.to_string() + " images, " + std::to_string(classes) +
                   " classes, " + std::to_string(count) + " per epoch (seeded, generated)";
  return in;
}

}  // namespace

void add_data_options(CLI::App& cmd, DataArgs& d) {
  cmd.add_option("--data", d.data,
                 "fashion-mnist; idx:IMAGES,LABELS (IDX files, gzip or not); dir:PATH (a "
                 "class-folder tree of JPEG/PNG, streamed); tfrecord:GLOB (tf.train.Example "
                 "records with image/encoded and image/class/label, streamed; needs --classes); "
                 "synthetic:HxWxC:CLASSES (seeded random images, no disk)")
      ->capture_default_str();
  cmd.add_option("--data-dir", d.data_dir,
                 "Directory holding the Fashion-MNIST IDX files (default: "
                 "/usr/share/datasets/fashion-mnist)");
  cmd.add_option("--image-size", d.image_size,
                 "HxW: in-memory images are resized once before the run; files are decoded "
                 "and resized to it on the fly (default 224x224)");
  cmd.add_option("--color-mode", d.color_mode, "Files: rgb or grayscale")->capture_default_str();
  cmd.add_option("--validation-split", d.validation_split,
                 "idx: hold out the last fraction; dir: Keras' split with --seed")
      ->capture_default_str();
  cmd.add_option("--data-threads", d.threads, "Decoding workers of a streamed input (-1: AUTOTUNE)")
      ->capture_default_str();
  cmd.add_option("--on-error", d.on_error, "A bad image in a streamed input: raise or skip")
      ->capture_default_str();
  cmd.add_option("--classes", d.classes, "tfrecord: the number of classes");
  cmd.add_option("--synthetic-batches", d.synthetic_batches, "synthetic: batches per epoch")
      ->capture_default_str();
}

HeldOutOrAll held_out_or_all(const InputData& in) {
  HeldOutOrAll part;
  if (in.images.has_value()) {
    const bool held_out = in.images->test.count > 0;
    part.images = held_out ? in.images->test.view() : in.images->train.view();
    part.name = held_out ? in.validation_name : "all";
  } else {
    part.dataset = in.validation.has_value() ? &*in.validation : &*in.train;
    part.name = in.validation.has_value() ? in.validation_name : "all";
  }
  return part;
}

InputData load_input_data(const DataArgs& a, std::ostream& out) {
  check_flags(a);
  const Augment augment = parse_augment(a.augment);
  const std::string& spec = a.data;
  if (spec == "fashion-mnist" || spec.starts_with("idx:")) return load_in_memory(a, augment);
  if (spec.starts_with("dir:")) return load_image_folder(a, augment, out);
  if (spec.starts_with("tfrecord:")) return load_tfrecord(a, augment);
  if (spec.starts_with("synthetic:")) return load_synthetic(a);
  throw Error(ErrorCode::kInvalidArgument,
              "--data '" + spec + "' is not a data spec; use " + kDataForms);
}

}  // namespace leantrain::cli

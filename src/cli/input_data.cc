#include "cli/input_data.h"

#include <algorithm>
#include <cstring>
#include <iostream>
#include <sstream>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"
#include "leantrain/data/image.h"
#include "leantrain/data/resize_images.h"
#include "leantrain/data/sources.h"
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

void check_split(double split) {
  LT_CHECK(split >= 0 && split < 1, kInvalidArgument, "--validation-split must be in [0, 1), got ",
           split);
}

// The last `fraction` of `all` (Keras' fit(validation_split): the last samples, before any
// shuffling) and the rest.
std::pair<data::LabeledImages, data::LabeledImages> split_tail(const data::LabeledImages& all,
                                                               double fraction) {
  const auto held = static_cast<int64_t>(fraction * static_cast<double>(all.count));
  LT_CHECK(held > 0 && held < all.count, kInvalidArgument, "--validation-split ", fraction, " of ",
           all.count, " images holds out ", held,
           "; choose a fraction that leaves both parts non-empty");
  const int64_t pixels = all.height * all.width * all.channels;
  auto part = [&](int64_t begin, int64_t end) {
    data::LabeledImages p;  // the metadata of `all`, a slice of its pixels and labels
    p.height = all.height;
    p.width = all.width;
    p.channels = all.channels;
    p.num_classes = all.num_classes;
    p.count = end - begin;
    p.pixels.assign(all.pixels.begin() + begin * pixels, all.pixels.begin() + end * pixels);
    p.labels.assign(all.labels.begin() + begin, all.labels.begin() + end);
    return p;
  };
  return {part(0, all.count - held), part(all.count - held, all.count)};
}

// In-memory images as a dataset of f32 [0, 1] batches (the Batcher's scaling), shuffled each
// epoch and flipped at random: for augmenting images held in memory.
data::Dataset augmented_images(const data::LabeledImages& images, const DataArgs& a) {
  return data::labeled_images_dataset(images)
      .shuffle(images.count, a.seed)
      .map(
          [](data::Element e, const data::ElementContext& ctx) {
            const data::Tensor& u8 = e.at("image");
            const Shape& s = u8.shape();
            data::Tensor f = data::Tensor::uninitialized(DType::kF32, s);
            const uint8_t* src = u8.as<uint8_t>();
            float* dst = f.mutable_as<float>();
            const bool flip = data::random_flip_decision(ctx.seed);
            const int64_t w = s[1], c = s[2];
            for (int64_t y = 0; y < s[0]; ++y) {
              for (int64_t x = 0; x < w; ++x) {
                const int64_t from = (y * w + (flip ? w - 1 - x : x)) * c;
                for (int64_t k = 0; k < c; ++k) {
                  dst[(y * w + x) * c + k] = src[from + k] * (1.0f / 255.0f);
                }
              }
            }
            e.set("image", std::move(f));
            return e;
          },
          {.num_parallel_calls = a.threads < 0 ? data::kAutotune : a.threads,
           .seed = a.seed,
           .max_output_bytes = images.height * images.width * images.channels * 4 + 4})
      .batch(a.batch_size)
      .prefetch(data::kAutotune);
}

// Seeded random images in [0, 1) and labels, generated per element (no disk, no memory held).
data::Dataset synthetic_dataset(const Shape& shape, int64_t classes, int64_t count,
                                const DataArgs& a, uint64_t salt) {
  const int64_t elements = shape.num_elements();
  return data::Dataset::range(0, count)
      .map(
          [shape, classes, elements, seed = mix64(a.seed ^ salt)](data::Element e) {
            const auto index = static_cast<uint64_t>(e.at("value").as<int32_t>()[0]);
            Rng rng(mix64(seed ^ mix64(index + 1)));
            data::Tensor image = data::Tensor::uninitialized(DType::kF32, shape);
            float* p = image.mutable_as<float>();
            for (int64_t i = 0; i < elements; ++i) p[i] = rng.uniform(0.0f, 1.0f);
            data::Element out;
            out.set("image", std::move(image));
            out.set("label", data::Tensor::scalar(
                                 static_cast<int32_t>(rng.below(static_cast<uint64_t>(classes)))));
            return out;
          },
          {.num_parallel_calls = a.threads < 0 ? data::kAutotune : a.threads,
           .seed = a.seed,
           .max_output_bytes = elements * 4 + 4})
      // No prefetch: generating a batch is cheap next to a training step (MobileNetV2 224x224
      // batch 32: 38 images/s with prefetch(1) and without), and a benchmark input should not
      // hold batches ahead (PyTorch's side of the benchmarks trains on one tensor): 18 MiB less
      // there.
      .batch(a.batch_size);
}

std::vector<std::string> matching_files(const std::string& pattern) {
  std::vector<std::string> files;
  data::Iterator it = data::Dataset::list_files(pattern, /*shuffle=*/false).iterate(0);
  while (std::optional<data::Element> e = it.next()) files.push_back(e->string("path"));
  return files;
}

}  // namespace

data::Dataset image_folder_dataset(const data::DirectoryIndex& index,
                                   const ImageFolderPipeline& o) {
  const auto n = static_cast<int64_t>(index.file_paths.size());
  data::DecodeResizeOptions d;
  d.channels = static_cast<int>(o.channels);
  d.height = o.height;
  d.width = o.width;
  d.antialias = o.antialias;
  d.fast_dct = true;
  d.dct_scaling = true;
  d.affine = o.affine;
  if (o.random_resized_crop) d.crop = data::CropMode::kRandomResizedCrop;
  const bool flip = o.flip;
  data::Element columns;
  columns.set_strings("path", index.file_paths);
  if (!index.labels.empty())
    columns.set("label", data::Tensor::from_vector(index.labels, Shape{n}));
  data::Dataset ds = data::Dataset::from_tensor_slices(columns);
  if (o.shuffle) ds = ds.shuffle(o.batch_size * 8, o.seed);
  const int64_t image_bytes = o.height * o.width * o.channels * static_cast<int64_t>(sizeof(float));
  return ds
      .map(
          [d, flip](data::Element e, const data::ElementContext& ctx) {
            thread_local data::Image scratch;  // decoded pixels, one per worker, reused
            const std::string path = e.string("path");
            const std::vector<uint8_t> bytes = data::read_file_bytes(path);
            data::Tensor image =
                data::Tensor::uninitialized(DType::kF32, Shape{d.height, d.width, d.channels});
            data::DecodeResizeOptions options = d;
            // Independent draws for the flip and the crop, both from the element's seed.
            options.flip = flip && data::random_flip_decision(ctx.seed);
            options.crop_seed = mix64(ctx.seed ^ 0xc409u);
            data::decode_resize_to_float(bytes, path, options, image.mutable_as<float>(), scratch);
            e.erase("path");
            e.set("image", std::move(image));
            return e;
          },
          {.num_parallel_calls = o.threads == -1 ? data::kAutotune : o.threads,
           .deterministic = true,
           .on_error = o.on_error,
           .seed = o.seed,
           .max_output_bytes = image_bytes + 4})
      .batch(o.batch_size)
      .prefetch(data::kAutotune);
}

InputData load_input_data(const DataArgs& a, std::ostream& out) {
  LT_CHECK(a.batch_size >= 1, kInvalidArgument, "--batch-size must be >= 1, got ", a.batch_size);
  LT_CHECK(a.threads >= -1, kInvalidArgument,
           "--data-threads must be >= 0, or -1 for AUTOTUNE; got ", a.threads);
  check_split(a.validation_split);
  const Augment augment = parse_augment(a.augment);
  InputData in;
  const std::string& spec = a.data;

  if (spec == "fashion-mnist" || spec.starts_with("idx:")) {
    data::TrainTest images;
    if (spec == "fashion-mnist") {
      images = data::load_fashion_mnist(a.data_dir);
      in.validation_name = "test";
      LT_CHECK(a.validation_split == 0, kInvalidArgument,
               "--validation-split does not apply to fashion-mnist, which validates on its test "
               "split; use --data idx:IMAGES,LABELS to split a file");
      in.description = "Fashion-MNIST";
    } else {
      const std::string files = spec.substr(4);
      const size_t comma = files.find(',');
      LT_CHECK(comma != std::string::npos && comma > 0 && comma + 1 < files.size(),
               kInvalidArgument, "--data '", spec,
               "': idx takes two files, idx:IMAGES,LABELS (gzip or not)");
      const data::LabeledImages all =
          data::load_idx_images(files.substr(0, comma), files.substr(comma + 1));
      if (a.validation_split > 0) {
        std::tie(images.train, images.test) = split_tail(all, a.validation_split);
      } else {
        images.train = all;
      }
      in.description = "IDX " + files;
    }
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
    if (augment.flip) {
      in.train = augmented_images(images.train, a);
      if (images.test.count > 0) {
        in.validation = data::labeled_images_dataset(images.test)
                            .map(data::scale_image_to_unit)
                            .batch(a.batch_size);
      }
    } else {
      in.images = std::move(images);
    }
    return in;
  }

  if (spec.starts_with("dir:")) {
    const std::string directory = spec.substr(4);
    LT_CHECK(!directory.empty(), kInvalidArgument, "--data dir: needs a directory, dir:PATH");
    const auto [h, w] = parse_size(a.image_size.empty() ? "224x224" : a.image_size, "--image-size");
    {  // the index lives only until the datasets hold its paths
      data::IndexOptions index_options;
      index_options.seed = a.seed;
      index_options.out = &out;
      const data::DirectoryIndex index = data::index_directory(directory, index_options);
      LT_CHECK(!index.file_paths.empty(), kInvalidArgument, directory,
               ": no images found (allowed formats: .bmp, .gif, .jpeg, .jpg, .png)");
      ImageFolderPipeline p;
      p.height = h;
      p.width = w;
      p.channels = channels_of(a.color_mode);
      p.batch_size = a.batch_size;
      p.seed = a.seed;
      p.threads = a.threads;
      p.on_error = on_error_of(a.on_error);
      const std::optional<double> split =
          a.validation_split > 0 ? std::optional<double>(a.validation_split) : std::nullopt;
      const data::DirectoryIndex train_index =
          data::training_or_validation_split(index, split, "training", true, &out);
      ImageFolderPipeline train = p;
      train.flip = augment.flip;
      train.random_resized_crop = augment.crop;
      in.train = image_folder_dataset(train_index, train);
      if (split.has_value()) {
        const data::DirectoryIndex val_index =
            data::training_or_validation_split(index, split, "validation", true, &out);
        ImageFolderPipeline val = p;
        val.shuffle = false;
        in.validation = image_folder_dataset(val_index, val);
      }
      in.image_shape = Shape{h, w, p.channels};
      in.classes = static_cast<int64_t>(index.class_names.size());
      in.train_count = static_cast<int64_t>(train_index.file_paths.size());
    }
    in.description = "image folder " + directory;
    // The index's many small blocks are freed once the datasets hold the paths compactly.
    memory::release_free_heap_memory();
    return in;
  }

  if (spec.starts_with("tfrecord:")) {
    const std::string pattern = spec.substr(9);
    LT_CHECK(!pattern.empty(), kInvalidArgument, "--data tfrecord: needs a glob, tfrecord:GLOB");
    LT_CHECK(a.validation_split == 0, kInvalidArgument,
             "--validation-split does not apply to tfrecord: (the record count is not known "
             "before reading); hold out files instead");
    LT_CHECK(!augment.crop, kInvalidArgument,
             "--augment crop is not available for tfrecord: yet; use --augment flip");
    const std::vector<std::string> files = matching_files(pattern);
    const auto [h, w] = parse_size(a.image_size.empty() ? "224x224" : a.image_size, "--image-size");
    data::ExampleImageOptions example;
    example.image.color_mode = a.color_mode;
    example.image.image_size = {h, w};
    const int64_t channels = channels_of(a.color_mode);
    const int64_t image_bytes = h * w * channels * 4;
    data::Dataset ds =
        data::tfrecord_dataset(files, std::min<int64_t>(static_cast<int64_t>(files.size()), 2))
            .shuffle(a.batch_size * 8, a.seed)
            .map(data::decode_example_image(example),
                 {.num_parallel_calls = a.threads < 0 ? data::kAutotune : a.threads,
                  .on_error = on_error_of(a.on_error),
                  .seed = a.seed,
                  .max_output_bytes = image_bytes + 4});
    if (augment.flip) ds = ds.map(data::random_flip_left_right("image"), {.seed = a.seed});
    in.train = ds.map([](data::Element e) {
                   float* p = e.at("image").mutable_as<float>();
                   const int64_t n = e.at("image").num_elements();
                   for (int64_t i = 0; i < n; ++i) p[i] *= 1.0f / 255.0f;
                   return e;
                 })
                   .batch(a.batch_size)
                   .prefetch(data::kAutotune);
    in.image_shape = Shape{h, w, channels};
    LT_CHECK(a.classes >= 1, kInvalidArgument,
             "--data tfrecord: needs --classes N (the records do not say how many there are)");
    in.classes = a.classes;
    in.description = "TFRecord " + pattern + " (" + std::to_string(files.size()) + " files)";
    return in;
  }

  if (spec.starts_with("synthetic:")) {
    const std::string rest = spec.substr(10);
    const size_t colon = rest.rfind(':');
    LT_CHECK(colon != std::string::npos && colon > 0, kInvalidArgument, "--data '", spec,
             "': use synthetic:HxWxC:CLASSES, e.g. synthetic:224x224x3:1000");
    const Shape shape = parse_shape(rest.substr(0, colon));
    LT_CHECK(shape.rank() == 3, kInvalidArgument, "--data '", spec,
             "': the image shape is HxWxC, e.g. 224x224x3");
    int64_t classes = 0;
    try {
      classes = std::stoll(rest.substr(colon + 1));
    } catch (const std::exception&) {
      classes = 0;
    }
    LT_CHECK(classes >= 1, kInvalidArgument, "--data '", spec,
             "': CLASSES must be a positive integer");
    LT_CHECK(a.synthetic_batches >= 1, kInvalidArgument, "synthetic data needs >= 1 batch");
    const int64_t count = a.synthetic_batches * a.batch_size;
    in.train = synthetic_dataset(shape, classes, count, a, 0x5e7);
    in.image_shape = shape;
    in.classes = classes;
    in.train_count = count;
    in.description = "synthetic " + shape.to_string() + " images, " + std::to_string(classes) +
                     " classes, " + std::to_string(count) + " per epoch (seeded, generated)";
    return in;
  }

  throw Error(ErrorCode::kInvalidArgument,
              "--data '" + spec + "' is not a data spec; use " + kDataForms);
}

}  // namespace leantrain::cli

// leantrain._core's input pipelines: class-folder trees, TFRecord image records and synthetic
// images as the engine's streaming Datasets (decoded, resized and augmented by its workers while
// the step runs), which fit() and evaluate() read batch by batch.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "bindings.h"
#include "leantrain/core/error.h"
#include "leantrain/core/shape.h"
#include "leantrain/data/dataset.h"
#include "leantrain/data/image_folder.h"
#include "leantrain/data/sources.h"
#include "leantrain/data/synthetic.h"

namespace nb = nanobind;

namespace leantrain::python {
namespace {

data::OnError on_error_of(const std::string& text) {
  LT_CHECK(text == "raise" || text == "skip", kInvalidArgument, "on_error='", text,
           "' is not supported; use 'raise' or 'skip'");
  return text == "skip" ? data::OnError::kSkip : data::OnError::kRaise;
}

void check_batching(int64_t batch_size, int64_t threads) {
  LT_CHECK(batch_size >= 1, kInvalidArgument, "batch_size must be >= 1, got ", batch_size);
  LT_CHECK(threads >= -1, kInvalidArgument,
           "num_parallel_calls must be >= 0, or -1 (AUTOTUNE); got ", threads);
}

// A class-folder tree: (training, validation or None, the number of classes, the training
// files), printing Keras' "Found N files belonging to C classes." to Python's stdout. Pixels are
// value * scale + offset (keras.utils.image_dataset_from_directory: scale 1, offset 0).
nb::tuple image_folder(const std::string& directory, int64_t height, int64_t width,
                       int64_t channels, int64_t batch_size, bool shuffle, uint64_t seed,
                       std::optional<double> validation_split, int64_t threads, bool flip,
                       bool crop, const std::string& on_error, float scale, float offset) {
  check_batching(batch_size, threads);
  data::ImageFolderPipeline p{.height = height,
                              .width = width,
                              .channels = channels,
                              .batch_size = batch_size,
                              .seed = seed,
                              .threads = threads,
                              .flip = flip,
                              .random_resized_crop = crop,
                              .antialias = false,
                              .on_error = on_error_of(on_error),
                              .affine = data::PixelAffine::rescale(scale, offset),
                              .shuffle = shuffle};
  PythonStdout buffer;
  std::ostream out(&buffer);
  data::ImageFolderData d = data::image_folder_datasets(directory, p, validation_split, &out);
  out.flush();
  nb::object validation = nb::none();
  if (d.validation.has_value()) validation = nb::cast(*d.validation);
  return nb::make_tuple(nb::cast(d.train), validation, d.classes, d.train_count);
}

// tf.train.Example image records, shuffled, decoded, flipped when asked, scaled to [0, 1].
data::Dataset tfrecord_images(const std::vector<std::string>& files, int64_t height, int64_t width,
                              const std::string& color_mode, int64_t batch_size, uint64_t seed,
                              int64_t threads, const std::string& on_error, bool flip,
                              const std::string& image_key, const std::string& label_key,
                              int64_t label_offset) {
  check_batching(batch_size, threads);
  LT_CHECK(!files.empty(), kInvalidArgument, "tfrecord_images: no files given");
  data::ExampleImageOptions example;
  example.image.color_mode = color_mode;
  example.image.image_size = {height, width};
  example.image_key = image_key;
  example.label_key = label_key;
  example.label_offset = label_offset;
  return data::tfrecord_images(files, example,
                               {.batch_size = batch_size,
                                .seed = seed,
                                .num_parallel_calls = threads,
                                .on_error = on_error_of(on_error),
                                .flip = flip});
}

data::Dataset synthetic_images(const std::vector<int64_t>& shape, int64_t classes, int64_t count,
                               int64_t batch_size, uint64_t seed, int64_t threads) {
  check_batching(batch_size, threads);
  LT_CHECK(shape.size() == 3, kInvalidArgument,
           "synthetic_images: shape is (height, width, channels), got ", shape.size(), " values");
  LT_CHECK(classes >= 1 && count >= 1, kInvalidArgument,
           "synthetic_images: classes and count must be >= 1, got ", classes, " and ", count);
  return data::synthetic_images(
      Shape{shape[0], shape[1], shape[2]}, classes, count,
      {.batch_size = batch_size, .seed = seed, .num_parallel_calls = threads});
}

}  // namespace

void bind_data(nb::module_& m) {
  nb::class_<data::Dataset>(m, "Dataset", "A leantrain input pipeline (tf.data's model).")
      .def_prop_ro("cardinality", &data::Dataset::cardinality)
      .def("describe", &data::Dataset::describe);
  m.def("image_folder", &image_folder, nb::arg("directory"), nb::arg("height"), nb::arg("width"),
        nb::arg("channels"), nb::arg("batch_size"), nb::arg("shuffle"), nb::arg("seed"),
        nb::arg("validation_split").none(), nb::arg("threads"), nb::arg("flip"), nb::arg("crop"),
        nb::arg("on_error"), nb::arg("scale"), nb::arg("offset"));
  m.def("tfrecord_images", &tfrecord_images, nb::arg("files"), nb::arg("height"), nb::arg("width"),
        nb::arg("color_mode"), nb::arg("batch_size"), nb::arg("seed"), nb::arg("threads"),
        nb::arg("on_error"), nb::arg("flip"), nb::arg("image_key"), nb::arg("label_key"),
        nb::arg("label_offset"));
  m.def("synthetic_images", &synthetic_images, nb::arg("shape"), nb::arg("classes"),
        nb::arg("count"), nb::arg("batch_size"), nb::arg("seed"), nb::arg("threads"));
}

}  // namespace leantrain::python

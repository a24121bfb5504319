// The command line's --data: what a spec names, loaded as images in memory or as a streaming
// Dataset from the data module's pipelines (decode, resize, augment and scale to [0, 1]).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "leantrain/core/shape.h"
#include "leantrain/data/dataset.h"
#include "leantrain/data/idx.h"

namespace leantrain::cli {

// What --data and its companion flags ask for.
struct DataArgs {
  // fashion-mnist | idx:IMAGES,LABELS | dir:PATH | tfrecord:GLOB | synthetic:HxWxC:CLASSES
  std::string data = "fashion-mnist";
  std::string data_dir;            // fashion-mnist: the IDX files' directory ("": Debian's)
  std::string image_size;          // HxW ("": the files' size for IDX; 224x224 for dir/tfrecord)
  std::string color_mode = "rgb";  // dir/tfrecord: rgb or grayscale
  // Comma-separated: flip (random horizontal flip), crop (random resized crop, torchvision's
  // scale (0.08, 1) and ratio (3/4, 4/3); files only); "none".
  std::string augment = "none";
  double validation_split = 0;  // idx, dir: the fraction held out for validation
  int64_t batch_size = 32;
  uint64_t seed = 0;
  int64_t threads = 2;             // decoding workers; -1: AUTOTUNE
  std::string on_error = "raise";  // a bad image: raise or skip
  int64_t synthetic_batches = 10;  // synthetic: batches per epoch
  int64_t classes = 0;             // tfrecord: the number of classes (required)
  // Off (evaluate, predict): streamed files come in their order (class then name for dir:
  // without a split, file order for tfrecord:), without a shuffle buffer.
  bool shuffle = true;
};

// Registers the flags of DataArgs on `cmd` (--data and the input pipeline's), except
// --augment, --batch-size and --seed, whose help differs between verbs.
void add_data_options(CLI::App& cmd, DataArgs& args);

// The data of a run: images in memory (fashion-mnist, idx without augmentation) or datasets of
// batches {"image": f32 (B, H, W, C) in [0, 1], "label": i32 (B)}.
struct InputData {
  std::optional<data::TrainTest> images;  // train and validation (test) images
  std::optional<data::Dataset> train, validation;
  Shape image_shape;  // (H, W, C)
  int64_t classes = 0;
  int64_t train_count = -1;                    // examples per epoch; -1 unknown
  std::string validation_name = "validation";  // "test" for Fashion-MNIST's test split
  std::string description;                     // one line for the log

  bool has_validation() const {
    return validation.has_value() || (images.has_value() && images->test.count > 0);
  }
};

// The part of the data a trained model is judged on: the held-out part when there is one
// (Fashion-MNIST's test split, --validation-split's), else all of it. Exactly one of images and
// dataset is set; both point into the InputData, which must outlive this.
struct HeldOutOrAll {
  std::optional<data::ImagesView> images;
  const data::Dataset* dataset = nullptr;
  std::string name;  // "test", "validation" or "all"
};
HeldOutOrAll held_out_or_all(const InputData& in);

// Loads --data: reads the IDX files, indexes the image folder (printing Keras' "Found N files
// belonging to C classes." to `out`), or lists the TFRecord files; nothing is decoded yet for
// streamed data. Throws Error(kInvalidArgument) for a malformed spec or flag, naming it and the
// accepted forms; what the sources throw for missing or corrupt files.
InputData load_input_data(const DataArgs& args, std::ostream& out);

}  // namespace leantrain::cli

// keras.utils.image_dataset_from_directory: a class-folder tree of images as a batched,
// shuffled, prefetched Dataset, with Keras' file order, labels, split and messages.
#pragma once

#include <array>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "leantrain/data/dataset.h"

namespace leantrain::data {

// Keras' ALLOWLIST_FORMATS.
inline const std::vector<std::string> kImageExtensions = {".bmp", ".gif", ".jpeg", ".jpg", ".png"};

// The files of a directory with their labels: keras/src/utils/dataset_utils.py index_directory.
struct DirectoryIndex {
  std::vector<std::string> file_paths;   // os.path.join(directory, relative path)
  std::vector<int32_t> labels;           // one per file; empty when labels is "none"
  std::vector<std::string> class_names;  // empty when labels is "none"
};

struct IndexOptions {
  // "inferred": classes are the subdirectories (sorted, names starting with '.' skipped), each
  // walked recursively, roots in sorted order and files sorted within a root. "none": every
  // image under the directory, no labels. "list": label_list gives the labels, in that same
  // file order; class_names are then the sorted distinct labels.
  std::string labels = "inferred";
  std::vector<int32_t> label_list = {};
  // Allowed lower-case suffixes, matched against the lower-cased file name.
  std::vector<std::string> formats = kImageExtensions;
  std::vector<std::string> class_names = {};  // "inferred" only: these subdirectories, this order
  bool shuffle = true;
  // np.random.RandomState(seed).shuffle of the paths, and again of the labels (the same
  // permutation). Required in [0, 2^32 - 1] as NumPy requires; absent: drawn at random in
  // [0, 10^6) as Keras does.
  std::optional<uint64_t> seed = std::nullopt;
  bool follow_links = false;  // walk into symlinked subdirectories (a cycle is walked once)
  // Print "Found N files belonging to C classes." ("Found N files." without labels) to `out`.
  bool verbose = true;
  std::ostream* out = nullptr;  // null: std::cout
};

// Lists the files as Keras' index_directory does. Throws kNotFound when `directory` does not
// exist, kInvalidArgument for class_names that are not subdirectories (naming both lists), an
// unknown labels mode, class_names with labels other than "inferred", a label_list whose
// length differs from the number of files, a seed outside [0, 2^32 - 1].
DirectoryIndex index_directory(const std::string& directory, const IndexOptions& options = {});

// The training or validation part of an index (dataset_utils.get_training_or_validation_split):
// num_val = int(validation_split * N); "training" keeps the first N - num_val files and
// "validation" the last num_val, printing "Using K files for training." / "Using K files for
// validation.". No split when validation_split is absent. Throws kInvalidArgument for a subset
// other than "training" or "validation", and when num_val is 0 (Keras would then give an empty
// training set, or the whole directory as validation: never what was meant).
DirectoryIndex training_or_validation_split(const DirectoryIndex& index,
                                            std::optional<double> validation_split,
                                            const std::string& subset, bool verbose = true,
                                            std::ostream* out = nullptr);

struct ImageDirectoryOptions {
  std::string labels = "inferred";  // "inferred", "none" or "list" (see IndexOptions)
  std::vector<int32_t> label_list = {};
  std::string label_mode = "int";  // "int", "categorical", "binary" or "none"
  std::vector<std::string> class_names = {};
  std::string color_mode = "rgb";                  // "grayscale", "rgb", "rgba"
  int64_t batch_size = 32;                         // 0: unbatched (Keras' None)
  std::array<int64_t, 2> image_size = {256, 256};  // (height, width)
  bool shuffle = true;
  std::optional<uint64_t> seed = std::nullopt;
  std::optional<double> validation_split = std::nullopt;
  std::string subset = "";  // "", "training", "validation" ("both": image_dataset_split_...)
  std::string interpolation = "bilinear";  // bilinear, area, nearest
  bool follow_links = false;
  bool crop_to_aspect_ratio = false;
  bool verbose = true;
  std::ostream* out = nullptr;  // where messages go; null: std::cout
  // leantrain's additions.
  OnError on_error = OnError::kRaise;      // an unreadable or corrupt image
  int64_t num_parallel_calls = kAutotune;  // decoding workers (Keras: AUTOTUNE)
  bool dct_scaling = true;  // see ImageLoadOptions::dct_scaling; false for Keras' exact pixels
};

struct ImageDirectoryDataset {
  // Elements {"image": f32 (B, H, W, C) with values 0..255, "label": ...} where label is
  // i32 (B) for "int", f32 (B, num_classes) one-hot for "categorical", f32 (B, 1) for
  // "binary", absent for "none"; without the batch axis when batch_size is 0.
  Dataset dataset;
  std::vector<std::string> class_names;
  std::vector<std::string> file_paths;  // in the dataset's order before its shuffle buffer
  std::vector<int32_t> labels;          // the label index of each file
};

// keras.utils.image_dataset_from_directory for subset "", "training" or "validation":
// index_directory (shuffled with `seed` when shuffle), the split, then
// from_tensor_slices(paths, labels) [.shuffle(batch_size * 8, or 1024 unbatched, seed) when
// shuffle] .map(load_image, num_parallel_calls) [.batch(batch_size)] .prefetch(kAutotune),
// as Keras builds it. Images are decoded by content (JPEG, PNG; BMP and GIF are listed as Keras
// does but fail to decode with kUnimplemented), resized without antialiasing (tf.image.resize).
// Throws kInvalidArgument, with Keras' rules: validation_split outside (0, 1), subset without
// validation_split or the reverse, validation_split with shuffle and no seed, label_mode
// "binary" without exactly 2 classes, no images found (naming the directory and the allowed
// formats), bad color_mode, label_mode, image_size or batch_size; and what index_directory
// throws.
ImageDirectoryDataset image_dataset_from_directory(const std::string& directory,
                                                   const ImageDirectoryOptions& options = {});

// subset "both": the training and the validation datasets (the validation one is not
// shuffled, as Keras). Throws as image_dataset_from_directory, and kInvalidArgument unless
// subset is "both".
std::pair<ImageDirectoryDataset, ImageDirectoryDataset> image_dataset_split_from_directory(
    const std::string& directory, const ImageDirectoryOptions& options);

}  // namespace leantrain::data

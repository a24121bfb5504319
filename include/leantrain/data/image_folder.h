// The streaming training pipeline of a class-folder tree of images (what `leantrain train
// --data dir:PATH` and `leantrain data-bench` read): Keras' file order, labels and split, with
// the decode, resize, augmentation and pixel scaling fused into one pass per image.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "leantrain/data/dataset.h"
#include "leantrain/data/directory_dataset.h"
#include "leantrain/data/image.h"

namespace leantrain::data {

// How image_folder_dataset turns files into batches. Images are f32 (height, width, channels)
// with `affine` applied to their 0..255 values.
struct ImageFolderPipeline {
  int64_t height = 224, width = 224, channels = 3;
  int64_t batch_size = 64;
  uint64_t seed = 0;
  int64_t threads = 2;  // decoding workers; 0: the consumer's thread; kAutotune (-1)
  bool flip = false;    // random horizontal flip
  // torchvision's RandomResizedCrop (scale (0.08, 1), ratio (3/4, 4/3)) instead of the whole
  // image.
  bool random_resized_crop = false;
  bool antialias = false;
  OnError on_error = OnError::kRaise;  // an unreadable or corrupt image
  PixelAffine affine = PixelAffine::rescale(1.0f / 255.0f);
  bool shuffle = true;
};

// The files of `index` as batches {"image": f32 (B, H, W, C), "label": i32 (B) when the index
// has labels}: from_tensor_slices(paths, labels).shuffle(8 x batch, seed) when shuffle,
// .map(read, decode at the smallest JPEG DCT scale that covers the target, resize, augment,
// affine, in one pass into f32; `threads` deterministic workers).batch(batch)
// .prefetch(kAutotune). Flips and crops are drawn from each element's seed. Building throws
// nothing; iterating throws what decode_resize_to_float throws for a bad file (naming it)
// unless on_error is kSkip.
Dataset image_folder_dataset(const DirectoryIndex& index, const ImageFolderPipeline& options);

// A class-folder tree as training and (with a validation split) validation datasets.
struct ImageFolderData {
  Dataset train;
  std::optional<Dataset> validation;
  int64_t classes = 0;      // the class folders found
  int64_t train_count = 0;  // files in `train`
  bool labelled = false;    // elements carry "label"
};

// Indexes `directory` as Keras' image_dataset_from_directory does (labels inferred from the
// class folders, file order shuffled with options.seed; without options.shuffle and without a
// split, the files in class then name order, unshuffled), printing "Found N files belonging to
// C classes." and, with a split, "Using K files for training/validation." to `out` (null:
// std::cout). `train` is image_folder_dataset(training files, options); `validation` (when
// validation_split is set) holds the last int(split x N) files, with options but neither
// shuffled nor augmented. Throws Error(kNotFound) when `directory` does not exist,
// Error(kInvalidArgument) when it holds no images (naming it and the allowed formats) or the
// split leaves no validation file, and what index_directory throws.
ImageFolderData image_folder_datasets(const std::string& directory,
                                      const ImageFolderPipeline& options,
                                      std::optional<double> validation_split = std::nullopt,
                                      std::ostream* out = nullptr);

}  // namespace leantrain::data

// Datasets read from files: IDX image sets, a CSV of `path,label`, TFRecord files; and the map
// functions that turn a file path or a tf.train.Example into an image tensor.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "leantrain/data/dataset.h"
#include "leantrain/data/idx.h"

namespace leantrain::data {

// ---- IDX ---------------------------------------------------------------------------------

// The images and labels of an IDX pair (read with load_idx_images, gzip or not) as elements
// {"image": u8 (rows, cols, 1), "label": i32 ()}. The files are read once into memory; the
// elements are views of it (no copy per element). Throws what load_idx_images throws.
Dataset idx_dataset(const std::string& images_path, const std::string& labels_path);
// The same for images already loaded; the dataset takes ownership of them.
Dataset labeled_images_dataset(LabeledImages images);
// A map for those datasets: the element with its u8 "image" replaced by f32 p * (1.0f / 255.0f),
// the Batcher's scaling (so a Dataset and in-memory images feed a model the same pixels). Throws
// Error(kInvalidArgument) when "image" is missing or not u8.
Element scale_image_to_unit(Element e);
// Keras' fit(validation_split): the last int(fraction x count) images of `all` (before any
// shuffling) as `test`, the rest as `train`. Throws Error(kInvalidArgument) naming the fraction
// and the count when either part would be empty.
TrainTest split_validation_tail(const LabeledImages& all, double fraction);
// Images held in memory, augmented: elements {"image": f32 (H, W, C) scaled as
// scale_image_to_unit, flipped left to right with probability 1/2 from the element's seed,
// "label": i32 ()}, reshuffled every epoch with `seed`, batched by batch_size and prefetched
// (kAutotune); `num_parallel_calls` workers scale and flip. Throws what labeled_images_dataset
// throws.
Dataset randomly_flipped_images(const LabeledImages& images, int64_t batch_size, uint64_t seed,
                                int64_t num_parallel_calls);

// ---- CSV of path,label --------------------------------------------------------------------

struct CsvOptions {
  // Relative paths are resolved against this directory; "": the CSV file's own directory.
  std::string root = {};
  // When > 0, a label outside [0, num_classes) is a bad label.
  int64_t num_classes = 0;
  // A bad line (a missing field, a label that is not an integer or is out of range): kRaise
  // fails the iteration at that element, naming the file, the line and the value; kSkip drops
  // it and counts it in the iterator's stats().
  OnError on_error = OnError::kRaise;
};

// Reads `csv_path`, a CSV of `path,label` lines, as elements {"path": string, "label": i32 ()}
// in file order. A first line whose label field is not a number ("path,label") is a header and
// skipped; fields may be double-quoted (RFC 4180: "" is a quote inside a quoted field); blank
// lines are ignored; a third field is ignored. The file is read once, here (paths only, no
// images). Throws kNotFound when it does not exist, kIo when it cannot be read.
Dataset csv_dataset(const std::string& csv_path, const CsvOptions& options = {});

// ---- TFRecord -----------------------------------------------------------------------------

// The records of `filenames` as elements {"record": u8 (bytes), "path": string}, each file read
// front to back with bounded memory (TfRecordReader: both CRCs checked). num_parallel_reads 0
// reads the files one after the other; n >= 1 reads n files at once in their own threads,
// interleaving records one at a time in a deterministic order (tf.data's TFRecordDataset with
// num_parallel_reads). A corrupt record fails the iteration with kDataLoss naming the file and
// the byte offset. Throws kInvalidArgument for an empty list.
Dataset tfrecord_dataset(const std::vector<std::string>& filenames, int64_t num_parallel_reads = 0);

// ---- Loading images -------------------------------------------------------------------------

// How a path (or encoded bytes) becomes an image tensor; Keras' image_dataset_from_directory
// defaults.
struct ImageLoadOptions {
  std::string color_mode = "rgb";                  // "grayscale" (1), "rgb" (3), "rgba" (4)
  std::array<int64_t, 2> image_size = {256, 256};  // (height, width)
  // "bilinear", "area" or "nearest" (tf.image.resize methods, half-pixel centers).
  std::string interpolation = "bilinear";
  // Keras' crop_to_aspect_ratio: resize the largest centered window of the target's aspect
  // ratio instead of the whole image.
  bool crop_to_aspect_ratio = false;
  // tf.image.resize's default (what Keras uses) is no antialiasing when shrinking.
  bool antialias = false;
  // leantrain: decode a JPEG at the smallest DCT scale (1/8 .. 8/8) whose crop window still
  // covers image_size, which is several times faster for large photos; pixel values then
  // differ slightly from a full-size decode. false: decode at full size, as Keras.
  bool dct_scaling = true;
  // JPEG inverse DCT: the fast integer one, which tf.io.decode_jpeg uses by default.
  bool fast_dct = true;
  std::string path_feature = "path";    // read by load_image
  std::string image_feature = "image";  // written: f32 (height, width, channels), 0..255
};

// Returns the channels of color_mode; throws kInvalidArgument for another name.
int64_t image_channels(const std::string& color_mode);
// Bytes of the image tensor load_image writes (for MapOptions::max_output_bytes).
int64_t image_tensor_bytes(const ImageLoadOptions& options);

// A map function that reads the file named by the element's path_feature, decodes it (JPEG or
// PNG, by content), resizes it and sets image_feature to f32 (height, width, channels) with
// values in [0, 255] (not rescaled, as Keras). path_feature is removed from the element.
// rgba: the image is decoded as RGB and given an opaque alpha channel (255); an image that
// stores alpha is refused with kUnimplemented in this mode.
// The function throws (for map's on_error policy) kNotFound/kIo for an unreadable file,
// kDataLoss for corrupt data, kUnimplemented for another format, each naming the file.
// Throws kInvalidArgument here for bad options; kUnimplemented for a Keras interpolation
// leantrain does not have (bicubic, lanczos3, lanczos5, gaussian, mitchellcubic).
MapFn load_image(const ImageLoadOptions& options);

// Reading images out of tf.train.Example records (the TF-slim / ImageNet TFRecord layout).
struct ExampleImageOptions {
  ImageLoadOptions image = {};
  std::string image_key = "image/encoded";      // bytes_list: the encoded JPEG or PNG
  std::string label_key = "image/class/label";  // int64_list; "" for no label
  int64_t label_offset = 0;  // added to the stored label (ImageNet TFRecords count from 1: -1)
};

// A map function for tfrecord_dataset elements: parses "record" as a tf.train.Example, decodes
// and resizes image_key into image.image_feature (f32 HWC, as load_image) and sets "label"
// (i32 ()) from label_key + label_offset. "record" is removed. The function throws kDataLoss
// for a malformed record or image and kInvalidArgument for a missing or mistyped key, naming
// the file and record.
MapFn decode_example_image(const ExampleImageOptions& options);

// A map function that mirrors the HWC tensor `feature` (f32 or u8) left to right with
// probability 1/2, drawn from the element's seed (deterministic with any number of workers).
MapFn random_flip_left_right(const std::string& feature = "image");

// How tfrecord_images batches image records.
struct TfRecordImagesOptions {
  int64_t batch_size = 32;
  uint64_t seed = 0;                   // the shuffle and the flips
  int64_t num_parallel_calls = 2;      // decoding workers; kAutotune (-1)
  OnError on_error = OnError::kRaise;  // a malformed record or image
  bool flip = false;                   // random_flip_left_right on "image"
  // Off: the records in file order (one read at a time), for evaluation and prediction.
  bool shuffle = true;
};

// The training pipeline of tf.train.Example image records: tfrecord_dataset(files, up to 2
// parallel reads).shuffle(8 x batch, seed) (without shuffle: one read at a time, no shuffle,
// so records come in file order).map(decode_example_image(example)), randomly
// flipped when options.flip, scaled by 1/255 to [0, 1], .batch(batch_size).prefetch(kAutotune):
// elements {"image": f32 (B, H, W, C), "label": i32 (B)}. Throws what tfrecord_dataset and
// decode_example_image throw.
Dataset tfrecord_images(const std::vector<std::string>& files, const ExampleImageOptions& example,
                        const TfRecordImagesOptions& options = {});

}  // namespace leantrain::data

#include "leantrain/data/image_folder.h"

#include <utility>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"

namespace leantrain::data {

Dataset image_folder_dataset(const DirectoryIndex& index, const ImageFolderPipeline& o) {
  const auto n = static_cast<int64_t>(index.file_paths.size());
  DecodeResizeOptions d;
  d.channels = static_cast<int>(o.channels);
  d.height = o.height;
  d.width = o.width;
  d.antialias = o.antialias;
  d.fast_dct = true;
  d.dct_scaling = true;
  d.affine = o.affine;
  if (o.random_resized_crop) d.crop = CropMode::kRandomResizedCrop;
  const bool flip = o.flip;
  Element columns;
  columns.set_strings("path", index.file_paths);
  if (!index.labels.empty()) columns.set("label", Tensor::from_vector(index.labels, Shape{n}));
  Dataset ds = Dataset::from_tensor_slices(columns);
  if (o.shuffle) ds = ds.shuffle(o.batch_size * 8, o.seed);
  const int64_t image_bytes = o.height * o.width * o.channels * static_cast<int64_t>(sizeof(float));
  return ds
      .map(
          [d, flip](Element e, const ElementContext& ctx) {
            thread_local Image scratch;  // decoded pixels, one per worker, reused
            const std::string path = e.string("path");
            const std::vector<uint8_t> bytes = read_file_bytes(path);
            Tensor image = Tensor::uninitialized(DType::kF32, Shape{d.height, d.width, d.channels});
            DecodeResizeOptions options = d;
            // Independent draws for the flip and the crop, both from the element's seed.
            options.flip = flip && random_flip_decision(ctx.seed);
            options.crop_seed = mix64(ctx.seed ^ 0xc409u);
            decode_resize_to_float(bytes, path, options, image.mutable_as<float>(), scratch);
            e.erase("path");
            e.set("image", std::move(image));
            return e;
          },
          {.num_parallel_calls = o.threads == -1 ? kAutotune : o.threads,
           .deterministic = true,
           .on_error = o.on_error,
           .seed = o.seed,
           .max_output_bytes = image_bytes + 4})
      .batch(o.batch_size)
      .prefetch(kAutotune);
}

ImageFolderData image_folder_datasets(const std::string& directory,
                                      const ImageFolderPipeline& options,
                                      std::optional<double> validation_split, std::ostream* out) {
  IndexOptions index_options;
  index_options.seed = options.seed;
  // A split needs the seeded file order, so that training and evaluation split alike.
  index_options.shuffle = options.shuffle || validation_split.has_value();
  index_options.out = out;
  const DirectoryIndex index = index_directory(directory, index_options);
  LT_CHECK(!index.file_paths.empty(), kInvalidArgument, directory,
           ": no images found (allowed formats: .bmp, .gif, .jpeg, .jpg, .png)");
  const DirectoryIndex train_index =
      training_or_validation_split(index, validation_split, "training", true, out);
  ImageFolderData result{.train = image_folder_dataset(train_index, options),
                         .validation = std::nullopt,
                         .classes = static_cast<int64_t>(index.class_names.size()),
                         .train_count = static_cast<int64_t>(train_index.file_paths.size()),
                         .labelled = !index.labels.empty()};
  if (validation_split.has_value()) {
    const DirectoryIndex validation_index =
        training_or_validation_split(index, validation_split, "validation", true, out);
    ImageFolderPipeline validation = options;
    validation.shuffle = false;
    validation.flip = false;
    validation.random_resized_crop = false;
    result.validation = image_folder_dataset(validation_index, validation);
  }
  return result;
}

}  // namespace leantrain::data

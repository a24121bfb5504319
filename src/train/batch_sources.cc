#include "train/batch_sources.h"

#include <algorithm>

#include "leantrain/core/error.h"

namespace leantrain::train {

DatasetBatches::DatasetBatches(const data::Dataset& dataset, Shape image_shape)
    : dataset_(dataset), image_shape_(std::move(image_shape)) {
  const std::optional<int64_t> b = dataset.batch_size();
  LT_CHECK(b.has_value(), kInvalidArgument,
           "the dataset must yield batches (batch(batch_size), optionally followed by "
           "prefetch, repeat, take, map, ...), whose rows are written into the step's input; "
           "it is ",
           dataset.describe());
  batch_size_ = *b;
}

int64_t DatasetBatches::next(const SlotsFor& slots_for) {
  Slots slots = slots_for(batch_size_);
  const int64_t rows = iterator_->next_batch_into(destination(slots, batch_size_));
  if (rows == 0 || rows == batch_size_) return rows;
  // A last, smaller batch: into the program compiled for its size, through a copy (the
  // programs share the arena, so their input slots may overlap).
  const int64_t image_elements = rows * image_shape_.num_elements();
  std::vector<float> images(slots.images, slots.images + image_elements);
  std::vector<int32_t> labels(slots.labels, slots.labels + rows);
  slots = slots_for(rows);
  std::copy(images.begin(), images.end(), slots.images);
  std::copy(labels.begin(), labels.end(), slots.labels);
  return rows;
}

data::BatchDestination DatasetBatches::destination(const Slots& slots, int64_t rows) const {
  std::vector<int64_t> dims{rows};
  for (int i = 0; i < image_shape_.rank(); ++i) dims.push_back(image_shape_[i]);
  return {{"image", TensorView(slots.images, Shape(dims))},
          {"label", TensorView(slots.labels, Shape{rows})}};
}

}  // namespace leantrain::train

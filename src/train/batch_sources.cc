#include "train/batch_sources.h"

#include <algorithm>

#include "leantrain/core/error.h"

namespace leantrain::train {

ProvidedBatches::ProvidedBatches(BatchProvider& provider, Shape image_shape)
    : provider_(provider), image_shape_(std::move(image_shape)) {
  provider_.start_epoch(0);
  pending_ = checked(provider_.next());
  LT_CHECK(pending_->count > 0, kInvalidArgument,
           "the batches given to fit() yield no batch in their first epoch");
  batch_size_ = pending_->count;
}

data::ImagesView ProvidedBatches::checked(const data::ImagesView& batch) const {
  if (batch.count == 0) return batch;
  const Shape shape({batch.height, batch.width, batch.channels});
  LT_CHECK(shape == image_shape_, kInvalidArgument, "a batch's images are ", shape.to_string(),
           " but the model expects ", image_shape_.to_string());
  LT_CHECK(batch.labels != nullptr, kInvalidArgument,
           "a batch has no labels: fit() needs (images, labels) batches");
  return batch;
}

void ProvidedBatches::start_epoch(int64_t epoch) {
  // Epoch 0 was started by the constructor, whose first batch is pending.
  if (epoch == 0 && pending_.has_value()) return;
  pending_.reset();
  provider_.start_epoch(epoch);
}

int64_t ProvidedBatches::next(const SlotsFor& slots_for) {
  data::ImagesView batch = pending_.has_value() ? *pending_ : checked(provider_.next());
  pending_.reset();
  if (batch.count == 0) return 0;
  const Slots slots = slots_for(batch.count);
  return data::Batcher(batch, batch.count, /*shuffle=*/false, 0)
      .fill(0, slots.images, slots.labels);
}

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

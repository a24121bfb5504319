// The batches the Trainer's loops read: from in-memory images or from a Dataset, written
// straight into a program's input slots.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "leantrain/data/batcher.h"
#include "leantrain/data/dataset.h"
#include "leantrain/data/idx.h"
#include "leantrain/train/batch_provider.h"

namespace leantrain::train {

// Batches for the Trainer's loops: from images (a Batcher: sizes known up front) or from a
// Dataset (rows known once a batch is written). Not thread-safe.
class BatchSource {
 public:
  // Where a batch of `rows` goes: the program's input and a label buffer of `rows` i32.
  struct Slots {
    float* images;
    int32_t* labels;
  };
  using SlotsFor = std::function<Slots(int64_t rows)>;

  virtual ~BatchSource() = default;
  virtual int64_t batch_size() const = 0;
  // Batches per epoch, or -1 when unknown.
  virtual int64_t num_batches() const = 0;
  // Batch sizes every epoch uses, for compiling before the first step.
  virtual std::vector<int64_t> known_batch_sizes() const = 0;
  virtual void start_epoch(int64_t epoch) = 0;
  // Writes the next batch into slots_for(rows) and returns rows; 0 at the end. slots_for may be
  // called more than once; the last call names where the batch is.
  virtual int64_t next(const SlotsFor& slots_for) = 0;
  // Elements the epoch's pipeline skipped (OnError::kSkip) and the first reasons.
  virtual data::PipelineStats epoch_stats() const { return {}; }
  // True when the images may hold NaN or infinities (float data from the caller), which the
  // trainer then checks each training batch for; decoded and u8 images cannot.
  virtual bool may_hold_non_finite() const { return false; }
};

// Batches of in-memory images, shuffled per epoch or not.
class ImageBatches final : public BatchSource {
 public:
  ImageBatches(const data::ImagesView& images, int64_t batch_size, bool shuffle, uint64_t seed)
      : owned_(std::in_place, images, batch_size, shuffle, seed), batcher_(*owned_) {}
  // `other`'s images and batch size in an order of their own, always shuffled with `seed`,
  // through other's Batcher (no second epoch order held): for batch-norm calibration between
  // epochs, since other's next start_epoch restores its own order.
  ImageBatches(ImageBatches& other, uint64_t seed) : batcher_(other.batcher_), seed_(seed) {}
  int64_t batch_size() const override { return batcher_.batch_size(); }
  int64_t num_batches() const override { return batcher_.num_batches(); }
  std::vector<int64_t> known_batch_sizes() const override {
    std::vector<int64_t> sizes{batcher_.batch_size()};
    if (batcher_.count() % batcher_.batch_size() != 0) {
      sizes.push_back(batcher_.count() % batcher_.batch_size());
    }
    return sizes;
  }
  void start_epoch(int64_t epoch) override {
    if (seed_.has_value()) {
      batcher_.start_epoch(epoch, *seed_);
    } else {
      batcher_.start_epoch(epoch);
    }
    next_ = 0;
  }
  bool may_hold_non_finite() const override { return batcher_.dtype() == DType::kF32; }
  int64_t next(const SlotsFor& slots_for) override {
    if (next_ == batcher_.num_batches()) return 0;
    const Slots slots = slots_for(batcher_.batch_count(next_));
    return batcher_.fill(next_++, slots.images, slots.labels);
  }

 private:
  std::optional<data::Batcher> owned_;
  data::Batcher& batcher_;
  std::optional<uint64_t> seed_;  // set: an order of its own (see the borrowing constructor)
  int64_t next_ = 0;
};

// Batches a BatchProvider produces, each copied into the step's input. The first batch is
// asked for when constructed: its rows are the batch size every program is compiled for.
class ProvidedBatches final : public BatchSource {
 public:
  // Throws Error(kInvalidArgument) when the provider yields no batch, or a batch whose images
  // are not `image_shape` or that has no labels.
  ProvidedBatches(BatchProvider& provider, Shape image_shape);
  int64_t batch_size() const override { return batch_size_; }
  int64_t num_batches() const override { return provider_.num_batches(); }
  std::vector<int64_t> known_batch_sizes() const override { return {batch_size_}; }
  void start_epoch(int64_t epoch) override;
  int64_t next(const SlotsFor& slots_for) override;
  bool may_hold_non_finite() const override { return true; }

 private:
  data::ImagesView checked(const data::ImagesView& batch) const;

  BatchProvider& provider_;
  Shape image_shape_;
  int64_t batch_size_ = 0;
  std::optional<data::ImagesView> pending_;  // a batch fetched and not yet written
};

// Batches a Dataset yields.
class DatasetBatches final : public BatchSource {
 public:
  // `dataset` must end in batch(B); `image_shape` is the model's input (without the batch).
  // Throws Error(kInvalidArgument) when it does not.
  DatasetBatches(const data::Dataset& dataset, Shape image_shape);
  int64_t batch_size() const override { return batch_size_; }
  int64_t num_batches() const override {
    const int64_t c = dataset_.cardinality();
    return c >= 0 ? c : -1;
  }
  std::vector<int64_t> known_batch_sizes() const override { return {batch_size_}; }
  void start_epoch(int64_t epoch) override { iterator_.emplace(dataset_.iterate(epoch)); }
  int64_t next(const SlotsFor& slots_for) override;
  data::PipelineStats epoch_stats() const override {
    return iterator_.has_value() ? iterator_->stats() : data::PipelineStats{};
  }

 private:
  data::BatchDestination destination(const Slots& slots, int64_t rows) const;

  data::Dataset dataset_;
  Shape image_shape_;
  int64_t batch_size_ = 0;
  std::optional<data::Iterator> iterator_;
};

}  // namespace leantrain::train

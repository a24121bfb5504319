// Seeded shuffling and batching of labelled images into the training step's input slot.
#pragma once

#include <cstdint>
#include <vector>

#include "leantrain/data/idx.h"

namespace leantrain::data {

// Seeded shuffling and batching of labelled images into caller-provided memory (the training
// step's input slot: no extra copy per batch).
// Ownership: reads the images in place; the caller keeps them alive and unchanged.
// Thread-safety: not thread-safe. fill() is const and may run concurrently with other fill()
// calls, but never concurrently with start_epoch().
// Memory: one int64_t per example (the epoch's order).
class Batcher {
 public:
  // Starts at epoch 0 (start_epoch(0) is called here).
  // Throws kInvalidArgument when batch_size <= 0, or images' sizes are negative or disagree
  // with its pixels and labels.
  // Throws kInvalidArgument when batch_size <= 0, a size is negative, the pixels are null while
  // count > 0, or the dtype is neither kU8 nor kF32.
  Batcher(const ImagesView& images, int64_t batch_size, bool shuffle, uint64_t seed);
  // images.view(): pixels scaled by 1/255.
  Batcher(const LabeledImages& images, int64_t batch_size, bool shuffle, uint64_t seed)
      : Batcher(images.view(), batch_size, shuffle, seed) {}
  // A temporary would dangle: the Batcher reads the images in place.
  Batcher(LabeledImages&& images, int64_t batch_size, bool shuffle, uint64_t seed) = delete;

  // ceil(count / batch_size): a last partial batch is kept, never dropped.
  int64_t num_batches() const;
  int64_t batch_size() const { return batch_size_; }
  int64_t count() const { return images_.count; }
  DType dtype() const { return images_.dtype; }
  // Bytes a Batcher over `count` examples holds (its epoch order), for the memory plan.
  static int64_t bytes_for(int64_t count) { return count * static_cast<int64_t>(sizeof(int64_t)); }
  // Returns the number of examples in batch b (the last may be smaller). Requires
  // 0 <= b < num_batches(); throws kInvalidArgument otherwise.
  int64_t batch_count(int64_t b) const;

  // Sets the order for epoch `epoch` (0-based): a Fisher-Yates permutation of the identity
  // drawn from Rng(mix of seed and epoch), or the identity when shuffle is false.
  // Deterministic: the order depends only on (seed, epoch), not on earlier calls.
  // O(count). Throws kInvalidArgument when epoch < 0.
  void start_epoch(int64_t epoch);
  // The same, shuffled with `seed` whatever the constructor's shuffle and seed: a second order of
  // the same images without a second Batcher's memory (e.g. batch-norm calibration batches
  // between epochs; the next start_epoch(epoch) restores the Batcher's own order).
  void start_epoch(int64_t epoch, uint64_t seed);

  // Writes batch b of the current epoch: pixels as f32 times the view's scale (p * scale; 1/255
  // for LabeledImages), NHWC, into images[0 .. batch_count(b)*H*W*C), labels into
  // labels[0 .. batch_count(b)) (nothing when the view has no labels).
  // Returns batch_count(b). OpenMP-parallel over examples for large batches.
  // Throws kInvalidArgument when b is out of range.
  int64_t fill(int64_t b, float* images, int32_t* labels) const;

 private:
  ImagesView images_;
  int64_t batch_size_;
  bool shuffle_;
  uint64_t seed_;
  std::vector<int64_t> order_;  // (count) example index at each position of the epoch
};

}  // namespace leantrain::data

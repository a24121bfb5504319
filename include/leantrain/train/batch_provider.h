// Batches someone else produces (a Python generator or keras.utils.PyDataset): the Trainer
// asks for them one at a time and copies each into the training step's input slot.
#pragma once

#include <cstdint>

#include "leantrain/data/idx.h"

namespace leantrain::train {

// A source of labelled batches, one epoch at a time. Not thread-safe: the Trainer calls it
// from the thread running fit().
class BatchProvider {
 public:
  virtual ~BatchProvider() = default;
  // Batches per epoch, or -1 when unknown (then an epoch ends when next() returns no rows, or
  // after FitOptions::steps_per_epoch batches).
  virtual int64_t num_batches() const = 0;
  // Starts epoch `epoch` (0-based).
  virtual void start_epoch(int64_t epoch) = 0;
  // The next batch as a view (count 0: the epoch's data has ended), valid until the next call.
  // Its images must have the model's input shape and labels (ImagesView::labels) must be set.
  virtual data::ImagesView next() = 0;
};

}  // namespace leantrain::train

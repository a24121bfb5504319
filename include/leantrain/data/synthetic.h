// Synthetic data: seeded random images and labels generated per element, for benchmarks and
// smoke runs that should not depend on files.
#pragma once

#include <cstdint>

#include "leantrain/core/shape.h"
#include "leantrain/data/dataset.h"

namespace leantrain::data {

struct SyntheticImagesOptions {
  int64_t batch_size = 32;
  uint64_t seed = 0;
  int64_t num_parallel_calls = 2;  // generating workers; kAutotune (-1) to autotune
};

// `count` elements {"image": f32 `shape` uniform in [0, 1), "label": i32 () uniform in
// [0, classes)}, batched by batch_size (the last batch may be short). Element i is drawn from
// its own generator seeded by (seed, i), so the data are the same for any number of workers and
// every epoch, and nothing is held in memory. No prefetch: generating a batch is cheap next to a
// training step, and a benchmark input should not hold batches ahead. Throws
// Error(kInvalidArgument) naming the value for classes < 1, count < 0, batch_size < 1 or
// num_parallel_calls < -1.
Dataset synthetic_images(const Shape& shape, int64_t classes, int64_t count,
                         const SyntheticImagesOptions& options = {});

}  // namespace leantrain::data

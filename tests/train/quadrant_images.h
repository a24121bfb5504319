// A tiny learnable image task the train tests share.
#pragma once

#include <cstdint>

#include "leantrain/core/rng.h"
#include "leantrain/data/idx.h"

namespace leantrain::train {

// 12x12x1 images whose class (0..3) is the quadrant holding a bright 4x4 blob, on seeded noise:
// learnable in a few epochs by a small convnet.
inline data::LabeledImages quadrant_images(int64_t count, uint64_t seed) {
  data::LabeledImages d;
  d.count = count;
  d.height = 12;
  d.width = 12;
  d.channels = 1;
  d.num_classes = 4;
  d.pixels.resize(static_cast<size_t>(count * 144));
  d.labels.resize(static_cast<size_t>(count));
  Rng rng(seed);
  for (int64_t i = 0; i < count; ++i) {
    const auto label = static_cast<int32_t>(rng.below(4));
    d.labels[static_cast<size_t>(i)] = label;
    const int64_t top = (label / 2) * 6, left = (label % 2) * 6;
    for (int64_t y = 0; y < 12; ++y) {
      for (int64_t x = 0; x < 12; ++x) {
        const bool blob = y >= top + 1 && y < top + 5 && x >= left + 1 && x < left + 5;
        const float v = (blob ? 180.0f : 20.0f) + rng.uniform(0.0f, 60.0f);
        d.pixels[static_cast<size_t>(i * 144 + y * 12 + x)] = static_cast<uint8_t>(v);
      }
    }
  }
  return d;
}

}  // namespace leantrain::train

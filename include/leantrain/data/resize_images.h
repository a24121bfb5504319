// Resizing a whole in-memory image set once, before training (a data-side resize: cheaper than
// a Resizing layer that runs every step).
#pragma once

#include <cstdint>

#include "leantrain/data/idx.h"
#include "leantrain/data/image.h"

namespace leantrain::data {

// Returns `images` with every image resized to height x width (data::resize with
// `interpolation`, antialiased when shrinking); labels and classes unchanged. OpenMP-parallel
// over images. Throws Error(kInvalidArgument) for a non-positive size.
LabeledImages resize_images(const LabeledImages& images, int64_t height, int64_t width,
                            Interpolation interpolation = Interpolation::kBilinear);

}  // namespace leantrain::data

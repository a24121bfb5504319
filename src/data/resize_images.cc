#include "leantrain/data/resize_images.h"

#include <algorithm>
#include <cstring>

#include "leantrain/core/cpu_features.h"
#include "leantrain/core/error.h"

namespace leantrain::data {

LabeledImages resize_images(const LabeledImages& images, int64_t height, int64_t width,
                            Interpolation interpolation) {
  LT_CHECK(height > 0 && width > 0, kInvalidArgument, "image size must be positive, got ", height,
           "x", width);
  LabeledImages out;
  out.count = images.count;
  out.height = height;
  out.width = width;
  out.channels = images.channels;
  out.num_classes = images.num_classes;
  out.labels = images.labels;
  const int64_t in_size = images.height * images.width * images.channels;
  const int64_t out_size = height * width * images.channels;
  out.pixels.resize(static_cast<size_t>(images.count * out_size));
  require_kernel_cpu_features();  // the resizer is built for x86-64-v3
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < images.count; ++i) {
    Image src;
    src.height = images.height;
    src.width = images.width;
    src.channels = images.channels;
    src.pixels.assign(images.pixels.begin() + i * in_size,
                      images.pixels.begin() + (i + 1) * in_size);
    const Image dst = resize(src, height, width, interpolation, /*antialias=*/true);
    std::memcpy(out.pixels.data() + i * out_size, dst.pixels.data(), static_cast<size_t>(out_size));
  }
  return out;
}

}  // namespace leantrain::data

// Batcher: seeded per-epoch permutations and u8 -> f32 batch conversion.
#include "leantrain/data/batcher.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"

namespace leantrain::data {
namespace {
// Batches with at least this many pixels are converted by several OpenMP threads; smaller ones
// are not worth waking the team for.
constexpr int64_t kParallelPixels = int64_t{1} << 16;
}  // namespace

Batcher::Batcher(const ImagesView& images, int64_t batch_size, bool shuffle, uint64_t seed)
    : images_(images), batch_size_(batch_size), shuffle_(shuffle), seed_(seed) {
  LT_CHECK(batch_size > 0, kInvalidArgument, "batch size must be positive, got ", batch_size);
  LT_CHECK(images.count >= 0 && images.height >= 0 && images.width >= 0 && images.channels >= 0,
           kInvalidArgument, "images have a negative size: count ", images.count, ", ",
           images.height, "x", images.width, "x", images.channels);
  LT_CHECK(images.count == 0 || images.pixels != nullptr, kInvalidArgument,
           "images: ", images.count, " examples but no pixels");
  LT_CHECK(images.dtype == DType::kU8 || images.dtype == DType::kF32, kInvalidArgument,
           "images: pixels must be u8 or f32, got ", dtype_name(images.dtype));
  order_.resize(static_cast<size_t>(images.count));
  start_epoch(0);
}

int64_t Batcher::num_batches() const { return (images_.count + batch_size_ - 1) / batch_size_; }

int64_t Batcher::batch_count(int64_t b) const {
  LT_CHECK(b >= 0 && b < num_batches(), kInvalidArgument, "batch ", b, " is out of range [0, ",
           num_batches(), ")");
  return std::min(batch_size_, images_.count - b * batch_size_);
}

// Fisher-Yates (Durstenfeld): for i from n-1 down to 1, swap position i with a uniform
// position in [0, i]. Starts from the identity every epoch, so the order is a pure function of
// (seed, epoch). O(n) time, no extra memory.
void Batcher::start_epoch(int64_t epoch) {
  if (shuffle_) {
    start_epoch(epoch, seed_);
    return;
  }
  LT_CHECK(epoch >= 0, kInvalidArgument, "epoch must be >= 0, got ", epoch);
  std::iota(order_.begin(), order_.end(), int64_t{0});
}

void Batcher::start_epoch(int64_t epoch, uint64_t seed) {
  LT_CHECK(epoch >= 0, kInvalidArgument, "epoch must be >= 0, got ", epoch);
  std::iota(order_.begin(), order_.end(), int64_t{0});
  Rng rng(mix64(seed ^ mix64(static_cast<uint64_t>(epoch))));
  for (int64_t i = images_.count - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i) + 1));
    std::swap(order_[static_cast<size_t>(i)], order_[static_cast<size_t>(j)]);
  }
}

namespace {
template <typename T>
void convert_rows(const T* pixels, const int64_t* order, int64_t n, int64_t example_pixels,
                  float scale, float* images) {
#pragma omp parallel for schedule(static) if (n * example_pixels >= kParallelPixels)
  for (int64_t i = 0; i < n; ++i) {
    const T* src = pixels + order[i] * example_pixels;
    float* dst = images + i * example_pixels;
    for (int64_t k = 0; k < example_pixels; ++k) dst[k] = static_cast<float>(src[k]) * scale;
  }
}
}  // namespace

int64_t Batcher::fill(int64_t b, float* images, int32_t* labels) const {
  const int64_t n = batch_count(b);
  const int64_t example_pixels = images_.height * images_.width * images_.channels;
  const int64_t* order = order_.data() + b * batch_size_;
  if (images_.dtype == DType::kU8) {
    convert_rows(static_cast<const uint8_t*>(images_.pixels), order, n, example_pixels,
                 images_.scale, images);
  } else {
    convert_rows(static_cast<const float*>(images_.pixels), order, n, example_pixels, images_.scale,
                 images);
  }
  if (images_.labels != nullptr) {
    for (int64_t i = 0; i < n; ++i) labels[i] = images_.labels[order[i]];
  }
  return n;
}

}  // namespace leantrain::data

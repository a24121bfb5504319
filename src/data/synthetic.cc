#include "leantrain/data/synthetic.h"

#include <utility>

#include "leantrain/core/error.h"
#include "leantrain/core/rng.h"

namespace leantrain::data {

Dataset synthetic_images(const Shape& shape, int64_t classes, int64_t count,
                         const SyntheticImagesOptions& options) {
  LT_CHECK(classes >= 1, kInvalidArgument, "synthetic_images: classes must be >= 1, got ", classes);
  LT_CHECK(count >= 0, kInvalidArgument, "synthetic_images: count must be >= 0, got ", count);
  LT_CHECK(options.batch_size >= 1, kInvalidArgument,
           "synthetic_images: batch_size must be >= 1, got ", options.batch_size);
  LT_CHECK(options.num_parallel_calls >= -1, kInvalidArgument,
           "synthetic_images: num_parallel_calls must be >= 0, or kAutotune (-1); got ",
           options.num_parallel_calls);
  const int64_t elements = shape.num_elements();
  // The salt keeps these draws apart from other users of the same run seed.
  const uint64_t seed = mix64(options.seed ^ 0x5e7);
  return Dataset::range(0, count)
      .map(
          [shape, classes, elements, seed](Element e) {
            const auto index = static_cast<uint64_t>(e.at("value").as<int32_t>()[0]);
            Rng rng(mix64(seed ^ mix64(index + 1)));
            Tensor image = Tensor::uninitialized(DType::kF32, shape);
            float* p = image.mutable_as<float>();
            for (int64_t i = 0; i < elements; ++i) p[i] = rng.uniform(0.0f, 1.0f);
            Element out;
            out.set("image", std::move(image));
            out.set("label", Tensor::scalar(
                                 static_cast<int32_t>(rng.below(static_cast<uint64_t>(classes)))));
            return out;
          },
          {.num_parallel_calls = options.num_parallel_calls,
           .seed = options.seed,
           .max_output_bytes = elements * 4 + 4})
      .batch(options.batch_size);
}

}  // namespace leantrain::data

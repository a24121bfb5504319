// libFuzzer target for the image decoders (JPEG through libjpeg-turbo, PNG through libpng) and
// the resize path behind them: any input either decodes into a well-formed image or throws
// leantrain::Error with kDataLoss (corrupt, truncated, too large) or kUnimplemented (another
// format). Anything else (a crash, a sanitizer report, a leak, another exception or error
// code, a broken invariant) is a finding.
//
// The last two input bytes choose the options (channels, the DCT-scaling minimum size), so the
// fuzzer explores them too; trailing bytes after a JPEG's EOI or a PNG's IEND are ignored by
// the decoders. Run through scripts/fuzz.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/data/image.h"

namespace {

using namespace leantrain;
using namespace leantrain::data;

// Aborts (a finding for libFuzzer) unless `cond`.
void require(bool cond) {
  if (!cond) std::abort();
}

void require_expected_error(const Error& e) {
  require(e.code() == ErrorCode::kDataLoss || e.code() == ErrorCode::kUnimplemented);
}

// Small enough that no input makes a run slow or large; the limit logic is the same code as
// for the default.
constexpr int64_t kMaxPixels = int64_t{1} << 22;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  const uint8_t knob = size >= 1 ? data[size - 1] : 0;
  const uint8_t min_size = size >= 2 ? data[size - 2] : 0;
  const int channels_options[3] = {0, 1, 3};
  DecodeOptions options;
  options.channels = channels_options[knob % 3];
  options.min_height = (knob & 4) ? min_size : 0;
  options.min_width = (knob & 8) ? min_size / 2 : 0;
  options.fast_dct = (knob & 16) != 0;
  options.max_pixels = kMaxPixels;

  try {
    const ImageInfo info = read_image_info(bytes, "fuzz-input");
    require(info.format != ImageFormat::kUnknown && info.height >= 0 && info.width >= 0);
  } catch (const Error& e) {
    require_expected_error(e);
  }

  Image image;
  try {
    decode_image_into(bytes, "fuzz-input", options, image);
  } catch (const Error& e) {
    require_expected_error(e);
    return 0;
  }
  require(image.height > 0 && image.width > 0);
  require(image.height * image.width <= kMaxPixels);
  require(options.channels == 0 ? (image.channels == 1 || image.channels == 3)
                                : image.channels == options.channels);
  require(image.pixels.size() == static_cast<size_t>(image.size()));

  // The resize path over what was decoded: a small output with a crop window, mirrored.
  std::vector<float> out(static_cast<size_t>(5 * 7 * image.channels));
  const CropWindow window = random_resized_crop_window(image.height, image.width, knob);
  const Interpolation interpolations[3] = {Interpolation::kBilinear, Interpolation::kArea,
                                           Interpolation::kNearest};
  resize_to_float(image, window, 5, 7, out.data(), PixelAffine::rescale(1.0f),
                  interpolations[(knob >> 5) % 3], (knob & 128) != 0, (knob & 1) != 0);
  for (float v : out) require(v >= -1e-3f && v <= 255.001f);

  // The fused decode + resize (DCT scaling chosen from the window).
  DecodeResizeOptions fused;
  fused.channels = options.channels == 1 ? 1 : 3;
  fused.height = 6;
  fused.width = 4;
  fused.crop = static_cast<CropMode>(knob % 4 == 2 ? 0 : knob % 4);
  fused.crop_seed = min_size;
  fused.max_pixels = kMaxPixels;
  std::vector<float> fused_out(static_cast<size_t>(6 * 4 * fused.channels));
  try {
    decode_resize_to_float(bytes, "fuzz-input", fused, fused_out.data(), image);
  } catch (const Error& e) {
    require_expected_error(e);
  }
  return 0;
}

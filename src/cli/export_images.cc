// `leantrain export-images`: writes a dataset as a class-folder tree of JPEG or PNG files
// (OUT/<split>/<class name>/00001.jpg), the layout image_dataset_from_directory and
// torchvision's ImageFolder read: for demos, tests and side-by-side benchmarks.
#include <array>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "leantrain/core/error.h"
#include "leantrain/core/file.h"
#include "leantrain/data/idx.h"
#include "leantrain/data/image.h"
#include "leantrain/data/tfrecord.h"

namespace leantrain::cli {
namespace {

// Fashion-MNIST's classes in label order, spelled as folder names ("T-shirt/top" has a slash).
constexpr std::array<const char*, 10> kFashionMnistClasses = {
    "T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle_boot"};

struct ExportArgs {
  std::string data = "fashion-mnist";
  std::string data_dir;
  std::string out;
  int64_t size = 64;
  std::string format = "jpeg";
  int quality = 90;
  int64_t limit = 0;  // images per split; 0: all
  std::string split = "both";
  bool rgb = false;
};

void make_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  LT_CHECK(!ec, kIo, dir.string(), ": cannot create the directory: ", ec.message(),
           "; pass an --out directory you can write to");
}

// Writes the first `limit` images (all when 0) of `images` under out/<split>/<class>/, numbering
// files 00001, 00002, ... within each class. Every class gets its folder, even one that --limit
// leaves empty, so the tree always names all classes (Keras counts empty class folders too).
// Returns the number of files written.
// The image i of `images`, resized to --size and made RGB when --rgb.
data::Image export_image(const data::LabeledImages& images, int64_t i, const ExportArgs& a) {
  const int64_t pixels = images.height * images.width * images.channels;
  data::Image image{images.height, images.width, images.channels, {}};
  const auto* src = images.pixels.data() + i * pixels;
  image.pixels.assign(src, src + pixels);
  if (image.height != a.size || image.width != a.size) {
    image = data::resize(image, a.size, a.size, data::Interpolation::kBilinear,
                         /*antialias=*/true);
  }
  if (a.rgb) image = data::to_rgb(image);
  return image;
}

// Writes the first `limit` images as out/<split>.tfrecord: one tf.train.Example per image with
// "image/encoded" (JPEG bytes) and "image/class/label" (int64, from 0), the TF-slim layout that
// `--data tfrecord:` reads. Written to a temporary file, then renamed.
int64_t export_split_tfrecord(const data::LabeledImages& images, const std::string& split,
                              const ExportArgs& a) {
  const int64_t count = a.limit > 0 ? std::min(a.limit, images.count) : images.count;
  make_directory(a.out);
  const std::filesystem::path path = std::filesystem::path(a.out) / (split + ".tfrecord");
  const std::string temporary = path.string() + ".tmp";
  {
    data::TfRecordWriter writer(temporary);
    for (int64_t i = 0; i < count; ++i) {
      const std::vector<uint8_t> jpeg = data::encode_jpeg(export_image(images, i, a), a.quality);
      const std::vector<uint8_t> record = data::serialize_example(
          {{"image/encoded", data::bytes_feature({jpeg})},
           {"image/class/label", data::int64_feature({images.labels[static_cast<size_t>(i)]})}});
      writer.write(record);
    }
    writer.close();
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  LT_CHECK(!ec, kIo, path.string(), ": cannot rename the finished file into place: ", ec.message());
  return count;
}

int64_t export_split(const data::LabeledImages& images, const std::string& split,
                     const ExportArgs& a) {
  if (a.format == "tfrecord") return export_split_tfrecord(images, split, a);
  const int64_t count = a.limit > 0 ? std::min(a.limit, images.count) : images.count;
  const std::filesystem::path root = std::filesystem::path(a.out) / split;
  LT_CHECK(images.num_classes <= static_cast<int32_t>(kFashionMnistClasses.size()),
           kInvalidArgument, split, ": labels go up to ", images.num_classes - 1,
           " but Fashion-MNIST has ", kFashionMnistClasses.size(), " classes");
  std::array<int64_t, kFashionMnistClasses.size()> written{};
  for (const char* name : kFashionMnistClasses) make_directory(root / name);
  const char* extension = a.format == "png" ? ".png" : ".jpg";
  for (int64_t i = 0; i < count; ++i) {
    const data::Image image = export_image(images, i, a);
    const std::vector<uint8_t> encoded =
        a.format == "png" ? data::encode_png(image) : data::encode_jpeg(image, a.quality);
    const auto label = static_cast<size_t>(images.labels[static_cast<size_t>(i)]);
    char name[32];
    std::snprintf(name, sizeof name, "%05lld%s", static_cast<long long>(++written[label]),
                  extension);
    write_file_atomically((root / kFashionMnistClasses[label] / name).string(),
                          std::as_bytes(std::span(encoded)));
  }
  return count;
}

void run_export(const ExportArgs& a) {
  LT_CHECK(a.data == "fashion-mnist", kUnimplemented, "--data '", a.data,
           "' cannot be exported yet; use --data fashion-mnist");
  LT_CHECK(!a.out.empty(), kInvalidArgument, "--out is required: the directory to write into");
  LT_CHECK(a.size > 0, kInvalidArgument, "--size must be positive, got ", a.size);
  LT_CHECK(a.format == "jpeg" || a.format == "png" || a.format == "tfrecord", kInvalidArgument,
           "--format '", a.format, "' is not supported; use jpeg, png or tfrecord");
  LT_CHECK(a.quality >= 1 && a.quality <= 100, kInvalidArgument,
           "--quality must be in [1, 100], "
           "got ",
           a.quality);
  LT_CHECK(a.limit >= 0, kInvalidArgument, "--limit must be >= 0 (0: every image), got ", a.limit);
  LT_CHECK(a.split == "train" || a.split == "test" || a.split == "both", kInvalidArgument,
           "--split '", a.split, "' is not one of train, test, both");
  const data::TrainTest ds = data::load_fashion_mnist(a.data_dir);
  int64_t train = 0, test = 0;
  if (a.split != "test") train = export_split(ds.train, "train", a);
  if (a.split != "train") test = export_split(ds.test, "test", a);
  std::cout << "Wrote " << train + test << " files to " << a.out << " (train: " << train
            << ", test: " << test << "; " << a.size << "x" << a.size << " "
            << (a.rgb ? "RGB" : "grayscale") << " "
            << (a.format == "png"        ? "PNG"
                : a.format == "tfrecord" ? "JPEG in TFRecord"
                                         : "JPEG")
            << ")\n";
}

}  // namespace

void add_export_images_command(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand("export-images",
                                     "Write a dataset as a class-folder tree of JPEG or PNG files");
  cmd->add_option("--data", a->data, "Dataset (fashion-mnist)")->capture_default_str();
  cmd->add_option("--data-dir", a->data_dir,
                  "Directory holding the IDX files (default: /usr/share/datasets/fashion-mnist)");
  cmd->add_option("--out", a->out, "Directory to write OUT/<split>/<class>/00001.jpg into")
      ->required();
  cmd->add_option("--size", a->size, "Side of the square output images (bilinear, antialiased)")
      ->capture_default_str();
  cmd->add_option("--format", a->format,
                  "jpeg, png (OUT/<split>/<class>/ files) or tfrecord (OUT/<split>.tfrecord of "
                  "tf.train.Example with image/encoded JPEG and image/class/label)")
      ->capture_default_str();
  cmd->add_option("--quality", a->quality, "JPEG quality, 1..100")->capture_default_str();
  cmd->add_option("--limit", a->limit, "Images per split (0: all)")->capture_default_str();
  cmd->add_option("--split", a->split, "train, test or both")->capture_default_str();
  cmd->add_flag("--rgb", a->rgb, "Write 3-channel images (gray repeated) instead of grayscale");
  cmd->callback([a] { run_export(*a); });
}

}  // namespace leantrain::cli

#include "leantrain/data/image_folder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/dataset_testing.h"
#include "leantrain/core/error.h"
#include "leantrain/data/image.h"

namespace leantrain::data {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// A 4x4 RGB image whose samples are all 10 * id: id is read back from any pixel.
void write_tagged_png(const std::string& path, int id) {
  Image img;
  img.height = img.width = 4;
  img.channels = 3;
  img.pixels.assign(4 * 4 * 3, static_cast<uint8_t>(10 * id));
  fs::create_directories(fs::path(path).parent_path());
  const std::vector<uint8_t> bytes = encode_png(img);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// root/a/0.png .. root/a/3.png (ids 0-3, label 0), root/b/4.png .. root/b/5.png (ids 4-5,
// label 1).
std::string write_tree(const TempDir& dir) {
  const std::string root = dir.file("tree");
  for (int id = 0; id < 6; ++id) {
    write_tagged_png(root + (id < 4 ? "/a/" : "/b/") + std::to_string(id) + ".png", id);
  }
  return root;
}

// (id, label) of every element of epoch 0, ids read back from the first sample (values 0..255).
std::vector<std::pair<int, int>> ids_and_labels(const Dataset& ds) {
  std::vector<std::pair<int, int>> out;
  Iterator it = ds.iterate(0);
  while (std::optional<Element> e = it.next()) {
    const Tensor& x = e->at("image");
    const Tensor& y = e->at("label");
    const int64_t per_image = x.num_elements() / x.shape()[0];
    for (int64_t i = 0; i < x.shape()[0]; ++i) {
      out.emplace_back(static_cast<int>(x.as<float>()[i * per_image] / 10.0f + 0.5f),
                       y.as<int32_t>()[i]);
    }
  }
  return out;
}

ImageFolderPipeline small_pipeline() {
  ImageFolderPipeline p;
  p.height = p.width = 2;
  p.batch_size = 4;
  p.threads = 0;
  p.affine = PixelAffine::rescale(1.0f);
  return p;
}

TEST(ImageFolderDatasetsTest, ReadsEveryFileWithItsClassLabel) {
  TempDir dir;
  std::ostringstream log;
  const ImageFolderData d =
      image_folder_datasets(write_tree(dir), small_pipeline(), std::nullopt, &log);
  EXPECT_NE(log.str().find("Found 6 files belonging to 2 classes."), std::string::npos);
  EXPECT_EQ(d.classes, 2);
  EXPECT_EQ(d.train_count, 6);
  EXPECT_TRUE(d.labelled);
  EXPECT_FALSE(d.validation.has_value());
  std::vector<std::pair<int, int>> got = ids_and_labels(d.train);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got,
            (std::vector<std::pair<int, int>>{{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 1}, {5, 1}}));
}

TEST(ImageFolderDatasetsTest, WithoutShuffleOrSplitFilesComeInClassThenNameOrder) {
  TempDir dir;
  std::ostringstream log;
  ImageFolderPipeline p = small_pipeline();
  p.shuffle = false;
  const ImageFolderData d = image_folder_datasets(write_tree(dir), p, std::nullopt, &log);
  EXPECT_EQ(ids_and_labels(d.train),
            (std::vector<std::pair<int, int>>{{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 1}, {5, 1}}));
}

TEST(ImageFolderDatasetsTest, SplitHoldsOutTheLastFilesUnshuffled) {
  TempDir dir;
  std::ostringstream log;
  ImageFolderPipeline p = small_pipeline();
  p.flip = true;
  const ImageFolderData d = image_folder_datasets(write_tree(dir), p, 0.5, &log);
  EXPECT_NE(log.str().find("Using 3 files for training."), std::string::npos);
  EXPECT_NE(log.str().find("Using 3 files for validation."), std::string::npos);
  EXPECT_EQ(d.train_count, 3);
  ASSERT_TRUE(d.validation.has_value());
  std::vector<std::pair<int, int>> train = ids_and_labels(d.train);
  const std::vector<std::pair<int, int>> validation = ids_and_labels(*d.validation);
  EXPECT_EQ(train.size(), 3u);
  EXPECT_EQ(validation.size(), 3u);
  // Together they are every file once; the validation order is the same on every iteration.
  train.insert(train.end(), validation.begin(), validation.end());
  std::sort(train.begin(), train.end());
  EXPECT_EQ(train,
            (std::vector<std::pair<int, int>>{{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 1}, {5, 1}}));
  EXPECT_EQ(ids_and_labels(*d.validation), validation);
}

TEST(ImageFolderDatasetsTest, NamesADirectoryWithoutImages) {
  TempDir dir;
  fs::create_directories(dir.file("empty/a"));
  std::ostringstream log;
  try {
    image_folder_datasets(dir.file("empty"), small_pipeline(), std::nullopt, &log);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("empty: no images found (allowed formats"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace leantrain::data

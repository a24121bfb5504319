// image_dataset_from_directory against Keras' documented algorithm, on a small tree whose
// expected order, labels and split are worked out by hand below.
#include "leantrain/data/directory_dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/dataset_testing.h"
#include "leantrain/data/image.h"

namespace leantrain::data {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::with_timeout;

// A 2x2 RGB image whose samples are all 40 * id + c (c the channel): id is read back from the
// first sample.
Image tagged(int id) {
  Image img;
  img.height = img.width = 2;
  img.channels = 3;
  for (int p = 0; p < 4; ++p) {
    for (int c = 0; c < 3; ++c) img.pixels.push_back(static_cast<uint8_t>(40 * id + c));
  }
  return img;
}

void write_png(const std::string& path, const Image& img) {
  fs::create_directories(fs::path(path).parent_path());
  const std::vector<uint8_t> bytes = encode_png(img);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// photos/
//   loose.png (6)            a file at the top: no class, ignored unless labels is "none"
//   .hidden/z.png (5)        a hidden directory: not a class
//   cat/B.PNG (1)            upper-case extension: allowed; sorts before a.png
//   cat/a.png (0)
//   cat/notes.txt            not an image extension: ignored
//   cat/sub/c.png (2)        subdirectories are walked
//   dog/x.jpg (3)            PNG bytes behind a .jpg name: decoded by content
//   dog/y.png (4)
//   zebra/                   an empty class still counts as a class
class PhotoTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.file("photos");
    write_png(root_ + "/loose.png", tagged(6));
    write_png(root_ + "/.hidden/z.png", tagged(5));
    write_png(root_ + "/cat/B.PNG", tagged(1));
    write_png(root_ + "/cat/a.png", tagged(0));
    std::ofstream(root_ + "/cat/notes.txt") << "not an image";
    write_png(root_ + "/cat/sub/c.png", tagged(2));
    write_png(root_ + "/dog/x.jpg", tagged(3));
    write_png(root_ + "/dog/y.png", tagged(4));
    fs::create_directories(root_ + "/zebra");
  }

  // Keras' order before shuffling: classes sorted, roots sorted, files sorted ("B" < "a").
  std::vector<std::string> unshuffled() const {
    return {root_ + "/cat/B.PNG", root_ + "/cat/a.png", root_ + "/cat/sub/c.png",
            root_ + "/dog/x.jpg", root_ + "/dog/y.png"};
  }
  static std::vector<int32_t> unshuffled_labels() { return {0, 0, 0, 1, 1}; }
  static std::vector<int> unshuffled_ids() { return {1, 0, 2, 3, 4}; }

  TempDir dir_;
  std::string root_;
};

template <typename T>
std::vector<T> permuted(const std::vector<T>& x, const std::vector<int>& perm) {
  std::vector<T> out;
  for (int i : perm) out.push_back(x[static_cast<size_t>(i)]);
  return out;
}

TEST_F(PhotoTree, IndexFollowsKerasOrderWithoutShuffle) {
  std::ostringstream out;
  const DirectoryIndex index = index_directory(root_, {.shuffle = false, .out = &out});
  EXPECT_EQ(index.file_paths, unshuffled());
  EXPECT_EQ(index.labels, unshuffled_labels());
  EXPECT_EQ(index.class_names, (std::vector<std::string>{"cat", "dog", "zebra"}));
  EXPECT_EQ(out.str(), "Found 5 files belonging to 3 classes.\n");
}

// Oracle: python3 -c "import numpy as np; x = list(range(5));
//   np.random.RandomState(1337).shuffle(x); print(x)"  ->  [3, 2, 1, 0, 4]
TEST_F(PhotoTree, ShuffleIsNumpysRandomStateShuffle) {
  std::ostringstream out;
  const DirectoryIndex index = index_directory(root_, {.seed = 1337, .out = &out});
  const std::vector<int> perm = {3, 2, 1, 0, 4};
  EXPECT_EQ(index.file_paths, permuted(unshuffled(), perm));
  EXPECT_EQ(index.labels, permuted(unshuffled_labels(), perm));
}

// Oracle: python3 -c "import numpy as np; x = list(range(7));
//   np.random.RandomState(1337).shuffle(x); print(x)"  ->  [6, 2, 1, 3, 0, 4, 5]
TEST_F(PhotoTree, LabelsNoneWalksTheWholeTreeIncludingHiddenDirectories) {
  std::ostringstream out;
  const DirectoryIndex plain =
      index_directory(root_, {.labels = "none", .shuffle = false, .out = &out});
  const std::vector<std::string> expected = {root_ + "/loose.png",     root_ + "/.hidden/z.png",
                                             root_ + "/cat/B.PNG",     root_ + "/cat/a.png",
                                             root_ + "/cat/sub/c.png", root_ + "/dog/x.jpg",
                                             root_ + "/dog/y.png"};
  EXPECT_EQ(plain.file_paths, expected);
  EXPECT_TRUE(plain.labels.empty());
  EXPECT_TRUE(plain.class_names.empty());
  EXPECT_EQ(out.str(), "Found 7 files.\n");
  const DirectoryIndex shuffled =
      index_directory(root_, {.labels = "none", .seed = 1337, .verbose = false});
  EXPECT_EQ(shuffled.file_paths, permuted(expected, {6, 2, 1, 3, 0, 4, 5}));
}

TEST_F(PhotoTree, ClassNamesChooseAndOrderTheClasses) {
  const DirectoryIndex index =
      index_directory(root_, {.class_names = {"dog", "cat"}, .shuffle = false, .verbose = false});
  EXPECT_EQ(index.file_paths, (std::vector<std::string>{root_ + "/dog/x.jpg", root_ + "/dog/y.png",
                                                        root_ + "/cat/B.PNG", root_ + "/cat/a.png",
                                                        root_ + "/cat/sub/c.png"}));
  EXPECT_EQ(index.labels, (std::vector<int32_t>{0, 0, 1, 1, 1}));
  try {
    index_directory(root_, {.class_names = {"cat", "bird"}, .verbose = false});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Expected: ['cat', 'dog', 'zebra'] (or a subset of "
                                         "it), but received: class_names=['cat', 'bird']"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(PhotoTree, ExplicitLabelsNameTheirClassesBySortedValue) {
  // Explicit labels index from the top directory down, as labels "none" does: 7 files.
  const std::vector<int32_t> labels = {5, 2, 2, 9, 5, 2, 9};
  const DirectoryIndex index = index_directory(
      root_, {.labels = "list", .label_list = labels, .shuffle = false, .verbose = false});
  EXPECT_EQ(index.class_names, (std::vector<std::string>{"2", "5", "9"}));
  EXPECT_EQ(index.labels, labels);
  EXPECT_EQ(index.file_paths.front(), root_ + "/loose.png");
  EXPECT_THROW(index_directory(root_, {.labels = "list", .label_list = {1}, .verbose = false}),
               Error);
}

// The (id, label) of every element of a dataset, read from the images' first sample.
std::vector<std::pair<int, int32_t>> contents(const Dataset& ds, int64_t batch) {
  std::vector<float> images(static_cast<size_t>(batch * 12));
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  const BatchDestination dst{{"image", TensorView(images.data(), Shape{batch, 2, 2, 3})},
                             {"label", TensorView(labels.data(), Shape{batch})}};
  std::vector<std::pair<int, int32_t>> out;
  Iterator it = ds.iterate(0);
  while (int64_t n = it.next_batch_into(dst)) {
    for (int64_t i = 0; i < n; ++i) {
      const float* img = images.data() + i * 12;
      const int id = static_cast<int>(img[0]) / 40;
      for (int p = 0; p < 4; ++p) {
        for (int c = 0; c < 3; ++c) EXPECT_EQ(img[p * 3 + c], 40.0f * id + c);
      }
      out.emplace_back(id, labels[static_cast<size_t>(i)]);
    }
  }
  return out;
}

TEST_F(PhotoTree, UnshuffledBatchesHoldTheImagesAndLabelsInOrder) {
  with_timeout(60, [&] {
    std::ostringstream out;
    const ImageDirectoryDataset ds = image_dataset_from_directory(
        root_, {.batch_size = 2, .image_size = {2, 2}, .shuffle = false, .out = &out});
    EXPECT_EQ(ds.dataset.cardinality(), 3);
    EXPECT_EQ(ds.file_paths, unshuffled());
    EXPECT_EQ(ds.class_names, (std::vector<std::string>{"cat", "dog", "zebra"}));
    std::vector<std::pair<int, int32_t>> expected;
    for (size_t i = 0; i < 5; ++i) {
      expected.emplace_back(unshuffled_ids()[i], unshuffled_labels()[i]);
    }
    EXPECT_EQ(contents(ds.dataset, 2), expected);
    EXPECT_GT(ds.dataset.max_buffered_bytes(), 0);  // every size is known in advance
  });
}

// validation_split 0.4 of 5 files: int(0.4 * 5) = 2 validation files, the last 2 of the
// shuffled order [3, 2, 1, 0, 4] (numpy oracle above); training keeps the first 3.
TEST_F(PhotoTree, ValidationSplitTakesTheLastFilesOfTheShuffledOrder) {
  with_timeout(60, [&] {
    const std::vector<int> perm = {3, 2, 1, 0, 4};
    const auto files = permuted(unshuffled(), perm);
    const auto labels = permuted(unshuffled_labels(), perm);
    const auto ids = permuted(unshuffled_ids(), perm);
    std::ostringstream out;
    ImageDirectoryOptions options{.batch_size = 2,
                                  .image_size = {2, 2},
                                  .seed = 1337,
                                  .validation_split = 0.4,
                                  .subset = "training",
                                  .out = &out};
    const ImageDirectoryDataset train = image_dataset_from_directory(root_, options);
    EXPECT_EQ(out.str(), "Found 5 files belonging to 3 classes.\nUsing 3 files for training.\n");
    EXPECT_EQ(train.file_paths, std::vector<std::string>(files.begin(), files.begin() + 3));
    EXPECT_EQ(train.labels, std::vector<int32_t>(labels.begin(), labels.begin() + 3));
    // The shuffle buffer reorders within an epoch: compare as sets.
    auto got = contents(train.dataset, 2);
    std::sort(got.begin(), got.end());
    std::vector<std::pair<int, int32_t>> want;
    for (size_t i = 0; i < 3; ++i) want.emplace_back(ids[i], labels[i]);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want);

    out.str("");
    options.subset = "validation";
    const ImageDirectoryDataset val = image_dataset_from_directory(root_, options);
    EXPECT_EQ(out.str(), "Found 5 files belonging to 3 classes.\nUsing 2 files for validation.\n");
    EXPECT_EQ(val.file_paths, std::vector<std::string>(files.begin() + 3, files.end()));
  });
}

TEST_F(PhotoTree, BothSubsetsSplitOnceAndLeaveValidationUnshuffled) {
  with_timeout(60, [&] {
    const std::vector<int> perm = {3, 2, 1, 0, 4};
    const auto ids = permuted(unshuffled_ids(), perm);
    const auto labels = permuted(unshuffled_labels(), perm);
    std::ostringstream out;
    const auto [train, val] = image_dataset_split_from_directory(root_, {.batch_size = 4,
                                                                         .image_size = {2, 2},
                                                                         .seed = 1337,
                                                                         .validation_split = 0.4,
                                                                         .subset = "both",
                                                                         .out = &out});
    EXPECT_EQ(out.str(),
              "Found 5 files belonging to 3 classes.\nUsing 3 files for training.\nUsing 2 "
              "files for validation.\n");
    EXPECT_EQ(train.file_paths.size(), 3u);
    EXPECT_EQ(contents(val.dataset, 4),
              (std::vector<std::pair<int, int32_t>>{{ids[3], labels[3]}, {ids[4], labels[4]}}));
    EXPECT_THROW(
        image_dataset_from_directory(
            root_, {.seed = 1, .validation_split = 0.4, .subset = "both", .verbose = false}),
        Error);
  });
}

TEST_F(PhotoTree, LabelModesShapeTheLabels) {
  with_timeout(60, [&] {
    auto first = [&](const ImageDirectoryOptions& o) {
      ImageDirectoryOptions options = o;
      options.image_size = {2, 2};
      options.shuffle = false;
      options.verbose = false;
      Iterator it = image_dataset_from_directory(root_, options).dataset.iterate(0);
      return *it.next();
    };
    const Element cat = first({.label_mode = "categorical", .batch_size = 5});
    EXPECT_EQ(cat.at("label").shape(), (Shape{5, 3}));
    const float* one_hot = cat.at("label").as<float>();
    const std::vector<float> expected = {1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0};
    EXPECT_EQ(std::vector<float>(one_hot, one_hot + 15), expected);
    const Element binary =
        first({.label_mode = "binary", .class_names = {"dog", "cat"}, .batch_size = 5});
    EXPECT_EQ(binary.at("label").shape(), (Shape{5, 1}));
    EXPECT_EQ(binary.at("label").as<float>()[0], 0.0f);  // dog first: label 0
    EXPECT_EQ(binary.at("label").as<float>()[4], 1.0f);
    const Element none = first({.label_mode = "none", .batch_size = 5});
    EXPECT_FALSE(none.has("label"));
    const Element gray = first({.color_mode = "grayscale", .batch_size = 0});
    EXPECT_EQ(gray.at("image").shape(), (Shape{2, 2, 1}));
    EXPECT_EQ(gray.at("label").shape(), Shape());
    try {
      first({.label_mode = "binary"});
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("there must be exactly 2 class_names"),
                std::string::npos);
    }
  });
}

TEST_F(PhotoTree, KerasArgumentChecksAndMessages) {
  auto message = [&](const ImageDirectoryOptions& o, const std::string& dir = "") {
    try {
      image_dataset_from_directory(dir.empty() ? root_ : dir, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({.validation_split = 0.2, .subset = "training"})
                .find("If using `validation_split` and shuffling the data, you must provide a "
                      "`seed` argument"),
            std::string::npos);
  EXPECT_EQ(message({.subset = "training"}),
            "If `subset` is set, `validation_split` must be set, and inversely.");
  EXPECT_NE(message({.seed = 1, .validation_split = 1.5, .subset = "training"})
                .find("`validation_split` must be between 0 and 1"),
            std::string::npos);
  EXPECT_NE(message({.seed = 1, .validation_split = 0.1, .subset = "training"})
                .find("gives int(0.1 * 5) = 0 validation files"),
            std::string::npos);
  EXPECT_NE(message({.seed = uint64_t{1} << 32}).find("between 0 and 2**32 - 1"),
            std::string::npos);
  fs::create_directories(dir_.file("empty/a"));
  EXPECT_EQ(message({.verbose = false}, dir_.file("empty")),
            "No images found in directory " + dir_.file("empty") +
                ". Allowed formats: ('.bmp', '.gif', '.jpeg', '.jpg', '.png')");
  try {
    image_dataset_from_directory(dir_.file("nowhere"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
}

TEST_F(PhotoTree, PrintsKerasMessagesToStandardOutputByDefault) {
  ::testing::internal::CaptureStdout();
  image_dataset_from_directory(root_, {.seed = 3});
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "Found 5 files belonging to 3 classes.\n");
}

TEST_F(PhotoTree, CorruptImagesRaiseOrAreSkippedAndCounted) {
  with_timeout(60, [&] {
    std::ofstream(root_ + "/dog/broken.png") << "\x89PNG\r\n\x1a\n truncated";
    const ImageDirectoryOptions strict{
        .batch_size = 2, .image_size = {2, 2}, .shuffle = false, .verbose = false};
    try {
      contents(image_dataset_from_directory(root_, strict).dataset, 2);
      FAIL() << "expected a decode error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
      EXPECT_NE(std::string(e.what()).find(root_ + "/dog/broken.png"), std::string::npos)
          << e.what();
    }
    ImageDirectoryOptions lenient = strict;
    lenient.on_error = OnError::kSkip;
    const ImageDirectoryDataset ds = image_dataset_from_directory(root_, lenient);
    Iterator it = ds.dataset.iterate(0);
    int64_t rows = 0;
    while (auto e = it.next()) rows += e->at("image").shape()[0];
    EXPECT_EQ(rows, 5);
    EXPECT_EQ(it.stats().skipped, 1);
  });
}

TEST_F(PhotoTree, CropToAspectRatioResizesTheCentralWindow) {
  with_timeout(60, [&] {
    // 2 x 6 gray: columns 2 and 3 are 200, the rest 0. For a 2 x 2 target the largest centred
    // square is columns 2..3; without the crop, bilinear samples columns 1 and 4 (x = 3j + 1).
    Image img;
    img.height = 2;
    img.width = 6;
    img.channels = 1;
    for (int y = 0; y < 2; ++y) {
      for (int x = 0; x < 6; ++x) img.pixels.push_back(x == 2 || x == 3 ? 200 : 0);
    }
    const std::string root = dir_.file("wide");
    write_png(root + "/only/w.png", img);
    auto pixels = [&](bool crop) {
      Iterator it = image_dataset_from_directory(root, {.color_mode = "grayscale",
                                                        .batch_size = 0,
                                                        .image_size = {2, 2},
                                                        .shuffle = false,
                                                        .crop_to_aspect_ratio = crop,
                                                        .verbose = false})
                        .dataset.iterate(0);
      const Element e = *it.next();
      const float* p = e.at("image").as<float>();
      return std::vector<float>(p, p + 4);
    };
    EXPECT_EQ(pixels(true), (std::vector<float>{200, 200, 200, 200}));
    EXPECT_EQ(pixels(false), (std::vector<float>{0, 0, 0, 0}));
  });
}

TEST_F(PhotoTree, SymlinkedDirectoriesAreWalkedOnlyWithFollowLinks) {
  write_png(dir_.file("elsewhere/e.png"), tagged(5));
  fs::create_directory_symlink(dir_.file("elsewhere"), root_ + "/cat/linked");
  fs::create_directory_symlink(dir_.file("elsewhere"), root_ + "/lynx");  // a class by link
  const DirectoryIndex plain = index_directory(root_, {.shuffle = false, .verbose = false});
  EXPECT_EQ(plain.class_names, (std::vector<std::string>{"cat", "dog", "lynx", "zebra"}));
  EXPECT_EQ(plain.file_paths,
            (std::vector<std::string>{root_ + "/cat/B.PNG", root_ + "/cat/a.png",
                                      root_ + "/cat/sub/c.png", root_ + "/dog/x.jpg",
                                      root_ + "/dog/y.png", root_ + "/lynx/e.png"}));
  const DirectoryIndex followed =
      index_directory(root_, {.shuffle = false, .follow_links = true, .verbose = false});
  EXPECT_EQ(followed.file_paths,
            (std::vector<std::string>{root_ + "/cat/B.PNG", root_ + "/cat/a.png",
                                      root_ + "/cat/linked/e.png", root_ + "/cat/sub/c.png",
                                      root_ + "/dog/x.jpg", root_ + "/dog/y.png",
                                      root_ + "/lynx/e.png"}));
}

}  // namespace
}  // namespace leantrain::data

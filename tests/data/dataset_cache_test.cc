#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/dataset_testing.h"
#include "leantrain/data/dataset.h"

namespace leantrain::data {
namespace {

using testing::iota;
using testing::TempDir;
using testing::values_of;

int32_t value(const Element& e) { return e.at("value").as<int32_t>()[0]; }

// range(0, n) through a map that counts its calls.
Dataset counted(int32_t n, std::atomic<int64_t>& calls) {
  return Dataset::range(0, n).map([&calls](Element e) {
    ++calls;
    return e;
  });
}

// Elements with every dtype, a rank-3 tensor and a string list.
Dataset rich(int32_t n) {
  return Dataset::range(0, n).map(
      [](Element e, const ElementContext& ctx) {
        Rng rng = ctx.rng();
        std::vector<float> f(2 * 3 * 2);
        for (float& x : f) x = rng.normal();
        std::vector<uint8_t> u(5);
        for (uint8_t& x : u) x = static_cast<uint8_t>(rng.below(256));
        e.set("f", Tensor::from_vector(f, Shape{2, 3, 2}));
        e.set("u", Tensor::from_vector(u, Shape{5}));
        e.set_strings("names", {"n" + std::to_string(value(e)), std::string(value(e), 'x')});
        return e;
      },
      {.seed = 8});
}

void expect_same_elements(const Dataset& a, const Dataset& b) {
  Iterator ia = a.iterate(0), ib = b.iterate(0);
  int64_t count = 0;
  for (;;) {
    auto ea = ia.next();
    auto eb = ib.next();
    ASSERT_EQ(ea.has_value(), eb.has_value()) << "element " << count;
    if (!ea) break;
    ASSERT_EQ(ea->describe(), eb->describe());
    for (const auto& [name, t] : ea->tensors()) {
      const Tensor& u = eb->at(name);
      ASSERT_EQ(t.shape(), u.shape());
      EXPECT_EQ(std::memcmp(t.data(), u.data(), static_cast<size_t>(t.bytes())), 0) << name;
    }
    for (const auto& [name, values] : ea->string_features()) {
      EXPECT_EQ(values, eb->strings(name));
    }
    ++count;
  }
  EXPECT_GT(count, 0);
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    out.push_back(entry.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(MemoryCacheTest, LaterIterationsReadTheCacheNotTheInput) {
  std::atomic<int64_t> calls{0};
  Dataset ds = counted(10, calls).cache();
  EXPECT_EQ(values_of(ds, 0), iota(10));
  EXPECT_EQ(calls.load(), 10);
  Iterator it = ds.iterate(1);
  std::vector<int32_t> again;
  while (auto e = it.next()) again.push_back(value(*e));
  EXPECT_EQ(again, iota(10));
  EXPECT_EQ(calls.load(), 10);
  EXPECT_EQ(it.stats().cache_bytes, 10 * 4);
  // Shuffling after the cache reshuffles the cached elements.
  EXPECT_NE(values_of(ds.shuffle(10, 2), 0), iota(10));
  EXPECT_EQ(calls.load(), 10);
}

TEST(MemoryCacheTest, AnUnfinishedIterationLeavesNoCache) {
  std::atomic<int64_t> calls{0};
  Dataset ds = counted(10, calls).cache();
  {
    Iterator it = ds.iterate(0);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(it.next());
  }
  EXPECT_EQ(values_of(ds, 1), iota(10));
  EXPECT_EQ(calls.load(), 3 + 10);
  EXPECT_EQ(values_of(ds, 2), iota(10));
  EXPECT_EQ(calls.load(), 3 + 10);
}

TEST(FileCacheTest, RoundTripsEveryKindOfFeature) {
  TempDir dir;
  const std::string path = dir.file("train.cache");
  EXPECT_EQ(values_of(rich(7).cache(path), 0), iota(7));  // writes the file
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"train.cache"});
  // A pipeline that would fail if run: the cache file is read instead, as tf.data does.
  Dataset broken = Dataset::range(0, 7).map(
      [](Element) -> Element { throw Error(ErrorCode::kInternal, "the input must not be read"); });
  expect_same_elements(rich(7), broken.cache(path));
}

TEST(FileCacheTest, AnUnfinishedIterationLeavesNoFile) {
  TempDir dir;
  const std::string path = dir.file("c.cache");
  std::atomic<int64_t> calls{0};
  Dataset ds = counted(10, calls).cache(path);
  {
    Iterator it = ds.iterate(0);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(it.next());
    EXPECT_EQ(files_in(dir.path()).size(), 1u);  // the temporary file, being written
    EXPECT_FALSE(std::filesystem::exists(path));
  }
  EXPECT_TRUE(files_in(dir.path()).empty());
  EXPECT_EQ(values_of(ds, 1), iota(10));
  EXPECT_EQ(calls.load(), 4 + 10);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(values_of(ds, 2), iota(10));
  EXPECT_EQ(calls.load(), 4 + 10);
}

TEST(FileCacheTest, ALeftoverTemporaryFileIsNeverRead) {
  TempDir dir;
  const std::string path = dir.file("c.cache");
  // What a crash mid-write leaves behind: a temporary name, never the cache file's own.
  std::ofstream(path + ".tmp-123-0-456", std::ios::binary) << "LTCACHE1 half an element";
  std::atomic<int64_t> calls{0};
  EXPECT_EQ(values_of(counted(5, calls).cache(path), 0), iota(5));
  EXPECT_EQ(calls.load(), 5);
  EXPECT_EQ(values_of(counted(5, calls).cache(path), 0), iota(5));
  EXPECT_EQ(calls.load(), 5);
}

void expect_data_loss(const Dataset& ds, const std::string& needle) {
  try {
    values_of(ds, 0);
    FAIL() << "expected a data loss error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("delete it"), std::string::npos) << e.what();
  }
}

TEST(FileCacheTest, ATruncatedOrCorruptFileIsReportedNotUsed) {
  TempDir dir;
  const std::string path = dir.file("c.cache");
  values_of(rich(6).cache(path), 0);
  const auto size = std::filesystem::file_size(path);
  std::string bytes(size, '\0');
  std::ifstream(path, std::ios::binary).read(bytes.data(), static_cast<std::streamsize>(size));
  auto write = [&](const std::string& content) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(content.data(), static_cast<std::streamsize>(content.size()));
  };
  write(bytes.substr(0, size / 2));
  expect_data_loss(rich(6).cache(path), path + ": truncated cache file");
  // The end record missing: every element is there but the file was never finished.
  write(bytes.substr(0, size - 20));
  expect_data_loss(rich(6).cache(path), "truncated cache file");
  std::string flipped = bytes;
  flipped[40] = static_cast<char>(flipped[40] ^ 0x10);
  write(flipped);
  expect_data_loss(rich(6).cache(path), "CRC");
  write("PNG\x0d\x0a definitely not a cache");
  expect_data_loss(rich(6).cache(path), "not a leantrain cache file");
}

TEST(FileCacheTest, AMissingDirectoryIsNotFound) {
  TempDir dir;
  try {
    Dataset::range(0, 3).cache(dir.file("no/such/dir/c.cache")).iterate(0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("does the directory exist"), std::string::npos);
  }
}

}  // namespace
}  // namespace leantrain::data

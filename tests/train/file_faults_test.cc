// Saving weights under injected file faults (a FileLayer that fails as a full disk, a failing
// device, a failed fsync, short writes, or a process killed between the write and the rename):
// the weights saved before still load, bit for bit; the error names the file and the cause; no
// temporary file is left behind except by the crash, which cannot clean up.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/core/file.h"
#include "leantrain/nn/zoo.h"
#include "leantrain/train/trainer.h"

namespace leantrain::train {
namespace {

namespace fs = std::filesystem;

enum class Fault { kNoSpace, kDeviceError, kFsync, kDirectoryFsync, kShortWrites, kCrash };

// Fails the way `fault` says, on the first call it applies to; passes the rest to the system.
class FaultyLayer final : public FileLayer {
 public:
  explicit FaultyLayer(Fault fault) : fault_(fault) {}
  ssize_t write(int fd, const void* data, size_t n) override {
    if (fault_ == Fault::kNoSpace && written_ + n > 1000) return fail(ENOSPC);
    if (fault_ == Fault::kDeviceError) return fail(EIO);
    if (fault_ == Fault::kShortWrites) n = std::min<size_t>(n, 13);
    const ssize_t put = FileLayer::write(fd, data, n);
    if (put > 0) written_ += static_cast<size_t>(put);
    return put;
  }
  int fsync(int fd) override {
    ++fsyncs_;
    if (fault_ == Fault::kFsync && fsyncs_ == 1) return fail(EIO);
    if (fault_ == Fault::kDirectoryFsync && fsyncs_ == 2) return fail(EIO);
    return FileLayer::fsync(fd);
  }
  int rename(const char* from, const char* to) override {
    if (fault_ == Fault::kCrash) std::_Exit(3);  // killed after the data, before the rename
    return FileLayer::rename(from, to);
  }

 private:
  static int fail(int err) {
    errno = err;
    return -1;
  }
  Fault fault_;
  size_t written_ = 0;
  int fsyncs_ = 0;
};

// Installs a layer for the scope.
class ScopedLayer {
 public:
  explicit ScopedLayer(FileLayer* layer) : previous_(set_file_layer(layer)) {}
  ~ScopedLayer() { set_file_layer(previous_); }

 private:
  FileLayer* previous_;
};

struct Fixture {
  Fixture() {
    dir = ::testing::TempDir() + "leantrain_file_faults_XXXXXX";
    EXPECT_NE(::mkdtemp(dir.data()), nullptr);
    path = dir + "/weights.safetensors";
  }
  ~Fixture() { fs::remove_all(dir); }
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename());
    return names;
  }
  std::string dir, path;
};

Trainer make_trainer(uint64_t seed) {
  return Trainer(nn::make_model("cnn", Shape{28, 28, 1}, 10), {.seed = seed});
}

// The first save with seed 1's weights, then an attempt with seed 2's under `fault`.
void save_twice(const std::string& path, Fault fault) {
  make_trainer(1).save_weights(path);
  Trainer other = make_trainer(2);
  FaultyLayer layer(fault);
  ScopedLayer installed(&layer);
  other.save_weights(path);
}

std::vector<std::vector<float>> loaded(const std::string& path) {
  Trainer t = make_trainer(3);
  t.load_weights(path);
  return t.get_weights();
}

TEST(FileFaultsTest, EachFailureKeepsThePreviousWeightsAndNamesTheCause) {
  const struct {
    Fault fault;
    const char* cause;
  } cases[] = {{Fault::kNoSpace, "No space left on device"},
               {Fault::kDeviceError, "Input/output error"},
               {Fault::kFsync, "fsync failed: Input/output error"}};
  for (const auto& c : cases) {
    Fixture f;
    try {
      save_twice(f.path, c.fault);
      ADD_FAILURE() << c.cause << ": the save should have failed";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kIo);
      EXPECT_NE(std::string(e.what()).find(f.path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.cause), std::string::npos) << e.what();
    }
    EXPECT_EQ(loaded(f.path), make_trainer(1).get_weights()) << c.cause;
    EXPECT_EQ(f.files(), std::vector<std::string>{"weights.safetensors"}) << c.cause;
  }
}

TEST(FileFaultsTest, AFailedDirectorySyncReportsThatTheNewWeightsMayNotSurviveAPowerLoss) {
  Fixture f;
  try {
    save_twice(f.path, Fault::kDirectoryFsync);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("may not survive a power loss"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(loaded(f.path), make_trainer(2).get_weights());  // renamed: the new content
}

TEST(FileFaultsTest, ShortWritesAreCompletedAndTheNewWeightsLoad) {
  Fixture f;
  save_twice(f.path, Fault::kShortWrites);
  EXPECT_EQ(loaded(f.path), make_trainer(2).get_weights());
  EXPECT_EQ(f.files(), std::vector<std::string>{"weights.safetensors"});
}

TEST(FileFaultsTest, AProcessKilledBeforeTheRenameLeavesThePreviousWeights) {
  Fixture f;
  make_trainer(1).save_weights(f.path);
  const Trainer other = make_trainer(2);  // built here: the child only writes
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    FaultyLayer layer(Fault::kCrash);
    set_file_layer(&layer);
    try {
      other.save_weights(f.path);  // _Exit(3) at the rename
    } catch (...) {
    }
    std::_Exit(4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 3) << "the writer should have died at the rename";
  EXPECT_EQ(loaded(f.path), make_trainer(1).get_weights());
  // The killed writer's temporary stays (nothing runs after a kill); the file is untouched.
  const std::vector<std::string> files = f.files();
  EXPECT_EQ(files.size(), 2u);
}

}  // namespace
}  // namespace leantrain::train

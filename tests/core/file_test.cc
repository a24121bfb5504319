#include "leantrain/core/file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "leantrain/core/error.h"

namespace leantrain {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "leantrain_file_test_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // The names of the directory's entries, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(gen() & 0xff);
  return out;
}

// Returns the Error thrown by `f`, failing the test when none is thrown.
template <typename F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected a leantrain::Error";
  return Error(ErrorCode::kInternal, "none thrown");
}

TEST_F(FileTest, RoundTripsArbitraryBytes) {
  const std::string bytes = random_bytes(200'003, 7);  // includes NULs and newlines
  write_file_atomically(path("a.bin"), bytes);
  EXPECT_EQ(read_file(path("a.bin")), bytes);
}

TEST_F(FileTest, RoundTripsAnEmptyFile) {
  write_file_atomically(path("empty"), std::string_view());
  EXPECT_EQ(read_file(path("empty")), "");
  EXPECT_EQ(fs::file_size(path("empty")), 0u);
}

TEST_F(FileTest, AcceptsByteSpans) {
  const std::vector<std::byte> bytes = {std::byte{0}, std::byte{0xff}, std::byte{'\n'}};
  write_file_atomically(path("b"), std::span<const std::byte>(bytes));
  EXPECT_EQ(read_file(path("b")), std::string("\0\xff\n", 3));
}

TEST_F(FileTest, ReplacesAnExistingFileAndLeavesNoTemporaryBehind) {
  write_file_atomically(path("report.json"), "old content that is longer than the new");
  write_file_atomically(path("report.json"), "new");
  EXPECT_EQ(read_file(path("report.json")), "new");
  EXPECT_EQ(entries(), std::vector<std::string>{"report.json"});
}

TEST_F(FileTest, WritesRelativePaths) {
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  write_file_atomically("relative.txt", "x");
  fs::current_path(cwd);
  EXPECT_EQ(read_file(path("relative.txt")), "x");
  EXPECT_EQ(entries(), std::vector<std::string>{"relative.txt"});
}

TEST_F(FileTest, TargetThatIsADirectoryIsAnIoErrorAndStaysUntouched) {
  fs::create_directory(path("target"));
  write_file_atomically(path("target/inside"), "kept");
  const Error e = error_of([&] { write_file_atomically(path("target"), "new"); });
  EXPECT_EQ(e.code(), ErrorCode::kIo);
  EXPECT_NE(std::string(e.what()).find(path("target")), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("directory"), std::string::npos) << e.what();
  EXPECT_TRUE(fs::is_directory(path("target")));
  EXPECT_EQ(read_file(path("target/inside")), "kept");
  EXPECT_EQ(entries(), std::vector<std::string>{"target"});
}

TEST_F(FileTest, MissingDirectoryIsAnIoErrorNamingThePath) {
  const Error e = error_of([&] { write_file_atomically(path("no/such/dir/f"), "x"); });
  EXPECT_EQ(e.code(), ErrorCode::kIo);
  EXPECT_NE(std::string(e.what()).find(path("no/such/dir/f")), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  EXPECT_TRUE(entries().empty());
}

TEST_F(FileTest, AbandonedWriterKeepsOldContentAndRemovesItsTemporary) {
  write_file_atomically(path("ckpt"), "old");
  try {
    AtomicFileWriter out(path("ckpt"));
    out.write(random_bytes(1000, 1));
    EXPECT_EQ(entries().size(), 2u);  // the target and the temporary
    throw std::runtime_error("the model failed halfway through writing");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(read_file(path("ckpt")), "old");
  EXPECT_EQ(entries(), std::vector<std::string>{"ckpt"});
}

TEST_F(FileTest, StreamingWriterConcatenatesItsWrites) {
  AtomicFileWriter out(path("s"));
  out.write("abc");
  out.write(std::string_view());
  out.write("def");
  EXPECT_EQ(out.bytes_written(), 6);
  EXPECT_FALSE(fs::exists(path("s")));  // nothing is visible before commit
  out.commit();
  EXPECT_EQ(read_file(path("s")), "abcdef");
}

// A write that the operating system refuses part-way (here: the file size limit, as a full disk
// would) leaves the old file intact and no temporary. Runs in a child process so the limit does
// not affect the test runner.
TEST_F(FileTest, FailedWriteKeepsOldContentAndRemovesItsTemporary) {
  const std::string old_content = random_bytes(100, 3);
  write_file_atomically(path("weights"), old_content);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of being killed
    const rlimit limit{4096, 4096};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(10);
    try {
      write_file_atomically(path("weights"), random_bytes(1 << 20, 4));
    } catch (const Error& e) {
      const std::string msg = e.what();
      const bool names_path = msg.find(path("weights")) != std::string::npos;
      const bool says_why = msg.find("File too large") != std::string::npos;
      ::_exit(e.code() == ErrorCode::kIo && names_path && says_why ? 0 : 11);
    }
    ::_exit(12);  // no error at all
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: setrlimit failed, 11: wrong error, 12: no error";
  EXPECT_EQ(read_file(path("weights")), old_content);
  EXPECT_EQ(entries(), std::vector<std::string>{"weights"});
}

TEST_F(FileTest, ReadingAMissingFileIsNotFoundNamingThePath) {
  const Error e = error_of([&] { read_file(path("missing.safetensors")); });
  EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  EXPECT_NE(std::string(e.what()).find(path("missing.safetensors")), std::string::npos);
}

TEST_F(FileTest, ReadingADirectoryIsAnIoError) {
  const Error e = error_of([&] { read_file(dir_.string()); });
  EXPECT_EQ(e.code(), ErrorCode::kIo);
  EXPECT_NE(std::string(e.what()).find(dir_.string()), std::string::npos);
}

TEST_F(FileTest, ReadsFilesWhoseSizeIsNotKnownUpFront) {
  // /proc files report size 0 but have content.
  const std::string status = read_file("/proc/self/status");
  EXPECT_NE(status.find("VmRSS"), std::string::npos);
}

TEST_F(FileTest, InputFileReadsInPiecesAndReportsAShortFileAsDataLoss) {
  write_file_atomically(path("f"), "0123456789");
  InputFile in(path("f"));
  EXPECT_EQ(in.size_bytes(), 10);
  std::string first(4, '\0');
  in.read_exactly(std::as_writable_bytes(std::span<char>(first)));
  EXPECT_EQ(first, "0123");
  EXPECT_EQ(in.position(), 4);
  std::string rest(7, '\0');  // one more than is left
  const Error e = error_of([&] { in.read_exactly(std::as_writable_bytes(std::span<char>(rest))); });
  EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
  EXPECT_NE(std::string(e.what()).find(path("f")), std::string::npos);
}

}  // namespace
}  // namespace leantrain

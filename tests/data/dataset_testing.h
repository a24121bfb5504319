// Test helpers for the input pipeline: collecting a dataset's values, a guard that turns a hang
// into a failure, and per-test temporary directories.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "leantrain/data/dataset.h"

namespace leantrain::data::testing {

// Returns the i32 scalar feature `name` of every element of iteration `epoch`.
inline std::vector<int32_t> values_of(const Dataset& ds, int64_t epoch = 0,
                                      const std::string& name = "value") {
  std::vector<int32_t> out;
  Iterator it = ds.iterate(epoch);
  while (auto e = it.next()) {
    const Tensor& t = e->at(name);
    const int32_t* p = t.as<int32_t>();
    out.insert(out.end(), p, p + t.num_elements());
  }
  return out;
}

// Returns 0, 1, ..., n-1.
inline std::vector<int32_t> iota(int32_t n, int32_t start = 0) {
  std::vector<int32_t> out;
  for (int32_t i = 0; i < n; ++i) out.push_back(start + i);
  return out;
}

// Runs fn in another thread and waits up to `seconds`. A hang fails the test binary at once
// (it cannot be recovered: the stuck thread cannot be joined); an exception from fn is
// rethrown here.
inline void with_timeout(double seconds, const std::function<void()>& fn) {
  std::packaged_task<void()> task(fn);
  std::future<void> done = task.get_future();
  std::thread runner(std::move(task));
  if (done.wait_for(std::chrono::duration<double>(seconds)) == std::future_status::timeout) {
    std::fprintf(stderr, "FATAL: test body did not finish within %.0f s (a hang)\n", seconds);
    std::fflush(stderr);
    std::_Exit(1);
  }
  runner.join();
  done.get();
}

// A fresh directory under the system temp dir, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("leantrain_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" +
             std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace leantrain::data::testing

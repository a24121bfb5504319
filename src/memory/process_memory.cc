// Resident-set figures from /proc/self.
#include "leantrain/memory/process_memory.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <fstream>
#include <sstream>
#include <string>

#include "leantrain/core/error.h"

namespace leantrain::memory {
namespace {

constexpr const char* kStatusPath = "/proc/self/status";

// Returns the value of a "Field:   1234 kB" line of /proc/self/status in bytes.
int64_t read_status_kib_field(const std::string& field) {
  std::ifstream status(kStatusPath);
  LT_CHECK(status.is_open(), kIo, kStatusPath,
           ": cannot open; resident memory is only "
           "measured on Linux with /proc mounted");
  const std::string prefix = field + ":";
  std::string line;
  while (std::getline(status, line)) {
    if (line.compare(0, prefix.size(), prefix) != 0) continue;
    std::istringstream fields(line.substr(prefix.size()));
    int64_t value = 0;
    std::string unit;
    fields >> value >> unit;
    LT_CHECK(!fields.fail() && unit == "kB", kIo, kStatusPath, ": cannot parse the line '", line,
             "'; expected '", prefix, " <number> kB'");
    return value * 1024;
  }
  throw Error(ErrorCode::kIo, internal::str_cat(kStatusPath, ": no ", field, " line"));
}

}  // namespace

int64_t current_rss_bytes() { return read_status_kib_field("VmRSS"); }

int64_t peak_rss_bytes() { return read_status_kib_field("VmHWM"); }

bool reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  if (!clear_refs.is_open()) return false;
  clear_refs << "5";
  clear_refs.close();  // the kernel sees the write here; a refusal sets failbit
  return !clear_refs.fail();
}

void release_free_heap_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace leantrain::memory

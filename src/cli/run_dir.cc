#include <filesystem>

#include "cli/commands.h"
#include "leantrain/core/error.h"

namespace leantrain::cli {

std::string make_run_dir(const std::string& project, const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(project, ec);
  LT_CHECK(!ec, kIo, "cannot create the run directory's parent '", project, "': ", ec.message());
  // exp, exp2, exp3, ...: the first that does not exist, created atomically by create_directory.
  for (int i = 1; i < 100000; ++i) {
    const fs::path dir = fs::path(project) / (i == 1 ? name : name + std::to_string(i));
    if (fs::create_directory(dir, ec)) return dir.string();
    LT_CHECK(!ec, kIo, "cannot create run directory '", dir.string(), "': ", ec.message());
  }
  throw Error(ErrorCode::kIo, "no free run directory name under '" + project + "'");
}

}  // namespace leantrain::cli

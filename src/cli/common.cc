#include <sstream>

#include "cli/commands.h"
#include "leantrain/core/error.h"

namespace leantrain::cli {

Shape parse_shape(const std::string& text) {
  std::vector<int64_t> dims;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, 'x')) {
    try {
      size_t used = 0;
      const long long d = std::stoll(part, &used);
      if (used != part.size() || d <= 0) throw std::invalid_argument(part);
      dims.push_back(d);
    } catch (const std::exception&) {
      throw Error(ErrorCode::kInvalidArgument,
                  "bad shape '" + text + "': expected positive sizes like 28x28x1");
    }
  }
  LT_CHECK(!dims.empty(), kInvalidArgument, "bad shape '", text, "': expected e.g. 28x28x1");
  return Shape(dims);
}

}  // namespace leantrain::cli

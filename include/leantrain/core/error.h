// The one error type of leantrain and the checks that raise it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace leantrain {

// What kind of failure an Error reports; the command line maps each to an exit code.
enum class ErrorCode {
  kInvalidArgument = 2,  // a value the caller passed cannot work
  kNotFound = 3,         // a file, model or dataset does not exist
  kDataLoss = 4,         // a file is corrupt or truncated
  kOutOfBudget = 5,      // a plan does not fit the memory allowed
  kUnimplemented = 6,    // a valid request leantrain does not support yet
  kIo = 7,               // the operating system refused a read or write
  kInternal = 8,         // a broken invariant: a bug in leantrain
};

// Returns the lower-case name of `code`, e.g. "invalid argument".
const char* error_code_name(ErrorCode code);

// A std::runtime_error with a code. The message names the file or value at fault and says
// what would work.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

namespace internal {
// Streams its arguments into one string.
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace internal

}  // namespace leantrain

// Throws leantrain::Error(code, message built from the remaining arguments) unless `cond`.
#define LT_CHECK(cond, code, ...)                                            \
  do {                                                                       \
    if (!(cond)) {                                                           \
      throw ::leantrain::Error(::leantrain::ErrorCode::code,                 \
                               ::leantrain::internal::str_cat(__VA_ARGS__)); \
    }                                                                        \
  } while (false)

// Throws an internal error naming the source location unless `cond`: for invariants only.
#define LT_ASSERT(cond)                                                                           \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      throw ::leantrain::Error(::leantrain::ErrorCode::kInternal,                                 \
                               ::leantrain::internal::str_cat(                                    \
                                   __FILE__, ":", __LINE__, ": internal check failed: ", #cond)); \
    }                                                                                             \
  } while (false)

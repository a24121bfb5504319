#include "leantrain/core/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>
#include <utility>

#include "leantrain/core/error.h"

namespace leantrain {
namespace {

// strerror without its thread-safety problem.
std::string os_reason(int err) { return std::error_code(err, std::generic_category()).message(); }

// The directory holding `path`, to fsync after a rename: "a/b/c" -> "a/b", "c" -> ".",
// "/c" -> "/".
std::string directory_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Opens `path` for reading; throws kNotFound / kIo naming it. Fills `size` from fstat.
int open_for_reading(const std::string& path, int64_t& size) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    LT_CHECK(err != ENOENT, kNotFound, "cannot read '", path, "': no such file");
    throw Error(ErrorCode::kIo, internal::str_cat("cannot read '", path, "': ", os_reason(err)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw Error(ErrorCode::kIo, internal::str_cat("cannot read '", path, "': ", os_reason(err)));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kIo,
                internal::str_cat("cannot read '", path, "': it is a directory, not a file"));
  }
  size = S_ISREG(st.st_mode) ? static_cast<int64_t>(st.st_size) : 0;
  return fd;
}

// Reads up to `n` bytes, retrying on EINTR; returns the count (0 at end of file) or -1.
ssize_t read_some(int fd, std::byte* out, size_t n) {
  ssize_t got;
  do {
    got = ::read(fd, out, n);
  } while (got < 0 && errno == EINTR);
  return got;
}

FileLayer system_layer;
std::atomic<FileLayer*> current_layer{&system_layer};

}  // namespace

ssize_t FileLayer::write(int fd, const void* data, size_t n) { return ::write(fd, data, n); }
int FileLayer::fsync(int fd) { return ::fsync(fd); }
int FileLayer::rename(const char* from, const char* to) { return ::rename(from, to); }

FileLayer& file_layer() { return *current_layer.load(); }

FileLayer* set_file_layer(FileLayer* layer) {
  FileLayer* previous = current_layer.exchange(layer != nullptr ? layer : &system_layer);
  return previous == &system_layer ? nullptr : previous;
}

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  LT_CHECK(!path_.empty(), kInvalidArgument, "cannot write a file with an empty path");
  // pid + a process-wide counter names the temporary uniquely among live writers; O_EXCL makes
  // a stale leftover of a crashed process with the same pid a retry, not a clobber.
  static std::atomic<uint64_t> counter{0};
  int err = 0;
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp_path_ = internal::str_cat(path_, ".tmp.", ::getpid(), ".", counter.fetch_add(1));
    do {
      fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    } while (fd_ < 0 && errno == EINTR);
    if (fd_ >= 0) return;
    err = errno;
    if (err != EEXIST) break;
  }
  throw Error(ErrorCode::kIo,
              internal::str_cat("cannot write '", path_, "': cannot create the temporary file '",
                                temp_path_, "': ", os_reason(err)));
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)),
      temp_path_(std::move(other.temp_path_)),
      fd_(std::exchange(other.fd_, -1)),
      committed_(std::exchange(other.committed_, true)),
      bytes_written_(other.bytes_written_) {}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) abandon();
}

void AtomicFileWriter::abandon() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }
}

void AtomicFileWriter::write(std::span<const std::byte> bytes) {
  LT_ASSERT(!committed_);
  LT_CHECK(fd_ >= 0, kIo, "cannot write '", path_, "': an earlier write failed");
  const std::byte* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t put = file_layer().write(fd_, p, left);
    if (put < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      abandon();
      throw Error(ErrorCode::kIo, internal::str_cat("cannot write '", path_, "' (after ",
                                                    bytes_written_, " bytes): ", os_reason(err)));
    }
    p += put;
    left -= static_cast<size_t>(put);
    bytes_written_ += put;
  }
}

void AtomicFileWriter::write(std::string_view bytes) {
  write(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
}

void AtomicFileWriter::commit() {
  LT_ASSERT(!committed_);
  LT_CHECK(fd_ >= 0, kIo, "cannot write '", path_, "': an earlier write failed");
  const auto fail = [&](const char* what) {
    const int err = errno;
    abandon();
    throw Error(ErrorCode::kIo,
                internal::str_cat("cannot write '", path_, "': ", what, ": ", os_reason(err)));
  };
  FileLayer& layer = file_layer();
  if (layer.fsync(fd_) != 0) fail("fsync failed");
  const int fd = std::exchange(fd_, -1);
  // close can report a deferred write error (NFS); the data is then not safely on disk.
  if (::close(fd) != 0 && errno != EINTR) fail("close failed");
  if (layer.rename(temp_path_.c_str(), path_.c_str()) != 0) {
    fail("cannot rename the temporary over it");
  }
  temp_path_.clear();
  committed_ = true;

  const std::string dir = directory_of(path_);
  int dir_fd;
  do {
    dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (dir_fd < 0 && errno == EINTR);
  int err = dir_fd < 0 ? errno : 0;
  if (dir_fd >= 0) {
    // Some filesystems cannot sync a directory (EINVAL); the rename is then as durable as the
    // filesystem makes it, and there is nothing more to do.
    if (layer.fsync(dir_fd) != 0 && errno != EINVAL) err = errno;
    ::close(dir_fd);
  }
  LT_CHECK(err == 0, kIo, "wrote '", path_, "' but could not sync its directory '", dir,
           "', so the new content may not survive a power loss: ", os_reason(err));
}

void write_file_atomically(const std::string& path, std::span<const std::byte> bytes) {
  AtomicFileWriter out(path);
  out.write(bytes);
  out.commit();
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  AtomicFileWriter out(path);
  out.write(bytes);
  out.commit();
}

std::string read_file(const std::string& path) {
  int64_t size = 0;
  const int fd = open_for_reading(path, size);
  std::string out(static_cast<size_t>(size), '\0');
  size_t done = 0;
  std::byte chunk[65536];
  for (;;) {
    // fstat's size is a hint (files under /proc report 0, a file may grow meanwhile): fill the
    // announced size in place, then read on in chunks until the end of the file.
    const bool in_place = done < out.size();
    std::byte* dst = in_place ? reinterpret_cast<std::byte*>(out.data()) + done : chunk;
    const size_t room = in_place ? out.size() - done : sizeof(chunk);
    const ssize_t got = read_some(fd, dst, room);
    if (got < 0) {
      const int err = errno;
      ::close(fd);
      throw Error(ErrorCode::kIo, internal::str_cat("cannot read '", path, "': ", os_reason(err)));
    }
    if (got == 0) break;
    if (!in_place) out.append(reinterpret_cast<const char*>(chunk), static_cast<size_t>(got));
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  out.resize(done);  // the file shrank since fstat
  return out;
}

InputFile::InputFile(std::string path) : path_(std::move(path)) {
  fd_ = open_for_reading(path_, size_bytes_);
}

InputFile::InputFile(InputFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      size_bytes_(other.size_bytes_),
      position_(other.position_) {}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

void InputFile::read_exactly(std::span<std::byte> out) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t got = read_some(fd_, out.data() + done, out.size() - done);
    if (got < 0) {
      throw Error(ErrorCode::kIo,
                  internal::str_cat("cannot read '", path_, "': ", os_reason(errno)));
    }
    LT_CHECK(got > 0, kDataLoss, "'", path_, "' ended after ",
             position_ + static_cast<int64_t>(done), " bytes while ",
             position_ + static_cast<int64_t>(out.size()),
             " were expected: it shrank or is being written by another process");
    done += static_cast<size_t>(got);
  }
  position_ += static_cast<int64_t>(out.size());
}

}  // namespace leantrain

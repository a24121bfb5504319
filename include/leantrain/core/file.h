// Whole-file reads and crash-safe writes: a file written here is either entirely the old content
// or entirely the new, never a mix, even if the process or the machine dies mid-write.
//
// Atomic writes follow the usual POSIX recipe (as LevelDB's and SQLite's):
//   - create a temporary file in the target's directory (same filesystem, so rename is atomic),
//   - write everything, fsync it, close it,
//   - rename it over the target (atomic replacement),
//   - fsync the directory, so the rename itself survives a power loss.
// On any failure the temporary file is removed and the target is left as it was.
//
// A new file gets permissions 0666 minus the umask (as open(2) and std::ofstream give); an
// existing target's permissions are not carried over.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace leantrain {

// The system calls that make a write durable, as one replaceable layer (LevelDB's Env idea):
// tests install a layer that injects faults (a full disk, an I/O error, short writes, a failed
// fsync, a crash between the write and the rename) and check that the previous file survives
// and the error names the cause. Each call behaves as its POSIX namesake: it returns -1 with
// errno set to fail.
class FileLayer {
 public:
  virtual ~FileLayer() = default;
  virtual ssize_t write(int fd, const void* data, size_t n);
  virtual int fsync(int fd);
  virtual int rename(const char* from, const char* to);
};
// The layer the writers below use: the system's unless set_file_layer installed another.
FileLayer& file_layer();
// Installs `layer` (not owned; null: the system's) for the whole process and returns the one it
// replaces. For tests: not synchronized with writes in progress on other threads.
FileLayer* set_file_layer(FileLayer* layer);

// Replaces the file at `path` with `bytes`, atomically (see above).
// Throws Error(kIo) naming the path and the operating system's reason (strerror) when the
// temporary file cannot be created, written or synced, or the rename fails (for example when
// `path` is a directory or its directory does not exist); the target is then untouched and no
// temporary file remains. Throws Error(kIo) also when everything succeeded except the final
// fsync of the directory: the new content is in place but may not survive a power loss.
// Thread-safety: concurrent calls for different paths are safe; for the same path the last
// rename wins and each reader sees one complete version.
void write_file_atomically(const std::string& path, std::span<const std::byte> bytes);
void write_file_atomically(const std::string& path, std::string_view bytes);

// The streaming form of write_file_atomically, for content too large to hold twice in memory
// (checkpoints written straight from parameter buffers):
//
//   AtomicFileWriter out(path);     // creates the temporary file
//   out.write(header);              // any number of writes
//   out.write(tensor_bytes);
//   out.commit();                   // fsync, rename over `path`, fsync the directory
//
// If the writer is destroyed without a successful commit() (an exception, an early return),
// the temporary file is removed and `path` is untouched. Each write() is one or more write(2)
// calls, unbuffered: batch small pieces. Owns the temporary file's descriptor; move-only; not
// thread-safe.
class AtomicFileWriter {
 public:
  // Creates `<path>.tmp.<pid>.<n>` next to `path`. Throws Error(kIo) naming `path` and strerror
  // when it cannot be created (the directory is missing or not writable).
  explicit AtomicFileWriter(std::string path);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  // Removes the temporary file unless commit() succeeded. Never throws.
  ~AtomicFileWriter();

  // Appends `bytes`. Throws Error(kIo) naming `path` and strerror (disk full, file too large);
  // the writer is then abandoned: later calls throw and the destructor removes the temporary.
  // Requires that commit() has not been called.
  void write(std::span<const std::byte> bytes);
  void write(std::string_view bytes);
  // Makes the written bytes the content of `path` (see the file comment). Throws Error(kIo) as
  // write_file_atomically does. Requires that it has not been called before.
  void commit();

  const std::string& path() const { return path_; }
  // Bytes written so far.
  int64_t bytes_written() const { return bytes_written_; }

 private:
  void abandon() noexcept;

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
  int64_t bytes_written_ = 0;
};

// Returns the whole content of the file at `path`.
// Throws Error(kNotFound) naming the path when it does not exist, Error(kIo) naming the path
// and strerror when it cannot be opened or read (no permission, a directory).
std::string read_file(const std::string& path);

// Sequential reads of a file whose size is known up front, for formats that read a header
// before deciding how much more to read (safetensors). Owns the descriptor; move-only; not
// thread-safe.
class InputFile {
 public:
  // Opens `path` for reading. Throws as read_file does.
  explicit InputFile(std::string path);
  InputFile(InputFile&& other) noexcept;
  InputFile& operator=(InputFile&&) = delete;
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile();

  // The file's size in bytes when it was opened.
  int64_t size_bytes() const { return size_bytes_; }
  // Bytes consumed by read_exactly so far.
  int64_t position() const { return position_; }
  // Fills `out` with the next out.size() bytes. Throws Error(kDataLoss) naming the path when
  // the file ends first (it shrank since it was opened), Error(kIo) with strerror on a read
  // error.
  void read_exactly(std::span<std::byte> out);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  int64_t size_bytes_ = 0;
  int64_t position_ = 0;
};

}  // namespace leantrain

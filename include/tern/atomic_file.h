// An output file that appears whole or not at all: written under a temporary name next to
// its target and renamed over it only once everything is written. Used for files tern
// rewrites (quantized models, results files it compacts), and for programs' own outputs.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace tern {

/// Writes `path` atomically through `<target>.<pid>-<n>.partial` in the target's folder.
/// The target must be a new path or an existing regular file, whose permission bits the
/// new file keeps; a symbolic link is followed (the link stays, the file it names is
/// replaced); anything else (a device such as /dev/full, a FIFO, a folder, a dangling link)
/// is refused with tern::Error, untouched. Partial files that processes no longer running
/// left for the same target (killed by SIGKILL) are removed first. Destroyed without
/// commit(), it removes its partial file, so a failure or an exception never leaves one.
/// Not thread-safe: one writer per object.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  /// Appends `data`; throws tern::Error "<path>: cannot write (<partial>): <strerror>".
  void write(std::span<const uint8_t> data);
  /// Closes the partial file and renames it over the target.
  void commit();

  const std::string& partial_path() const { return partial_; }

 private:
  [[noreturn]] void fail(const char* what) const;

  std::string path_;     // as given, for messages
  std::string target_;   // `path_` with a symbolic link followed
  std::string partial_;  // the temporary file
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace tern

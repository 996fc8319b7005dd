// Checked output for the CLI: every write, flush and close of a command's output is checked,
// and a failure (a full disk, a closed pipe) becomes one "<path>: <strerror>" error (exit 1)
// instead of a silent exit 0. Standard output is named "<stdout>" in those messages.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <span>
#include <string>
#include <string_view>

namespace tern::cli {

/// An output stream that throws tern::Error "<path>: <strerror>" at the first failed write,
/// flush or close, and keeps throwing it afterwards.
class Output {
 public:
  /// Opens `path` with fopen `mode` ("wb" replaces, "ab" appends). Throws "<path>: <strerror>".
  Output(std::string path, const char* mode);
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  /// Closes a file that close() was not called on, unchecked: only reached when an error is
  /// already on its way out.
  ~Output();

  void write(std::string_view bytes);
  void write(std::span<const float> values);
  template <typename... Args>
  void print(fmt::format_string<Args...> format, Args&&... args) {
    write(fmt::format(format, std::forward<Args>(args)...));
  }
  void flush();
  /// Writes and flushes `text` at once (streamed output); false when that failed. The error
  /// is kept and thrown by the next flush() or close().
  bool stream(std::string_view text) noexcept;
  /// Flushes and closes the stream (standard output too); throws the first error seen.
  void close();

  const std::string& path() const { return path_; }

 private:
  friend Output& out();
  Output(FILE* file, std::string name);
  bool failed(int error) noexcept;
  [[noreturn]] void fail() const;

  FILE* file_;
  std::string path_;
  int errno_ = 0;  // the first failure's errno; -1: failed without one
  bool closed_ = false;
};

/// Standard output, checked. main() closes it after the command, so a failure that only
/// shows when the last buffered bytes are written still fails the command.
Output& out();

}  // namespace tern::cli

#include "output.h"

#include <cerrno>
#include <cstring>

#include "tern/error.h"

namespace tern::cli {

Output::Output(std::string path, const char* mode)
    : file_(std::fopen(path.c_str(), mode)), path_(std::move(path)) {
  if (file_ == nullptr) {
    failed(errno);
    fail();
  }
}

Output::Output(FILE* file, std::string name) : file_(file), path_(std::move(name)) {}

Output::~Output() {
  if (!closed_ && file_ != nullptr && file_ != stdout) std::fclose(file_);
}

Output& out() {
  static Output standard_output(stdout, "<stdout>");
  return standard_output;
}

void Output::write(std::string_view bytes) {
  if (errno_ != 0) fail();
  errno = 0;
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    failed(errno);
    fail();
  }
}

void Output::write(std::span<const float> values) {
  write({reinterpret_cast<const char*>(values.data()), values.size_bytes()});
}

void Output::flush() {
  if (errno_ != 0) fail();
  errno = 0;
  // ferror too: a write by code that bypassed this class (fmt::print) may have failed.
  if (std::fflush(file_) != 0 || std::ferror(file_)) {
    failed(errno);
    fail();
  }
}

bool Output::stream(std::string_view text) noexcept {
  if (errno_ != 0) return false;
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0) {
    return failed(errno);
  }
  return true;
}

void Output::close() {
  if (closed_) return;
  flush();
  closed_ = true;
  errno = 0;
  if (std::fclose(file_) != 0) {
    failed(errno);
    fail();
  }
}

bool Output::failed(int error) noexcept {
  if (errno_ == 0) errno_ = error != 0 ? error : -1;
  return false;
}

void Output::fail() const {
  // Once stdio has dropped the buffer of a failed write, later calls no longer set errno.
  throw Error(fmt::format("{}: {}", path_, errno_ > 0 ? std::strerror(errno_) : "write error"));
}

}  // namespace tern::cli

// A test binary's scratch directory: <tmp>/<name>_<pid>, made on first use and removed
// with everything in it when the process exits (ctest runs each test as its own process,
// so leftovers would pile up by the hundred).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace tern::testing {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name)
      : path_(std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;  // nothing to report to at exit
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace tern::testing

// Whether pages are in memory (mincore), for the tests of what the interleaved weights'
// copies leave of the model file in the page cache.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace tern::testing {

/// The fraction of the pages of [p, p + bytes) in memory; for a file mapping, in the page
/// cache, whether this process has them mapped or not.
inline double resident_fraction(const void* p, size_t bytes) {
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in_core((bytes + page - 1) / page);
  if (mincore(const_cast<void*>(p), bytes, in_core.data()) != 0) {
    throw std::runtime_error("mincore failed");
  }
  const auto resident =
      std::count_if(in_core.begin(), in_core.end(), [](unsigned char c) { return (c & 1) != 0; });
  return static_cast<double>(resident) / static_cast<double>(in_core.size());
}

/// The fraction of the file's pages in the page cache (read through a fresh mapping that
/// touches none of them).
inline double cached_fraction(const std::filesystem::path& path) {
  const size_t bytes = std::filesystem::file_size(path);
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot open " + path.string());
  void* map = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) throw std::runtime_error("cannot map " + path.string());
  const double fraction = resident_fraction(map, bytes);
  munmap(map, bytes);
  return fraction;
}

}  // namespace tern::testing

#include "input_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tern/error.h"

namespace tern::cli {

namespace {

constexpr size_t kMaxInputBytes = size_t{1} << 30;

// Closes the descriptor on every path out, the throwing ones included.
struct Fd {
  int fd;
  ~Fd() { ::close(fd); }
};

Error read_error(const std::string& path, int err) {
  return Error(fmt::format("{}: cannot read: {}", path, std::strerror(err)));
}

}  // namespace

std::string read_input_file(const std::string& path) {
  const Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) throw read_error(path, errno);
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) throw read_error(path, errno);
  if (S_ISDIR(st.st_mode)) throw Error(fmt::format("{}: is a directory, not a file", path));
  std::string text;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(file.fd, buffer, sizeof buffer);
    if (n == 0) return text;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw read_error(path, errno);
    }
    if (text.size() + static_cast<size_t>(n) > kMaxInputBytes) {
      throw Error(fmt::format("{}: larger than {} GiB, too large for an input", path,
                              kMaxInputBytes >> 30));
    }
    text.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace tern::cli

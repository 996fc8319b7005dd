#include "tern/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

#include "tern/error.h"

namespace tern {

namespace {

// Distinguishes concurrent writers in one process.
int next_id() {
  static std::atomic<int> counter{0};
  return counter++;
}

// `path` itself, or the file a symbolic link names; refuses what is neither a new path nor
// a regular file. `mode` receives an existing file's permission bits (0: a new file).
std::string resolve_target(const std::string& path, mode_t& mode) {
  mode = 0;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return path;
    throw Error(fmt::format("{}: {}", path, std::strerror(errno)));
  }
  std::string target = path;
  if (S_ISLNK(st.st_mode)) {
    char resolved[PATH_MAX];
    if (::realpath(path.c_str(), resolved) == nullptr || ::stat(resolved, &st) != 0) {
      throw Error(fmt::format("{}: a symbolic link to nothing that can be written through ({})",
                              path, std::strerror(errno)));
    }
    target = resolved;
  }
  if (!S_ISREG(st.st_mode)) {
    throw Error(fmt::format("{}: exists and is not a regular file; refusing to replace it", path));
  }
  mode = st.st_mode & 07777;
  return target;
}

// The pid in "<base>.<pid>-<n>.partial", or 0 when `name` is not such a name.
pid_t partial_owner(std::string_view name, std::string_view base) {
  constexpr std::string_view kSuffix = ".partial";
  if (!name.starts_with(base) || !name.ends_with(kSuffix) || name.size() <= base.size() + 1 ||
      name[base.size()] != '.') {
    return 0;
  }
  std::string_view rest =
      name.substr(base.size() + 1, name.size() - base.size() - 1 - kSuffix.size());
  pid_t pid = 0;
  int n = 0;
  const auto [dash, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (ec != std::errc() || dash == rest.data() + rest.size() || *dash != '-') return 0;
  const auto [end, ec2] = std::from_chars(dash + 1, rest.data() + rest.size(), n);
  return ec2 == std::errc() && end == rest.data() + rest.size() ? pid : 0;
}

// Removes the partial files of `target` whose writing process no longer exists (a SIGKILL
// leaves them behind). Best effort: a folder that cannot be listed is left alone.
void remove_stale_partials(const std::string& target) {
  const size_t slash = target.rfind('/');
  const std::string dir = slash == std::string::npos ? "./" : target.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (const dirent* e = ::readdir(d)) {
    const pid_t pid = partial_owner(e->d_name, base);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) ::unlink((dir + e->d_name).c_str());
  }
  ::closedir(d);
}

}  // namespace

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  mode_t mode = 0;
  target_ = resolve_target(path, mode);
  remove_stale_partials(target_);
  partial_ = fmt::format("{}.{}-{}.partial", target_, ::getpid(), next_id());
  fd_ = ::open(partial_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) fail("cannot create");
  if (mode != 0 && ::fchmod(fd_, mode) != 0) fail("cannot set the permissions of");
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(partial_.c_str());
}

void AtomicFile::write(std::span<const uint8_t> data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write");
    data = data.subspan(static_cast<size_t>(n));
  }
}

void AtomicFile::commit() {
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) fail("cannot write");
  if (::rename(partial_.c_str(), target_.c_str()) != 0) fail("cannot rename into place");
  committed_ = true;
}

void AtomicFile::fail(const char* what) const {
  throw Error(fmt::format("{}: {} ({}): {}", path_, what, partial_, std::strerror(errno)));
}

}  // namespace tern

#include "tern/model_path.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "tern/error.h"

namespace tern {

namespace {

std::filesystem::path models_dir() {
  if (const char* dir = std::getenv("TERN_MODELS"); dir != nullptr && *dir != '\0') return dir;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".cache" / "tern" / "models";
}

}  // namespace

std::string resolve_model_path(const std::string& name_or_path) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(name_or_path, ec);
  if (std::filesystem::is_regular_file(status)) return name_or_path;
  // A bare name (no directory) is also looked for in the models directory, with or
  // without its .gguf.
  const bool bare_name = name_or_path.find('/') == std::string::npos;
  std::filesystem::path candidate =
      models_dir() / (name_or_path.ends_with(".gguf") ? name_or_path : name_or_path + ".gguf");
  if (bare_name && std::filesystem::is_regular_file(candidate, ec)) return candidate.string();
  if (std::filesystem::is_directory(status)) {
    throw Error(fmt::format("{}: is a directory, not a model file", name_or_path));
  }
  if (std::filesystem::exists(status)) {  // a device (/dev/null), a FIFO, a socket
    throw Error(fmt::format("{}: not a regular file, so not a model file", name_or_path));
  }
  if (!bare_name) throw Error(fmt::format("model '{}' not found (no such file)", name_or_path));
  throw Error(fmt::format("model '{}' not found (no such file, and no {})", name_or_path,
                          candidate.string()));
}

}  // namespace tern

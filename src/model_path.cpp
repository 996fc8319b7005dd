#include "model_path.h"

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
  if (std::filesystem::is_regular_file(name_or_path, ec)) return name_or_path;
  std::filesystem::path candidate = models_dir() / (name_or_path + ".gguf");
  if (std::filesystem::is_regular_file(candidate, ec)) return candidate.string();
  throw Error(fmt::format("model '{}' not found (no such file, and no {})", name_or_path,
                          candidate.string()));
}

}  // namespace tern

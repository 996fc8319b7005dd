// Runs the `tern` binary the way a person does, through the shell, for tests of what the
// command line shows: exit code, standard output and the error lines on standard error.
#pragma once

#include <fmt/format.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace tern::testing {

struct CliResult {
  int code = -1;    // the exit status; -1 when killed by a signal
  std::string out;  // standard output, when it went to a file the test reads
  std::string err;
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Whether the real model `name` ("smollm2-135m") is where `tern` looks for it:
/// $TERN_MODELS, else ~/.cache/tern/models.
inline bool have_model(const std::string& name) {
  const char* dir = std::getenv("TERN_MODELS");
  const char* home = std::getenv("HOME");
  const std::filesystem::path base =
      dir && *dir ? std::filesystem::path(dir)
                  : std::filesystem::path(home ? home : ".") / ".cache/tern/models";
  return std::filesystem::exists(base / (name + ".gguf"));
}

inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

/// `tern ARGS` (in folder `cwd` when given, with the variables `env` assigns, "NAME=value
/// ...") with standard error (and standard output, unless `stdout_to` names where it goes,
/// e.g. /dev/full) captured in files under `scratch`.
inline CliResult run_cli(const std::filesystem::path& scratch, const std::string& args,
                         const std::string& stdout_to = "", const std::string& cwd = ".",
                         const std::string& env = "") {
  const std::filesystem::path out = scratch / "cli_stdout";
  const std::filesystem::path err = scratch / "cli_stderr";
  std::filesystem::remove(out);
  const std::string cmd =
      fmt::format("cd '{}' && {} {} {} </dev/null >'{}' 2>'{}'", cwd, env, TERN_CLI_PATH, args,
                  stdout_to.empty() ? out.string() : stdout_to, err.string());
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(out), read_file(err)};
}

}  // namespace tern::testing

// `tern quantize` never touches what it did not write: a target that exists and is not a
// regular file is refused, a symbolic link is written through, the target's permissions are
// kept, and no `OUT.<pid>-N.partial` file outlives the command (Ctrl-C, kill, hangup), nor a
// SIGKILL beyond the next run for the same target.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cli_support.h"
#include "gguf/file.h"
#include "scratch_dir.h"

extern char** environ;

namespace tern {
namespace {

namespace fs = std::filesystem;

const std::string kModel = std::string(TERN_SHARED_DIR) + "/golden/llama-f32/model.gguf";

fs::path scratch() {
  static const testing::ScratchDir dir("tern_quantize_cli");
  return dir.path();
}

testing::CliResult quantize(const std::string& out, const std::string& type = "Q8_0") {
  return testing::run_cli(scratch(), fmt::format("quantize {} '{}' {} -t 2", kModel, out, type));
}

std::vector<std::string> partials_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".partial") names.push_back(e.path().filename().string());
  }
  return names;
}

TEST(QuantizeCli, RefusesTargetsThatAreNotRegularFiles) {
  testing::CliResult r = quantize("/dev/full");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "tern: error: /dev/full: exists and is not a regular file; refusing to replace it\n");
  struct stat st {};
  ASSERT_EQ(::stat("/dev/full", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "/dev/full was replaced";

  const fs::path fifo = scratch() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  r = quantize(fifo.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_fifo(fifo));

  const fs::path dir = scratch() / "a_dir";
  fs::create_directory(dir);
  r = quantize(dir.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(fs::is_directory(dir));

  const fs::path dangling = scratch() / "dangling";
  fs::create_symlink(scratch() / "missing" / "x.gguf", dangling);
  r = quantize(dangling.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << r.err;
  EXPECT_TRUE(partials_in(scratch()).empty());
}

TEST(QuantizeCli, WritesThroughSymlinksAndKeepsPermissions) {
  const fs::path target = scratch() / "target.gguf";
  const fs::path link = scratch() / "link.gguf";
  testing::write_file(target, "old contents");
  ::chmod(target.c_str(), 0640);  // not what the umask gives a new file
  fs::create_symlink(target, link);
  const testing::CliResult r = quantize(link.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(gguf::File::open(target.string()).find_tensor("output.weight")->type, TensorType::Q8_0);
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

// Starts `tern quantize` (slow enough to be caught midway), sends `signal` once its partial
// file exists, and returns its wait status (-1: it could not be started).
int quantize_interrupted_by(const fs::path& in, const fs::path& out, int signal) {
  const std::string cli = TERN_CLI_PATH;
  std::vector<std::string> args = {cli, "quantize", in.string(), out.string(), "IQ4_XS", "-t", "1"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0 || pid <= 0) return -1;  // never kill(0, ...): that is the whole group
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (partials_in(out.parent_path()).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // well into the tensors
  ::kill(pid, signal);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST(QuantizeCli, CatchableSignalsRemoveThePartialFile) {
  const fs::path dir = scratch() / "signals";
  fs::create_directory(dir);
  const fs::path in = scratch() / "synth.gguf";  // 12 M parameters: IQ4_XS takes ~2 s
  ASSERT_EQ(testing::run_cli(scratch(), fmt::format("synth '{}' --arch llama --shape 135m "
                                                    "--type F16 --n-layer 2 --n-vocab 8192",
                                                    in.string()))
                .code,
            0);
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) {
    const int status = quantize_interrupted_by(in, dir / "out.gguf", signal);
    ASSERT_NE(status, -1) << "cannot start " << TERN_CLI_PATH;
    ASSERT_TRUE(WIFSIGNALED(status)) << "signal " << signal << ": finished before it";
    EXPECT_EQ(WTERMSIG(status), signal);  // dies of the signal, as without the handler
    EXPECT_TRUE(partials_in(dir).empty()) << "signal " << signal;
    EXPECT_FALSE(fs::exists(dir / "out.gguf"));
  }
}

TEST(QuantizeCli, RemovesStalePartialsOfDeadProcessesOnly) {
  const fs::path dir = scratch() / "stale";
  fs::create_directory(dir);
  pid_t dead = 0;  // a process that has exited (and been reaped)
  char* true_argv[] = {const_cast<char*>("true"), nullptr};
  ASSERT_EQ(posix_spawnp(&dead, "true", nullptr, nullptr, true_argv, environ), 0);
  ::waitpid(dead, nullptr, 0);
  const fs::path out = dir / "m.gguf";
  const std::string stale = fmt::format("m.gguf.{}-0.partial", dead);
  const std::string live = fmt::format("m.gguf.{}-3.partial", ::getpid());
  const std::string other = fmt::format("other.gguf.{}-0.partial", dead);
  for (const std::string& name : {stale, live, other}) testing::write_file(dir / name, "x");
  ASSERT_EQ(quantize(out.string()).code, 0);
  EXPECT_FALSE(fs::exists(dir / stale));
  const std::string relative = fmt::format("r.gguf.{}-0.partial", dead);  // OUT without a folder
  testing::write_file(dir / relative, "x");
  ASSERT_EQ(testing::run_cli(scratch(), fmt::format("quantize {} r.gguf Q8_0 -t 2", kModel), "",
                             dir.string())
                .code,
            0);
  EXPECT_FALSE(fs::exists(dir / relative));
  EXPECT_TRUE(fs::exists(dir / live));   // its process may still be writing
  EXPECT_TRUE(fs::exists(dir / other));  // another target's
}

// The input is named as -m names a model elsewhere: a path or a name in $TERN_MODELS.
TEST(QuantizeCli, InputIsAPathOrAModelName) {
  const fs::path models = scratch() / "models";
  fs::create_directories(models);
  fs::copy_file(kModel, models / "tiny.gguf", fs::copy_options::overwrite_existing);
  const std::string env = "TERN_MODELS='" + models.string() + "'";
  const fs::path out = scratch() / "named.gguf";
  testing::CliResult r = testing::run_cli(
      scratch(), fmt::format("quantize tiny '{}' Q8_0 -t 2", out.string()), "", ".", env);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out));
  r = testing::run_cli(scratch(), fmt::format("quantize absent '{}' Q8_0", out.string()), "", ".",
                       env);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("model 'absent' not found"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tern

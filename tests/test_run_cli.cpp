// `tern run` as a person meets it: answers on real models (greedy and seeded), chat (one-shot
// and piped turns), --json, and every error case with its one-line message and exit code.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "scratch_dir.h"

namespace {

namespace fs = std::filesystem;

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

fs::path temp_dir() {
  static const tern::testing::ScratchDir dir("tern_run_cli");
  return dir.path();
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs `tern ARGS` through the shell (stdin from `input` when given); captures both streams.
Outcome tern(const std::string& args, const std::string& input = "") {
  const fs::path out = temp_dir() / "out.txt";
  const fs::path err = temp_dir() / "err.txt";
  const fs::path in = temp_dir() / "in.txt";
  std::ofstream(in) << input;
  const std::string cmd = fmt::format("{} {} <'{}' >'{}' 2>'{}'", TERN_CLI_PATH, args, in.string(),
                                      out.string(), err.string());
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

bool have(const std::string& name) {
  const char* dir = std::getenv("TERN_MODELS");
  const char* home = std::getenv("HOME");
  const fs::path base =
      dir && *dir ? fs::path(dir) : fs::path(home ? home : ".") / ".cache/tern/models";
  return fs::exists(base / (name + ".gguf"));
}

size_t lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

// One line on stderr that starts with "tern: error: " and holds `what`.
void expect_error(const Outcome& o, int code, const std::string& what) {
  EXPECT_EQ(o.code, code) << o.err;
  EXPECT_NE(o.err.find(what), std::string::npos) << o.err;
  if (code == 1) {
    EXPECT_EQ(o.err.rfind("tern: error: ", 0), 0u) << o.err;
    EXPECT_EQ(lines(o.err), 1u) << o.err;
  }
}

#define REQUIRE_MODEL(name) \
  if (!have(name)) GTEST_SKIP() << name " absent"

TEST(RunCli, SmolLm2AnswersInItsChatFormatDeterministically) {
  REQUIRE_MODEL("smollm2-135m");
  const std::string args =
      "run -m smollm2-135m -p 'What is the capital of France? Answer briefly.' --temp 0 -n 24 -t 2";
  const Outcome a = tern(args);
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_NE(a.out.find("Paris"), std::string::npos) << a.out;
  EXPECT_NE(a.err.find("generated "), std::string::npos) << a.err;  // timings on stderr
  EXPECT_NE(a.err.find("tokens/s"), std::string::npos) << a.err;
  EXPECT_EQ(tern(args).out, a.out);
  const Outcome half = tern(args + " --kv-type f16");  // the cache in F16, read in place
  ASSERT_EQ(half.code, 0) << half.err;
  EXPECT_NE(half.out.find("Paris"), std::string::npos) << half.out;
}

TEST(RunCli, Gemma3BaseModelCompletesPlainText) {
  REQUIRE_MODEL("gemma3-270m");
  const Outcome a = tern(
      "run -m gemma3-270m -e -p 'Question: What is the capital of France?\\nAnswer:' --temp 0 -n 3 "
      "-t 2");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_NE(a.out.find("Paris"), std::string::npos) << a.out;
}

TEST(RunCli, SameSeedReproducesSampledTextAndJsonCarriesTimings) {
  REQUIRE_MODEL("smollm2-135m");
  const std::string args =
      "run -m smollm2-135m -p 'Tell me a story.' --temp 1.2 -s 1234 -n 8 -t 2 --json";
  const Outcome a = tern(args);
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(lines(a.out), 1u) << a.out;  // one JSON object, nothing streamed
  for (const char* key : {"\"text\":", "\"stop\":\"length\"", "\"chat_template\":\"chatml\"",
                          "\"load_s\":", "\"prompt_tokens_per_s\":", "\"generated_tokens\":8"}) {
    EXPECT_NE(a.out.find(key), std::string::npos) << key << " in " << a.out;
  }
  const auto text = [](const std::string& json) {  // keys are sorted: text, then timings
    const size_t begin = json.find("\"text\":");
    return json.substr(begin, json.find(",\"timings\":") - begin);
  };
  EXPECT_EQ(text(tern(args).out), text(a.out));
}

TEST(RunCli, NoChatTemplateGivesPlainCompletion) {
  REQUIRE_MODEL("smollm2-135m");
  const Outcome a = tern(
      "run -m smollm2-135m -p 'The capital of France is' --no-chat-template "
      "--temp 0 -n 2 -t 2 --json");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_NE(a.out.find("\"chat_template\":null"), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("Paris"), std::string::npos) << a.out;
}

TEST(RunCli, ChatAnswersPipedTurnsUntilEof) {
  REQUIRE_MODEL("smollm2-135m");
  const Outcome a =
      tern("run -m smollm2-135m -cnv -sys 'You answer in one sentence.' --temp 0 -n 16 -t 2",
           "What is the capital of France?\n\nAnd what is the capital of Italy?\n");
  ASSERT_EQ(a.code, 0) << a.err;
  const size_t paris = a.out.find("Paris");
  ASSERT_NE(paris, std::string::npos) << a.out;
  EXPECT_NE(a.out.find("Rome", paris), std::string::npos) << a.out;
  EXPECT_EQ(lines(a.out), 2u) << a.out;  // one line per reply
}

// Ctrl-C during a reply ends that reply only: the chat goes on to the next line.
TEST(RunCli, CtrlCStopsTheReplyNotTheChat) {
  REQUIRE_MODEL("smollm2-135m");
  int to_child[2];
  int from_child[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(from_child), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(to_child[0], STDIN_FILENO);
    ::dup2(from_child[1], STDOUT_FILENO);
    ::close(STDERR_FILENO);
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
    ::execl(TERN_CLI_PATH, "tern", "run", "-m", "smollm2-135m", "-cnv", "--temp", "0", "-n", "200",
            "-t", "2", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  const auto say = [&](std::string_view line) {
    ASSERT_EQ(::write(to_child[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
  };
  say("Tell me a long story about a dragon.\n");
  char buffer[4096];
  std::string out;
  const ssize_t first = ::read(from_child[0], buffer, sizeof buffer);  // the reply has begun
  ASSERT_GT(first, 0);
  out.append(buffer, static_cast<size_t>(first));
  ::kill(pid, SIGINT);
  say("What is the capital of France? Answer briefly.\n");
  ::close(to_child[1]);  // EOF after the second turn ends the chat
  for (ssize_t n; (n = ::read(from_child[0], buffer, sizeof buffer)) > 0;) {
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(from_child[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const size_t end_of_story = out.find('\n');
  ASSERT_NE(end_of_story, std::string::npos) << out;
  EXPECT_LT(end_of_story, 200u) << out;  // cut short: 200 tokens would be ~800 characters
  EXPECT_NE(out.find("Paris", end_of_story), std::string::npos) << out;
}

TEST(RunCli, OneShotChatAnswersOnceAndExits) {
  REQUIRE_MODEL("gemma3-270m");
  const Outcome a =
      tern("run -m gemma3-270m --chat -p 'Hi' --temp 0 -n 2 -t 2 --json", "ignored\n");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_NE(a.out.find("\"chat_template\":\"gemma\""), std::string::npos) << a.out;
  EXPECT_EQ(lines(a.out), 1u) << a.out;
}

// -ngl goes to the scheduler; without a GPU the auto backend is the CPU.
TEST(RunCli, GpuLayersAreAccepted) {
  REQUIRE_MODEL("smollm2-135m");
  const Outcome a = tern("run -m smollm2-135m -p Hi -n 1 -ngl 99 -t 2");
  EXPECT_EQ(a.code, 0) << a.err;
  expect_error(tern("run -m smollm2-135m -p Hi -ngl -5"), 2, "--n-gpu-layers");
}

TEST(RunCliErrors, MissingModel) {
  expect_error(tern("run -m /nonexistent/model.gguf -p x"), 1,
               "'/nonexistent/model.gguf' not found");
  expect_error(tern("run -m no-such-model-name -p x"), 1, "no-such-model-name.gguf");
}

// Unreadable: a folder where the model should be (permissions do not stop root, CI's user).
TEST(RunCliErrors, UnreadableModel) {
  const fs::path path = temp_dir() / "folder.gguf";
  fs::create_directories(path);
  expect_error(tern(fmt::format("run -m '{}' -p x", path.string())), 1, "folder.gguf");
}

TEST(RunCliErrors, NotAGgufFile) {
  const fs::path path = temp_dir() / "text.gguf";
  std::ofstream(path) << "this is not a model, just some text that is long enough to read\n";
  expect_error(tern(fmt::format("run -m '{}' -p x", path.string())), 1, "text.gguf");
}

// A GGUF v3 file with the given string metadata and one 32-element tensor of type `type_id`.
std::string tiny_gguf(const std::string& name, const std::string& arch, uint32_t type_id) {
  std::string bytes = "GGUF";
  const auto put = [&](auto v) { bytes.append(reinterpret_cast<const char*>(&v), sizeof v); };
  const auto put_string = [&](const std::string& s) {
    put(uint64_t{s.size()});
    bytes += s;
  };
  put(uint32_t{3});  // version
  put(uint64_t{1});  // tensors
  put(uint64_t{1});  // metadata keys
  put_string("general.architecture");
  put(uint32_t{8});  // string
  put_string(arch);
  put_string("token_embd.weight");
  put(uint32_t{1});
  put(uint64_t{32});
  put(type_id);
  put(uint64_t{0});  // offset
  bytes.resize((bytes.size() + 31) / 32 * 32, '\0');
  bytes.append(256, '\0');
  const fs::path path = temp_dir() / name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path.string();
}

TEST(RunCliErrors, UnknownArchitecture) {
  expect_error(tern(fmt::format("run -m '{}' -p x", tiny_gguf("arch.gguf", "mamba9", 0))), 1,
               "unknown architecture 'mamba9'");
}

TEST(RunCliErrors, UnknownTensorType) {
  expect_error(tern(fmt::format("run -m '{}' -p x", tiny_gguf("type.gguf", "llama", 1000))), 1,
               "unknown type id 1000");
}

TEST(RunCliErrors, PromptLongerThanTheContext) {
  REQUIRE_MODEL("smollm2-135m");
  expect_error(tern("run -m smollm2-135m --no-chat-template -c 4 -p 'one two three four five six'"),
               1, "longer than the 4 free positions of the context");
}

TEST(RunCliErrors, BadFlagValues) {
  expect_error(tern("run -m smollm2-135m -p x -n abc"), 2, "--n-predict");
  expect_error(tern("run -m smollm2-135m -p x --mirostat 3"), 2, "--mirostat");
  expect_error(tern("run -m smollm2-135m -p x -t -4"), 2, "--threads");
  expect_error(tern("run -m smollm2-135m -p x --no-such-flag"), 2, "--no-such-flag");
  expect_error(tern("run -m smollm2-135m"), 2, "-p/--prompt");
  expect_error(tern("run -m smollm2-135m -p x --chat-template nosuch"), 2, "chatml");
  expect_error(tern("run -m smollm2-135m -p x --kv-type q8"), 2, "--kv-type");
  REQUIRE_MODEL("smollm2-135m");
  expect_error(tern("run -m smollm2-135m -p x --top-p 3"), 1, "top_p must be in [0, 1], got 3");
}

// Every command's integer flags go through one validator: the range reads as a person
// writes it, and the value as given (not CLI11's "0.000000 to 1797...": 300 digits).
TEST(RunCliErrors, RangesReadAsWritten) {
  expect_error(tern("run -m x -p x -b 0"), 2, "--batch-size: 0 is not in 1..65536");
  expect_error(tern("run -m x -p x -c -1"), 2, "--ctx-size: -1 is not in 0..16777216");
  expect_error(tern("run -m x -p x -c 1.5"), 2, "--ctx-size: '1.5' is not a whole number");
  expect_error(tern("summarize -m x doc.txt -b 0"), 2, "--batch-size: 0 is not in 1..65536");
  expect_error(tern("bench -m x -t 2,0"), 2, "--threads: 0 is not in 1..1024");
  expect_error(tern("logits -m x --tokens 1 --top 0"), 2, "--top: 0 is not in 1..");
  expect_error(tern("synth out.gguf --arch llama --n-layer 0"), 2, "--n-layer: 0 is not in 1..");
  expect_error(tern("quantize a b Q8_0 -t -2"), 2, "--threads: -2 is not in 0..1024");
}

TEST(RunCliErrors, UnreadablePromptFile) {
  expect_error(tern("run -m smollm2-135m -f /nonexistent/prompt.txt"), 1,
               "/nonexistent/prompt.txt: cannot read");
}

}  // namespace

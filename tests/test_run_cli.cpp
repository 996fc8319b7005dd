// `tern run` as a person meets it: answers on real models (greedy and seeded), chat (one-shot
// and piped turns), --json, and every error case with its one-line message and exit code.
#include <fcntl.h>
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
#include <sstream>
#include <string>
#include <vector>

#include "cli_support.h"
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
  if (!tern::testing::have_model(name)) GTEST_SKIP() << name " absent"

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

// A full context slides by default (context shift); --no-context-shift stops there.
TEST(RunCli, ContextShiftRunsPastTheContextUnlessTurnedOff) {
  REQUIRE_MODEL("smollm2-135m");
  const std::string args =
      "run -m smollm2-135m -p 'Tell me a story.' --no-chat-template --temp 0 -n 40 "
      "--ignore-eos -c 24 -t 2 --json";
  const Outcome slid = tern(args + " --keep 2");
  ASSERT_EQ(slid.code, 0) << slid.err;
  EXPECT_NE(slid.out.find("\"stop\":\"length\""), std::string::npos) << slid.out;
  EXPECT_NE(slid.out.find("\"generated_tokens\":40"), std::string::npos) << slid.out;
  EXPECT_EQ(slid.out.find("\"context_shifts\":0"), std::string::npos) << slid.out;
  const Outcome stopped = tern(args + " --no-context-shift");
  ASSERT_EQ(stopped.code, 0) << stopped.err;
  EXPECT_NE(stopped.out.find("\"stop\":\"context\""), std::string::npos) << stopped.out;
  EXPECT_NE(stopped.out.find("\"context_shifts\":0"), std::string::npos) << stopped.out;
  expect_error(tern(args + " --keep -2"), 2, "--keep");
}

// A chat slides when its context is full (the system turn stays); with
// --no-context-shift it starts over, as before.
TEST(RunCli, ChatSlidesInsteadOfStartingOver) {
  REQUIRE_MODEL("smollm2-135m");
  const std::string turns =
      "Name a colour.\nName a fruit.\nName a city.\nName a river.\nName a bird.\n";
  const std::string args = "run -m smollm2-135m -cnv -sys 'Be brief.' --temp 0 -n 24 -c 64 -t 2";
  const Outcome slid = tern(args, turns);
  ASSERT_EQ(slid.code, 0) << slid.err;
  EXPECT_NE(slid.err.find("the context was full"), std::string::npos) << slid.err;
  EXPECT_EQ(slid.err.find("starting a new conversation"), std::string::npos) << slid.err;
  const Outcome restarted = tern(args + " --no-context-shift", turns);
  ASSERT_EQ(restarted.code, 0) << restarted.err;
  EXPECT_NE(restarted.err.find("starting a new conversation"), std::string::npos) << restarted.err;
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

// `tern ARGS` as a child with stdin and stdout on pipes (stderr into a file), for chats that
// a test drives turn by turn and interrupts.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int to_child[2];
    int from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) return;
    std::vector<char*> argv = {const_cast<char*>("tern")};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int err_fd = ::open((temp_dir() / "child_err.txt").c_str(),
                              O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], STDIN_FILENO);
      ::dup2(from_child[1], STDOUT_FILENO);
      ::dup2(err_fd, STDERR_FILENO);
      for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
      ::execv(TERN_CLI_PATH, argv.data());
      ::_exit(127);
    }
    ::close(err_fd);
    ::close(to_child[0]);
    ::close(from_child[1]);
    in_ = to_child[1];
    out_ = from_child[0];
  }
  ~Child() {
    if (in_ >= 0) ::close(in_);
    if (out_ >= 0) ::close(out_);
    if (pid_ > 0 && status_ < 0) {  // a failed assertion left it running
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  bool say(std::string_view line) const {
    return ::write(in_, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  }
  // Waits for some output (true) or EOF.
  bool read_some() {
    char buffer[4096];
    const ssize_t n = ::read(out_, buffer, sizeof buffer);
    if (n > 0) out.append(buffer, static_cast<size_t>(n));
    return n > 0;
  }
  // Ends the input (EOF ends a chat), reads the rest of the output and waits for the exit.
  void finish() {
    ::close(in_);
    in_ = -1;
    while (read_some()) {
    }
    ::waitpid(pid_, &status_, 0);
    err = slurp(temp_dir() / "child_err.txt");
  }
  // The exit code, or -1 when a signal killed the child.
  int code() const { return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1; }
  // CPU time the child has used, in clock ticks (utime + stime of /proc/PID/stat).
  long cpu_ticks() const {
    std::ifstream stat(fmt::format("/proc/{}/stat", pid_));
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
    std::string field;
    long ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i >= 14) ticks += std::stol(field);
    }
    return ticks;
  }
  // Whether the child catches `signal` yet (its handler is installed), from /proc.
  bool catches(int signal) const {
    std::ifstream status(fmt::format("/proc/{}/status", pid_));
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("SigCgt:")) {
        return ((std::stoull(line.substr(7), nullptr, 16) >> (signal - 1)) & 1) != 0;
      }
    }
    return false;
  }

  std::string out;
  std::string err;

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  int status_ = -1;
};

// Ctrl-C during a reply ends that reply only: the chat goes on to the next line.
TEST(RunCli, CtrlCStopsTheReplyNotTheChat) {
  REQUIRE_MODEL("smollm2-135m");
  Child chat({"run", "-m", "smollm2-135m", "-cnv", "--temp", "0", "-n", "200", "-t", "2"});
  ASSERT_TRUE(chat.say("Tell me a long story about a dragon.\n"));
  ASSERT_TRUE(chat.read_some());  // the reply has begun
  ::kill(chat.pid(), SIGINT);
  ASSERT_TRUE(chat.say("What is the capital of France? Answer briefly.\n"));
  chat.finish();  // EOF after the second turn ends the chat
  EXPECT_EQ(chat.code(), 0) << chat.err;
  const size_t end_of_story = chat.out.find('\n');
  ASSERT_NE(end_of_story, std::string::npos) << chat.out;
  EXPECT_LT(end_of_story, 200u) << chat.out;  // cut short: 200 tokens would be ~800 characters
  EXPECT_NE(chat.out.find("Paris", end_of_story), std::string::npos) << chat.out;
}

// Ctrl-C while a long turn's prompt is decoded stops it there (not after the ~2700-token
// prompt, seconds later): no text for that turn, and the chat goes on.
TEST(RunCli, CtrlCStopsALongPromptAtOnce) {
  REQUIRE_MODEL("smollm2-135m");
  Child chat({"run", "-m", "smollm2-135m", "-cnv", "--temp", "0", "-n", "16", "-t", "1", "-b", "64",
              "-c", "3000"});
  for (int i = 0; i < 500 && !chat.catches(SIGINT); ++i) ::usleep(10'000);  // loaded, listening
  ASSERT_TRUE(chat.catches(SIGINT));
  std::string long_line;
  for (int i = 0; i < 300; ++i) long_line += "the quick brown fox jumps over the lazy dog ";
  const long idle = chat.cpu_ticks();
  ASSERT_TRUE(chat.say(long_line + "\n"));
  // Inside the prompt once it has worked ~0.1 s (a busy machine may start it late); the
  // whole prompt takes seconds here.
  for (int i = 0; i < 1000 && chat.cpu_ticks() < idle + sysconf(_SC_CLK_TCK) / 10; ++i) {
    ::usleep(10'000);
  }
  ::kill(chat.pid(), SIGINT);
  ASSERT_TRUE(chat.say("What is the capital of France? Answer briefly.\n"));
  chat.finish();
  EXPECT_EQ(chat.code(), 0) << chat.err;
  EXPECT_EQ(chat.out.find('\n'), 0u) << chat.out;  // the interrupted turn said nothing
  EXPECT_NE(chat.out.find("Paris"), std::string::npos) << chat.out;
}

// The model file is mapped, not read: truncating it under a running chat loses the pages
// the next turn reads (SIGBUS). tern says so in one line and exits 1.
TEST(RunCli, ModelTruncatedWhileInUseIsReported) {
  const fs::path model = temp_dir() / "truncated.gguf";
  fs::copy_file(std::string(TERN_SHARED_DIR) + "/golden/llama-f32/model.gguf", model,
                fs::copy_options::overwrite_existing);
  Child chat({"run", "-m", model.string(), "-cnv", "--temp", "0", "-n", "4", "-t", "1"});
  ASSERT_TRUE(chat.say("Hello\n"));
  ASSERT_TRUE(chat.read_some());  // the model is loaded and in use
  ASSERT_EQ(::truncate(model.c_str(), 4096), 0);
  chat.say("Hello again\n");
  chat.finish();
  EXPECT_EQ(chat.code(), 1) << chat.err;
  EXPECT_NE(chat.err.find("tern: error: model file changed or truncated while in use\n"),
            std::string::npos)
      << chat.err;
}

// A line that no context of this size can hold is refused; the chat goes on.
TEST(RunCli, ChatRefusesALineLongerThanTheContext) {
  REQUIRE_MODEL("smollm2-135m");
  std::string input;
  for (int i = 0; i < 40; ++i) input += "the quick brown fox jumps over the lazy dog ";
  input += "\nWhat is the capital of France? Answer briefly.\n";
  const Outcome a = tern("run -m smollm2-135m --chat -c 96 -n 12 --temp 0 -t 2", input);
  EXPECT_EQ(a.code, 0) << a.err;
  EXPECT_NE(a.err.find("too long even for a new conversation and was not sent"), std::string::npos)
      << a.err;
  EXPECT_NE(a.out.find("Paris"), std::string::npos) << a.out;
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

// Speculative decoding changes the speed, not the text; the timings say how much was drafted.
TEST(RunCli, SpeculationKeepsTheAnswerAndReportsItsDrafts) {
  REQUIRE_MODEL("smollm2-135m");
  const std::string run =
      "run -m smollm2-135m -t 2 --temp 0 -n 48 -p 'Repeat exactly: The council met on Tuesday "
      "to discuss the budget for road repairs and the new school crossing.'";
  const Outcome plain = tern(run);
  ASSERT_EQ(plain.code, 0) << plain.err;
  for (const char* spec : {" --spec ngram", " -md smollm2-135m --draft-max 4"}) {
    const Outcome drafted = tern(run + spec);
    ASSERT_EQ(drafted.code, 0) << drafted.err;
    EXPECT_EQ(drafted.out, plain.out) << spec;
    EXPECT_NE(drafted.err.find("| drafted "), std::string::npos) << drafted.err;
  }
  const Outcome json = tern(run + " --spec ngram --json");
  EXPECT_NE(json.out.find("\"accepted_tokens\":"), std::string::npos) << json.out;
}

TEST(RunCliErrors, SpeculationNeedsAFittingDraftModel) {
  expect_error(tern("run -m smollm2-135m -p x --spec guess"), 2, "--spec");
  REQUIRE_MODEL("smollm2-135m");
  expect_error(tern("run -m smollm2-135m -p x --spec draft"), 1, "needs a draft model (-md");
  expect_error(tern("run -m smollm2-135m -p x -md " TERN_SHARED_DIR "/golden/llama-f32/model.gguf"),
               1, "not one vocabulary");
}

TEST(RunCliErrors, MissingModel) {
  expect_error(tern("run -m /nonexistent/model.gguf -p x"), 1,
               "'/nonexistent/model.gguf' not found (no such file)\n");
  expect_error(tern("run -m no-such-model-name -p x"), 1, "no-such-model-name.gguf)");
  // A bare name with its .gguf is looked for as it is in the models folder too.
  const Outcome named = tern("run -m no-such-model-name.gguf -p x");
  expect_error(named, 1, "/no-such-model-name.gguf)");
  EXPECT_EQ(named.err.find(".gguf.gguf"), std::string::npos) << named.err;
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
  for (const char* bias : {"7042", "-5+1", "7042+", "7042+x", "x+1", "7042+1e99", "7042*2"}) {
    expect_error(tern(fmt::format("run -m smollm2-135m -p x --logit-bias '{}'", bias)), 2,
                 "is not TOKEN_ID+BIAS or TOKEN_ID-BIAS");
  }
  REQUIRE_MODEL("smollm2-135m");
  expect_error(tern("run -m smollm2-135m -p x --top-p 3"), 1, "top_p must be in [0, 1], got 3");
  expect_error(tern("run -m smollm2-135m -p x -l 49152+1"), 1,
               "logit bias for token 49152, outside the vocabulary's 49152 tokens");
}

// Every command's integer flags go through one validator: the range reads as a person
// writes it, and the value as given (not CLI11's "0.000000 to 1797...": 300 digits).
TEST(RunCliErrors, RangesReadAsWritten) {
  const std::pair<const char*, const char*> kCases[] = {
      {"run -m x -p x -b 0", "--batch-size: 0 is not in 1..65536"},
      {"run -m x -p x -c -1", "--ctx-size: -1 is not in 0..16777216"},
      {"run -m x -p x -c 1.5", "--ctx-size: '1.5' is not a whole number"},
      {"summarize -m x doc.txt -b 0", "--batch-size: 0 is not in 1..65536"},
      {"bench -m x -t 2,0", "--threads: 0 is not in 1..1024"},
      {"logits -m x --tokens 1 --top 0", "--top: 0 is not in 1.."},
      {"synth out.gguf --arch llama --n-layer 0", "--n-layer: 0 is not in 1.."},
      {"quantize a b Q8_0 -t -2", "--threads: -2 is not in 0..1024"},
  };
  for (const auto& [args, what] : kCases) expect_error(tern(args), 2, what);
}

TEST(RunCliErrors, UnknownCommandIsNamed) {
  expect_error(tern("frobnicate -m x"), 2,
               "unknown command 'frobnicate'; the commands are inspect,");
  EXPECT_NE(tern("frobnicate").err.find(", run, summarize,"), std::string::npos);
  EXPECT_EQ(tern("frobnicate").err.rfind("tern: error: ", 0), 0u);
}

// What is wrong with a model path that exists: not "not found".
TEST(RunCliErrors, ModelPathThatIsNotAModelFile) {
  expect_error(tern("run -m /dev/null -p x"), 1, "/dev/null: not a regular file");
  expect_error(tern(fmt::format("run -m '{}' -p x", temp_dir().string())), 1, "is a directory");
  const fs::path empty = temp_dir() / "empty.gguf";
  std::ofstream{empty};
  expect_error(tern(fmt::format("run -m '{}' -p x", empty.string())), 1,
               "empty.gguf: empty file, not a GGUF file");
}

// Input files name the path and the reason (was "basic_filebuf::underflow error reading the
// file: Is a directory", without the path).
TEST(RunCliErrors, InputFileThatIsAFolder) {
  const std::string golden = std::string(TERN_SHARED_DIR) + "/golden/llama-f32/model.gguf";
  const std::string dir = temp_dir().string();
  const std::string reason = dir + ": is a directory, not a file";
  expect_error(tern(fmt::format("run -m '{}' -f '{}'", golden, dir)), 1, reason);
  expect_error(tern(fmt::format("tokenize -m '{}' -f '{}'", golden, dir)), 1, reason);
  expect_error(tern(fmt::format("detokenize -m '{}' -f '{}'", golden, dir)), 1, reason);
  expect_error(tern(fmt::format("perplexity -m '{}' -f '{}'", golden, dir)), 1, reason);
  expect_error(tern(fmt::format("summarize -m '{}' --input '{}'", golden, dir)), 1, reason);
  expect_error(tern(fmt::format("perplexity -m '{}' --kl-compare '{}'", golden, dir)), 1,
               dir + ": is a directory, not a KL base file");
}

// The library names the context size; the command line adds which flag sets it.
TEST(RunCliErrors, ContextOverflowNamesTheFlag) {
  const std::string golden = std::string(TERN_SHARED_DIR) + "/golden/llama-f32/model.gguf";
  expect_error(tern(fmt::format("logits -m '{}' --tokens '1 2 3 4 5' -c 4 --top 1", golden)), 1,
               "exceed the context size 4 (-c/--ctx-size sets the context size)");
}

TEST(RunCliErrors, UnreadablePromptFile) {
  expect_error(tern("run -m smollm2-135m -f /nonexistent/prompt.txt"), 1,
               "/nonexistent/prompt.txt: cannot read");
}

}  // namespace

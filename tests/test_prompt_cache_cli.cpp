// `tern run --prompt-cache FILE`: a second run of a prompt takes all but its last token
// from the file and answers as a cold run does; a longer prompt reuses the shared prefix;
// a file of another model or a corrupt one is a warning and a cold run that replaces it;
// --prompt-cache-ro never writes.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_support.h"
#include "scratch_dir.h"

namespace tern {
namespace {

namespace fs = std::filesystem;

const std::string kGolden = std::string(TERN_SHARED_DIR) + "/golden/";
const std::string kPrompt = "hello world, this is a test of the cache";  // 18 tokens with BOS

fs::path scratch() {
  static const testing::ScratchDir dir("tern_prompt_cache_cli");
  return dir.path();
}

struct RunResult {
  int code = -1;
  nlohmann::json out;  // --json's object
  std::string err;
};

// `tern run --json --temp 0 -n 8` of `prompt` on `model` with `flags`.
RunResult run(const std::string& model, const std::string& prompt, const std::string& flags) {
  const auto r = testing::run_cli(
      scratch(),
      fmt::format("run -m '{}' -p '{}' --temp 0 -n 8 -t 2 --json {}", model, prompt, flags));
  RunResult out{r.code, nlohmann::json::object(), r.err};
  if (r.code == 0) out.out = nlohmann::json::parse(r.out);
  return out;
}

int64_t cached(const RunResult& r) { return r.out["timings"]["n_prompt_cached"].get<int64_t>(); }
int64_t decoded(const RunResult& r) { return r.out["timings"]["prompt_tokens"].get<int64_t>(); }

TEST(PromptCacheCli, SecondRunDecodesOnlyTheLastTokenAndAPrefixIsShared) {
  const std::string model = kGolden + "llama-f32/model.gguf";
  const fs::path file = scratch() / "shared.cache";
  const std::string flags = fmt::format("--prompt-cache '{}'", file.string());
  const RunResult cold = run(model, kPrompt, flags);
  ASSERT_EQ(cold.code, 0) << cold.err;
  EXPECT_EQ(cached(cold), 0);
  EXPECT_EQ(decoded(cold), 18);
  ASSERT_TRUE(fs::exists(file));

  const RunResult warm = run(model, kPrompt, flags);
  ASSERT_EQ(warm.code, 0) << warm.err;
  EXPECT_EQ(cached(warm), 17);
  EXPECT_EQ(decoded(warm), 1);
  EXPECT_EQ(warm.out["timings"]["prompt_cache_save_s"], 0.0);  // it holds this prompt already
  EXPECT_GT(cold.out["timings"]["prompt_cache_save_s"].get<double>(), 0.0);
  EXPECT_EQ(run(model, kPrompt, flags).out["text"], warm.out["text"]);  // deterministic

  // A longer prompt: the 18 tokens come from the file, the rest is decoded.
  const RunResult longer = run(model, kPrompt + " and more", flags);
  ASSERT_EQ(longer.code, 0) << longer.err;
  EXPECT_EQ(cached(longer), 18);
  EXPECT_EQ(decoded(longer), 3);
  // A prompt the file holds whole (10 of its 18 tokens) leaves it as it is.
  const auto size = fs::file_size(file);
  EXPECT_EQ(cached(run(model, "hello world, this is", flags)), 9);
  EXPECT_EQ(fs::file_size(file), size);
  EXPECT_EQ(cached(run(model, kPrompt, flags)), 17);
  // A prompt that leaves the file's tokens early shares only what it shares: BOS " h" "el"
  // "lo" (4 tokens).
  const RunResult other = run(model, "hello there", flags);
  ASSERT_EQ(other.code, 0) << other.err;
  EXPECT_EQ(cached(other), 4);
}

TEST(PromptCacheCli, FileOfAnotherModelOrCorruptIsAWarningAndReplaced) {
  const std::string llama = kGolden + "llama-f32/model.gguf";
  const fs::path file = scratch() / "other.cache";
  const std::string flags = fmt::format("--prompt-cache '{}'", file.string());
  ASSERT_EQ(run(kGolden + "qwen3-f32/model.gguf", "hello", flags).code, 0);
  const RunResult cold = run(llama, kPrompt, flags);
  ASSERT_EQ(cold.code, 0) << cold.err;
  EXPECT_EQ(cached(cold), 0);
  EXPECT_NE(cold.err.find("tern: warning: prompt cache not used: "), std::string::npos);
  EXPECT_NE(cold.err.find("saved from a different model"), std::string::npos) << cold.err;
  EXPECT_EQ(cached(run(llama, kPrompt, flags)), 17);  // replaced by this model's

  testing::write_file(file, "not a session file at all, but long enough for a header...");
  const RunResult corrupt = run(llama, kPrompt, flags);
  ASSERT_EQ(corrupt.code, 0) << corrupt.err;
  EXPECT_NE(corrupt.err.find("not a tern session file"), std::string::npos) << corrupt.err;
  EXPECT_EQ(cached(run(llama, kPrompt, flags + " --kv-type f32")), 0);  // another KV type
  EXPECT_EQ(cached(run(llama, kPrompt, flags + " --kv-type f32")), 17);
}

TEST(PromptCacheCli, ReadOnlyNeverWrites) {
  const std::string model = kGolden + "llama-f32/model.gguf";
  const fs::path file = scratch() / "ro.cache";
  const std::string ro = fmt::format("--prompt-cache '{}' --prompt-cache-ro", file.string());
  ASSERT_EQ(run(model, kPrompt, ro).code, 0);
  EXPECT_FALSE(fs::exists(file));
  ASSERT_EQ(run(model, "hello", fmt::format("--prompt-cache '{}'", file.string())).code, 0);
  const auto size = fs::file_size(file);
  const RunResult r = run(model, kPrompt, ro);
  EXPECT_EQ(cached(r), 4);  // "hello": BOS " h" "el" "lo"
  EXPECT_EQ(fs::file_size(file), size);
}

TEST(PromptCacheCli, UsageAndWriteErrors) {
  const std::string model = kGolden + "llama-f32/model.gguf";
  auto r = testing::run_cli(scratch(), fmt::format("run -m '{}' --chat --prompt-cache x", model));
  EXPECT_EQ(r.code, 2);  // a usage error, as -p missing is
  EXPECT_NE(r.err.find("--prompt-cache: needs -p or -f"), std::string::npos) << r.err;
  r = testing::run_cli(scratch(), fmt::format("run -m '{}' -p hi --prompt-cache-ro", model));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--prompt-cache"), std::string::npos) << r.err;
  // The file is written once the prompt is decoded, before any token is generated.
  r = testing::run_cli(
      scratch(),
      fmt::format("run -m '{}' -p hi --temp 0 -n 4 --prompt-cache /nonexistent/x", model));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("tern: error: /nonexistent/x: cannot create"), std::string::npos) << r.err;
}

// A real model, in its chat format and as plain text: the warm run's greedy answer is the
// cold run's (the last prompt token is decoded alone instead of in the prompt's batch).
TEST(PromptCacheCli, SmolLm2WarmAnswerIsTheColdOne) {
  if (!testing::have_model("smollm2-135m")) GTEST_SKIP() << "smollm2-135m absent";
  const std::string prompt = "Write a short story about a robot who learns to paint.";
  for (const std::string mode : {"", "--no-chat-template"}) {
    const fs::path file = scratch() / "smollm2.cache";
    fs::remove(file);
    const std::string flags = fmt::format("{} --prompt-cache '{}'", mode, file.string());
    const RunResult plain = run("smollm2-135m", prompt, mode);
    const RunResult cold = run("smollm2-135m", prompt, flags);
    const RunResult warm = run("smollm2-135m", prompt, flags);
    ASSERT_EQ(warm.code, 0) << warm.err;
    EXPECT_EQ(cached(cold), 0);
    EXPECT_EQ(cached(warm), decoded(cold) - 1) << mode;
    EXPECT_EQ(decoded(warm), 1);
    EXPECT_EQ(cold.out["text"], plain.out["text"]) << mode;
    EXPECT_EQ(warm.out["text"], cold.out["text"]) << mode;
  }
}

}  // namespace
}  // namespace tern

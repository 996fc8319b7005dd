// The forward pass against llama.cpp's logits for the synthetic models in
// ../shared/golden/ and tests/data/golden/ (F32 KV cache, CPU). Tolerances are the
// issue's and stay as stated:
//   F32 models:       max |dlogit| <= 0.02, mean KL(ref || tern) <= 1e-4, same argmax
//                     wherever the reference's top-2 margin exceeds 0.05;
//   quantized models: mean KL <= 0.03, same argmax wherever the margin exceeds 0.5.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "golden_reference.h"
#include "tern/model.h"
#include "tern/session.h"

namespace tern {
namespace {

using namespace golden;  // NOLINT: the golden helpers are this test's vocabulary

class GoldenTest : public testing::TestWithParam<std::string> {};

// The .scalar run of this suite sets TERN_CPU=scalar (tests/CMakeLists.txt); the library
// reads no environment, so the test maps it, as the CLI (`tern logits` below) does.
ModelOptions kernels_from_environment() {
  const char* v = std::getenv("TERN_CPU");
  bool scalar = v != nullptr && std::string(v) == "scalar";
  return {.cpu_kernels = scalar ? CpuKernels::Scalar : CpuKernels::Auto};
}

TEST_P(GoldenTest, LogitsMatchLlamaCpp) {
  Golden g = load_golden(GetParam());
  Model model = Model::load(g.dir + "/model.gguf", kernels_from_environment());
  ASSERT_EQ(model.n_vocab(), g.n_vocab);
  Session session(model, {.n_ctx = 64, .n_batch = 512, .n_threads = 2});
  expect_matches_reference(g, session.decode(g.tokens, Outputs::All));
}

// Teacher-forced greedy continuation: at each step tern's argmax must be llama.cpp's
// pick wherever tern's own top-2 margin is clear; llama.cpp's pick is fed back either way.
TEST_P(GoldenTest, GreedyContinuationMatches) {
  Golden g = load_golden(GetParam());
  Model model = Model::load(g.dir + "/model.gguf", kernels_from_environment());
  Session session(model, {.n_ctx = 64, .n_batch = 512, .n_threads = 2});
  std::span<const float> logits = session.decode(g.tokens);
  int checked = 0;
  for (int32_t expected : g.greedy) {
    if (top2_margin(logits.data(), g.n_vocab) > argmax_margin_threshold(g)) {
      EXPECT_EQ(argmax(logits.data(), g.n_vocab), expected) << "step " << checked;
      ++checked;
    }
    logits = session.decode(std::span(&expected, 1));
  }
  EXPECT_GT(checked, 0) << "no step had a clear enough margin to check";
}

// The same check through the CLI: `tern logits` writes n_tokens x n_vocab float32.
TEST_P(GoldenTest, CliLogitsMatchLlamaCpp) {
  Golden g = load_golden(GetParam());
  std::string out = (std::filesystem::temp_directory_path() /
                     ("tern_golden_" + GetParam() + std::to_string(getpid()) + ".f32"))
                        .string();
  std::string tokens;
  for (int32_t t : g.tokens) tokens += std::to_string(t) + " ";
  std::string cmd = std::string(TERN_CLI_PATH) + " logits -t 2 -b 7 -m " + g.dir +
                    "/model.gguf --tokens \"" + tokens + "\" -o " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<float> logits = floats_of(slurp(out));
  std::filesystem::remove(out);
  expect_matches_reference(g, logits);
}

INSTANTIATE_TEST_SUITE_P(AllGoldens, GoldenTest,
                         testing::Values("llama-f32", "qwen3-f32", "gemma3-f32", "gemma2-f32",
                                         "phi3-f32", "llama-q4_k_m", "qwen2-q4_0", "qwen3moe-f32",
                                         "llama-moe-f32", "llama-yarn-f32", "qwen3-yarn-f32",
                                         "gpt-oss-f32", "gpt-oss-mxfp4"),
                         golden::model_test_name);

TEST(Golden, EveryGoldenModelIsCovered) {
  std::vector<std::string> names;
  for (const std::string& dir : {kGoldenDir, kRepoGoldenDir}) {
    if (!std::filesystem::exists(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "gemma2-f32", "gemma3-f32", "gpt-oss-f32", "gpt-oss-mxfp4", "llama-f32",
                       "llama-moe-f32", "llama-q4_k_m", "llama-yarn-f32", "phi3-f32", "qwen2-q4_0",
                       "qwen3-f32", "qwen3-yarn-f32", "qwen3moe-f32"}));
}

}  // namespace
}  // namespace tern

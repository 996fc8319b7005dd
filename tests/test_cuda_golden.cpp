// The golden models of ../shared/golden/ through the CUDA backend, with the tolerances
// of test_golden.cpp (the CPU's):
//   F32 models:       max |dlogit| <= 0.02, mean KL(ref || tern) <= 1e-4, same argmax
//                     wherever the reference's top-2 margin exceeds 0.05;
//   quantized models: mean KL <= 0.03, same argmax wherever the margin exceeds 0.5.
// All layers on the GPU (prompt in one batch, then token by token over an F16 cache),
// replayed CUDA Graphs giving exactly the directly launched kernels' logits, CPU/GPU
// splits through `tern logits --backend cuda -ngl N` for N = 1, half and all, and a
// check that no node of a GPU layer fell back to the CPU. Then the real models
// (smollm2-135m, gemma3-270m; skipped when absent): with -ngl 0, 1, half and all, the
// GPU gives the CPU's greedy token wherever the CPU's top-2 margin exceeds 0.5 (fed
// the CPU's greedy continuation, so one near-tie cannot derail the rest).
// Everything skips without a CUDA device.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "golden_reference.h"
#include "model/model_internals.h"
#include "replay_schedule.h"
#include "scheduler/scheduler.h"
#include "session/kv_cache.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/model_path.h"
#include "tern/session.h"
#include "tern/tokenizer.h"

namespace tern {
namespace {

using namespace golden;  // NOLINT: the golden helpers are this test's vocabulary

class CudaGolden : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!backend_available(kCudaSourcesKind)) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(CudaGolden, PromptLogitsMatchLlamaCpp) {
  Golden g = load_golden(GetParam());
  Model model = Model::load(g.dir + "/model.gguf", {.backend = kCudaSourcesKind});
  Session session(model, {.n_ctx = 64, .n_threads = 2});
  expect_matches_reference(g, session.decode(g.tokens, Outputs::All), " (cuda)");
}

// Token by token: the matrix-vector kernels and attention at growing positions, over an
// F16 cache.
TEST_P(CudaGolden, StepwiseLogitsMatchLlamaCpp) {
  Golden g = load_golden(GetParam());
  Model model = Model::load(g.dir + "/model.gguf", {.backend = kCudaSourcesKind});
  Session session(model, {.n_ctx = 64, .n_threads = 2, .kv_type = KvType::F16});
  std::vector<float> logits;
  for (int32_t token : g.tokens) {
    std::span<const float> row = session.decode(std::span(&token, 1));
    logits.insert(logits.end(), row.begin(), row.end());
  }
  expect_matches_reference(g, logits, " (cuda)");
}

// Decode steps replay a captured CUDA Graph, whose launches read the position from device
// memory: through replay_schedule.h's steps, batch and trim they must give exactly the
// directly launched kernels' logits. `strict` makes a failed capture an error, and
// test_launch_key checks that a step's key does not change with the position, so the
// graphs are really captured and replayed.
TEST_P(CudaGolden, ReplayedGraphsGiveTheDirectLaunchesLogits) {
  expect_replay_matches_direct(load_golden(GetParam()), kCudaSourcesKind, "TERN_CUDA_GRAPHS", "0",
                               "strict");
}

TEST_P(CudaGolden, CliSplitAcrossCpuAndCuda) {
  Golden g = load_golden(GetParam());
  int64_t n_layer = Model::load(g.dir + "/model.gguf").n_layer();
  std::string tokens;
  for (int32_t t : g.tokens) tokens += std::to_string(t) + " ";
  for (int64_t ngl : {int64_t{1}, n_layer / 2, n_layer}) {
    std::string out = (std::filesystem::temp_directory_path() /
                       ("tern_cuda_golden_" + GetParam() + std::to_string(getpid()) + ".f32"))
                          .string();
    std::string cmd = std::string(TERN_CLI_PATH) + " logits --backend cuda -ngl " +
                      std::to_string(ngl) + " -t 2 -b 7 -m " + g.dir + "/model.gguf --tokens \"" +
                      tokens + "\" -o " + out;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::vector<float> logits = floats_of(slurp(out));
    std::filesystem::remove(out);
    expect_matches_reference(g, logits, " (cuda -ngl " + std::to_string(ngl) + ")");
  }
}

// Every node of the layers and the head runs on the GPU: nothing falls back.
TEST_P(CudaGolden, NoCpuFallbacks) {
  Golden g = load_golden(GetParam());
  Model model = Model::load(g.dir + "/model.gguf");
  const ArchModel& arch = ModelInternals::arch(model);
  SharedBackend gpu{make_gpu_backend(kCudaSourcesKind, {})};
  Scheduler scheduler(make_cpu_backend({2}), &gpu, Placement(arch.spec().n_layer, -1, true));
  KvCache cache([&](int layer) -> Backend& { return scheduler.backend_of_layer(layer); },
                arch.spec(), 16, 1, TensorType::F16);
  std::vector<int32_t> rows = {0, 1, 2, 3};
  graph::Graph graph(0, 4);
  arch.build(graph, {std::span(g.tokens).first(4), rows, cache.views()});
  scheduler.run(graph);
  size_t layer_nodes = 0;
  for (const graph::Node& node : graph.nodes()) layer_nodes += node.layer >= 0 ? 1 : 0;
  EXPECT_EQ(scheduler.stats().cpu_fallbacks, 0u);
  EXPECT_EQ(scheduler.stats().gpu_nodes, layer_nodes);
  EXPECT_EQ(scheduler.stats().spans, 2u);  // embedding on the CPU, the rest on the GPU
}

INSTANTIATE_TEST_SUITE_P(AllGoldens, CudaGolden,
                         testing::Values("llama-f32", "qwen3-f32", "gemma3-f32", "llama-q4_k_m",
                                         "qwen2-q4_0", "qwen3-yarn-f32", "qwen3moe-f32",
                                         "llama-moe-f32", "gemma2-f32", "phi3-f32", "gpt-oss-f32",
                                         "gpt-oss-mxfp4"),
                         golden::model_test_name);

constexpr float kRealModelMargin = 0.5f;  // the quantized goldens' argmax threshold
constexpr int kGenerated = 16;

// Logits rows of `tokens` decoded one at a time after `prompt` (prompt's last row first),
// by the model at `path` placed as `placement` asks.
std::vector<float> stepwise_logits(const std::string& path, const ModelOptions& placement,
                                   const std::vector<TokenId>& prompt,
                                   const std::vector<TokenId>& tokens) {
  Model model = Model::load(path, placement);
  Session session(model, {.n_ctx = 128, .n_threads = 2});
  std::span<const float> row = session.decode(prompt);
  std::vector<float> logits(row.begin(), row.end());
  for (TokenId t : tokens) {
    row = session.decode(std::span(&t, 1));
    logits.insert(logits.end(), row.begin(), row.end());
  }
  return logits;
}

class CudaRealModels : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!backend_available(kCudaSourcesKind)) GTEST_SKIP() << "no CUDA device";
    try {
      path_ = resolve_model_path(GetParam());
    } catch (const Error& e) {
      GTEST_SKIP() << e.what() << " (scripts/pull " << GetParam() << ")";
    }
  }
  std::string path_;
};

TEST_P(CudaRealModels, EveryOffloadGivesTheCpusGreedyTokens) {
  Model model = Model::load(path_, {.backend = BackendKind::Cpu});
  const Tokenizer& tokenizer = model.tokenizer();
  std::vector<TokenId> prompt =
      tokenizer.tokenize("The capital of France is", {.add_eos = false, .parse_special = true});
  int64_t n_vocab = model.n_vocab();
  const ModelOptions cpu{.backend = BackendKind::Cpu};
  // The CPU's greedy continuation, then its logits along that continuation.
  std::vector<TokenId> greedy;
  {
    Session session(model, {.n_ctx = 128, .n_threads = 2});
    std::span<const float> row = session.decode(prompt);
    for (int i = 0; i < kGenerated; ++i) {
      auto next = static_cast<TokenId>(argmax(row.data(), n_vocab));
      greedy.push_back(next);
      row = session.decode(std::span(&next, 1));
    }
  }
  greedy.pop_back();  // the last token's logits are not needed
  std::vector<float> want = stepwise_logits(path_, cpu, prompt, greedy);
  int64_t n_layer = model.n_layer();
  for (int64_t ngl : {int64_t{0}, int64_t{1}, n_layer / 2, n_layer}) {
    const ModelOptions gpu{.backend = kCudaSourcesKind, .n_gpu_layers = static_cast<int>(ngl)};
    std::vector<float> got = stepwise_logits(path_, gpu, prompt, greedy);
    ASSERT_EQ(got.size(), want.size());
    // argmax over a row with NaN answers whatever it meets first: NaN must fail by itself.
    ASSERT_TRUE(std::all_of(got.begin(), got.end(), [](float x) { return std::isfinite(x); }))
        << GetParam() << " -ngl " << ngl << ": logits not finite";
    size_t compared = 0;
    for (size_t r = 0; r < want.size() / static_cast<size_t>(n_vocab); ++r) {
      const float* w = want.data() + r * static_cast<size_t>(n_vocab);
      if (top2_margin(w, n_vocab) <= kRealModelMargin) continue;
      ++compared;
      EXPECT_EQ(argmax(got.data() + r * static_cast<size_t>(n_vocab), n_vocab), argmax(w, n_vocab))
          << GetParam() << " -ngl " << ngl << " position " << r;
    }
    EXPECT_GE(compared, want.size() / static_cast<size_t>(n_vocab) / 2)
        << "too few confident positions to compare";
  }
}

INSTANTIATE_TEST_SUITE_P(Models, CudaRealModels, testing::Values("smollm2-135m", "gemma3-270m"),
                         golden::model_test_name);

}  // namespace
}  // namespace tern

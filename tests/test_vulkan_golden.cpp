// The golden models of ../shared/golden/ through the Vulkan backend, with the tolerances
// of test_golden.cpp (the CPU's):
//   F32 models:       max |dlogit| <= 0.02, mean KL(ref || tern) <= 1e-4, same argmax
//                     wherever the reference's top-2 margin exceeds 0.05;
//   quantized models: mean KL <= 0.03, same argmax wherever the margin exceeds 0.5.
// All layers on the GPU (prompt in one batch, then token by token), replayed decode
// steps giving exactly the logits of steps recorded anew, a CPU/GPU split through
// `tern logits --backend vulkan -ngl 1`, and a check that no node of a GPU layer fell
// back to the CPU. Skips without a Vulkan device; CI runs it on lavapipe.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "golden_reference.h"
#include "model/model_internals.h"
#include "replay_schedule.h"
#include "scheduler/scheduler.h"
#include "session/kv_cache.h"
#include "tern/embeddings.h"
#include "tern/model.h"
#include "tern/session.h"

namespace tern {
namespace {

using namespace golden;  // NOLINT: the golden helpers are this test's vocabulary

class VulkanGolden : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!backend_available(BackendKind::Vulkan)) {
      GTEST_SKIP() << "no Vulkan device (install mesa-vulkan-drivers for lavapipe)";
    }
  }
};

TEST_P(VulkanGolden, PromptLogitsMatchLlamaCpp) {
  Golden g = load_golden(GetParam());
  Model model = Model::load(g.dir + "/model.gguf", {.backend = BackendKind::Vulkan});
  Session session(model, {.n_ctx = 64, .n_threads = 2});
  expect_matches_reference(g, session.decode(g.tokens, Outputs::All), " (vulkan)");
}

// Hidden states (embeddings sessions): the GPU's final norm rows against the CPU's. F32:
// within 1e-3 absolute (values of order 1). Quantized: the CPU rounds activations to 8 bits
// and the GPU does not, so each row's cosine similarity >= 0.99 instead.
TEST_P(VulkanGolden, HiddenStatesMatchTheCpu) {
  Golden g = load_golden(GetParam());
  auto rows = [&](BackendKind backend) {
    Model model = Model::load(g.dir + "/model.gguf", {.backend = backend});
    Session session(model, {.n_ctx = 64, .n_threads = 2, .embeddings = true});
    std::span<const float> out = session.decode(g.tokens, Outputs::All);
    EXPECT_EQ(session.n_outputs(), std::ssize(g.tokens));
    return std::vector<float>(out.begin(), out.end());
  };
  const std::vector<float> cpu = rows(BackendKind::Cpu);
  const std::vector<float> gpu = rows(BackendKind::Vulkan);
  ASSERT_EQ(cpu.size(), gpu.size());
  if (g.quantized) {
    const size_t width = cpu.size() / g.tokens.size();
    for (size_t at = 0; at < cpu.size(); at += width) {
      std::span<const float> a = std::span(cpu).subspan(at, width);
      std::span<const float> b = std::span(gpu).subspan(at, width);
      EXPECT_GE(cosine_similarity(a, b), 0.99) << "row " << at / width;
    }
    return;
  }
  float worst = 0.0f;
  for (size_t i = 0; i < cpu.size(); ++i) worst = std::max(worst, std::abs(cpu[i] - gpu[i]));
  EXPECT_LE(worst, 1e-3f);
}

// Token by token: the matrix-vector kernels and attention at growing positions, over an
// F16 cache.
TEST_P(VulkanGolden, StepwiseLogitsMatchLlamaCpp) {
  Golden g = load_golden(GetParam());
  Model model = Model::load(g.dir + "/model.gguf", {.backend = BackendKind::Vulkan});
  Session session(model, {.n_ctx = 64, .n_threads = 2, .kv_type = KvType::F16});
  std::vector<float> logits;
  for (int32_t token : g.tokens) {
    std::span<const float> row = session.decode(std::span(&token, 1));
    logits.insert(logits.end(), row.begin(), row.end());
  }
  expect_matches_reference(g, logits, " (vulkan)");
}

// Decode steps after the first of a shape resubmit the first one's command buffer, whose
// shaders read the position from the per-run data: through replay_schedule.h's steps,
// batch and trim they must give exactly the logits of steps recorded anew
// (TERN_VULKAN_REPLAY=0).
TEST_P(VulkanGolden, ReplayedStepsGiveTheRecordedStepsLogits) {
  expect_replay_matches_direct(load_golden(GetParam()), BackendKind::Vulkan,
                               "TERN_VULKAN_REPLAY", "0", "1");
}

TEST_P(VulkanGolden, CliSplitAcrossCpuAndVulkan) {
  Golden g = load_golden(GetParam());
  std::string out = (std::filesystem::temp_directory_path() /
                     ("tern_vk_golden_" + GetParam() + std::to_string(getpid()) + ".f32"))
                        .string();
  std::string tokens;
  for (int32_t t : g.tokens) tokens += std::to_string(t) + " ";
  std::string cmd = std::string(TERN_CLI_PATH) + " logits --backend vulkan -ngl 1 -t 2 -b 7 -m " +
                    g.dir + "/model.gguf --tokens \"" + tokens + "\" -o " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<float> logits = floats_of(slurp(out));
  std::filesystem::remove(out);
  expect_matches_reference(g, logits, " (vulkan)");
}

// Every node of the layers and the head runs on the GPU: nothing falls back.
TEST_P(VulkanGolden, NoCpuFallbacks) {
  Golden g = load_golden(GetParam());
  Model model = Model::load(g.dir + "/model.gguf");
  const ArchModel& arch = ModelInternals::arch(model);
  SharedBackend gpu{make_gpu_backend(BackendKind::Vulkan, {})};
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

INSTANTIATE_TEST_SUITE_P(AllGoldens, VulkanGolden,
                         testing::Values("llama-f32", "qwen3-f32", "gemma3-f32", "llama-q4_k_m",
                                         "qwen2-q4_0", "qwen3-yarn-f32", "qwen3moe-f32",
                                         "llama-moe-f32", "gemma2-f32", "phi3-f32", "gpt-oss-f32",
                                         "gpt-oss-mxfp4"),
                         golden::model_test_name);

}  // namespace
}  // namespace tern

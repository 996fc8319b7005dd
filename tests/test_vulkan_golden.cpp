// The golden models of ../shared/golden/ through the Vulkan backend, with the tolerances
// of test_golden.cpp (the CPU's):
//   F32 models:       max |dlogit| <= 0.02, mean KL(ref || tern) <= 1e-4, same argmax
//                     wherever the reference's top-2 margin exceeds 0.05;
//   quantized models: mean KL <= 0.03, same argmax wherever the margin exceeds 0.5.
// All layers on the GPU (prompt in one batch, then token by token), a CPU/GPU split
// through `tern logits --backend vulkan -ngl 1`, and a check that no node of a GPU
// layer fell back to the CPU. Skips without a Vulkan device; CI runs it on lavapipe.
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

#include "model/model_impl.h"
#include "scheduler/backend_registry.h"
#include "scheduler/scheduler.h"
#include "session/kv_cache.h"
#include "tern/model.h"
#include "tern/session.h"

namespace tern {
namespace {

const std::string kGolden = std::string(TERN_SHARED_DIR) + "/golden/";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct Golden {
  std::string dir;
  bool quantized = false;
  int64_t n_vocab = 0;
  std::vector<int32_t> tokens;
  std::vector<float> logits;  // [tokens.size(), n_vocab]

  explicit Golden(const std::string& name) : dir(kGolden + name) {
    quantized = slurp(dir + "/kind").starts_with("quant");
    n_vocab = std::stoll(slurp(dir + "/n_vocab"));
    std::istringstream ids(slurp(dir + "/tokens.txt"));
    tokens = {std::istream_iterator<int32_t>(ids), {}};
    logits = floats(slurp(dir + "/logits.f32"));
  }
  static std::vector<float> floats(const std::string& bytes) {
    std::vector<float> v(bytes.size() / sizeof(float));
    std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
    return v;
  }
};

double log_sum_exp(const float* x, int64_t n) {
  double max = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - max);
  return max + std::log(sum);
}

// KL(p || q) of the softmaxes of two logit rows.
double kl_divergence(const float* p, const float* q, int64_t n) {
  double lp0 = log_sum_exp(p, n), lq0 = log_sum_exp(q, n), kl = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double lp = p[i] - lp0;
    kl += std::exp(lp) * (lp - (q[i] - lq0));
  }
  return kl;
}

float top2_margin(const float* row, int64_t n) {
  std::vector<float> v(row, row + n);
  std::partial_sort(v.begin(), v.begin() + 2, v.end(), std::greater<>());
  return v[0] - v[1];
}

int64_t argmax(const float* row, int64_t n) { return std::max_element(row, row + n) - row; }

void expect_matches_reference(const Golden& g, std::span<const float> logits) {
  ASSERT_EQ(logits.size(), g.logits.size());
  double kl_sum = 0.0;
  float max_diff = 0.0f;
  for (size_t t = 0; t < g.tokens.size(); ++t) {
    const float* ref = g.logits.data() + t * static_cast<size_t>(g.n_vocab);
    const float* got = logits.data() + t * static_cast<size_t>(g.n_vocab);
    for (int64_t i = 0; i < g.n_vocab; ++i) max_diff = std::max(max_diff, std::abs(ref[i] - got[i]));
    kl_sum += kl_divergence(ref, got, g.n_vocab);
    if (top2_margin(ref, g.n_vocab) > (g.quantized ? 0.5f : 0.05f)) {
      EXPECT_EQ(argmax(got, g.n_vocab), argmax(ref, g.n_vocab)) << "position " << t;
    }
  }
  double mean_kl = kl_sum / static_cast<double>(g.tokens.size());
  if (g.quantized) {
    EXPECT_LE(mean_kl, 0.03);
  } else {
    EXPECT_LE(max_diff, 0.02f);
    EXPECT_LE(mean_kl, 1e-4);
  }
  std::cout << g.dir << " (vulkan): max |dlogit| " << max_diff << ", mean KL " << mean_kl << "\n";
}

class VulkanGolden : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!backend_available(BackendKind::Vulkan)) {
      GTEST_SKIP() << "no Vulkan device (install mesa-vulkan-drivers for lavapipe)";
    }
  }
};

TEST_P(VulkanGolden, PromptLogitsMatchLlamaCpp) {
  Golden g(GetParam());
  Model model = Model::load(g.dir + "/model.gguf");
  Session session(model, {.n_ctx = 64, .n_threads = 2, .backend = BackendKind::Vulkan});
  expect_matches_reference(g, session.decode(g.tokens, Outputs::All));
}

// Token by token: the matrix-vector kernels and attention at growing positions, over an
// F16 cache.
TEST_P(VulkanGolden, StepwiseLogitsMatchLlamaCpp) {
  Golden g(GetParam());
  Model model = Model::load(g.dir + "/model.gguf");
  Session session(model, {.n_ctx = 64, .n_threads = 2, .kv_type = KvType::F16,
                          .backend = BackendKind::Vulkan});
  std::vector<float> logits;
  for (int32_t token : g.tokens) {
    std::span<const float> row = session.decode(std::span(&token, 1));
    logits.insert(logits.end(), row.begin(), row.end());
  }
  expect_matches_reference(g, logits);
}

TEST_P(VulkanGolden, CliSplitAcrossCpuAndVulkan) {
  Golden g(GetParam());
  std::string out = (std::filesystem::temp_directory_path() /
                     ("tern_vk_golden_" + GetParam() + std::to_string(getpid()) + ".f32"))
                        .string();
  std::string tokens;
  for (int32_t t : g.tokens) tokens += std::to_string(t) + " ";
  std::string cmd = std::string(TERN_CLI_PATH) + " logits --backend vulkan -ngl 1 -t 2 -b 7 -m " +
                    g.dir + "/model.gguf --tokens \"" + tokens + "\" -o " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<float> logits = Golden::floats(slurp(out));
  std::filesystem::remove(out);
  expect_matches_reference(g, logits);
}

// Every node of the layers and the head runs on the GPU: nothing falls back.
TEST_P(VulkanGolden, NoCpuFallbacks) {
  Golden g(GetParam());
  Model model = Model::load(g.dir + "/model.gguf");
  const ArchModel& arch = *model.impl().arch;
  Scheduler scheduler(make_cpu_backend({2}), make_gpu_backend(BackendKind::Vulkan, {}),
                      Placement(arch.spec().n_layer, -1, true));
  KvCache cache([&](int layer) -> Backend& { return scheduler.backend_of_layer(layer); },
                arch.spec(), 16, TensorType::F16);
  std::vector<int32_t> rows = {0, 1, 2, 3};
  graph::Graph graph(0, 4);
  arch.build(graph, {std::span(g.tokens).first(4), 0, rows, cache.views()});
  scheduler.run(graph);
  size_t layer_nodes = 0;
  for (const graph::Node& node : graph.nodes()) layer_nodes += node.layer >= 0 ? 1 : 0;
  EXPECT_EQ(scheduler.stats().cpu_fallbacks, 0u);
  EXPECT_EQ(scheduler.stats().gpu_nodes, layer_nodes);
  EXPECT_EQ(scheduler.stats().spans, 2u);  // embedding on the CPU, the rest on the GPU
}

INSTANTIATE_TEST_SUITE_P(AllGoldens, VulkanGolden,
                         testing::Values("llama-f32", "qwen3-f32", "gemma3-f32", "llama-q4_k_m",
                                         "qwen2-q4_0"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace tern

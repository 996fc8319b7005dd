// One model, many sessions: sessions sharing a Model decode in two threads at once and give
// the greedy tokens one session gives alone. The shared model's weights are prepared (the
// CPU's interleaved copies, the GPU's uploads) while both threads run. On the CPU for each
// golden model, and on Vulkan where a device exists (lavapipe included).
#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "backends/registry.h"
#include "golden_reference.h"
#include "tern/model.h"
#include "tern/session.h"

namespace tern {
namespace {

const std::string kGolden = std::string(TERN_SHARED_DIR) + "/golden/";
const std::vector<int32_t> kPrompt = {1, 436, 94, 16, 328, 189, 240, 43, 191, 330, 183, 426};
constexpr int kSteps = 12;

// Greedy tokens after kPrompt, decoded one at a time by a new session over `model`.
std::vector<int32_t> greedy_tokens(const Model& model) {
  Session session(model, {.n_ctx = 64, .n_batch = 8, .n_threads = 2});
  std::span<const float> row = session.decode(kPrompt);
  std::vector<int32_t> tokens;
  for (int i = 0; i < kSteps; ++i) {
    auto next = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    tokens.push_back(next);
    row = session.decode(std::span(&next, 1));
  }
  return tokens;
}

void expect_two_threads_give_the_tokens_alone(const std::string& name,
                                              const ModelOptions& options) {
  const std::string path = kGolden + name + "/model.gguf";
  std::vector<int32_t> alone = greedy_tokens(Model::load(path, options));
  const Model shared = Model::load(path, options);
  std::vector<int32_t> got[2];
  std::exception_ptr error[2];
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      try {
        got[t] = greedy_tokens(shared);
      } catch (...) {
        error[t] = std::current_exception();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < 2; ++t) {
    if (error[t]) std::rethrow_exception(error[t]);
    EXPECT_EQ(got[t], alone) << name << ", thread " << t;
  }
}

class SharedModel : public testing::TestWithParam<std::string> {};

TEST_P(SharedModel, TwoThreadsOnTheCpuGiveTheTokensOfOne) {
  expect_two_threads_give_the_tokens_alone(GetParam(), {.backend = BackendKind::Cpu});
}

TEST_P(SharedModel, TwoThreadsOnVulkanGiveTheTokensOfOne) {
  if (!backend_available(BackendKind::Vulkan)) GTEST_SKIP() << "no Vulkan device";
  expect_two_threads_give_the_tokens_alone(GetParam(), {.backend = BackendKind::Vulkan});
}

INSTANTIATE_TEST_SUITE_P(Goldens, SharedModel,
                         testing::Values("llama-q4_k_m", "qwen2-q4_0", "gemma3-f32"),
                         golden::model_test_name);

}  // namespace
}  // namespace tern

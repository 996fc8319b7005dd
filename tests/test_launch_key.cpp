// Launch keys (graph/launch_key.h): the key of a decode step must not depend on its
// position (else no recorded step could ever be replayed), and must change with anything
// that changes a launch (else a replay would run stale launches). Built from a golden
// model's real forward graphs; also LaunchCache's keeping and dropping.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "graph/launch_key.h"
#include "model/model_internals.h"
#include "tern/model.h"

namespace tern {
namespace {

const std::string kModel = std::string(TERN_SHARED_DIR) + "/golden/llama-f32/model.gguf";

class LaunchKeyTest : public testing::Test {
 protected:
  void SetUp() override {
    model_ = std::make_unique<Model>(Model::load(kModel));
    const ModelSpec& spec = ModelInternals::arch(*model_).spec();
    auto cpu = make_cpu_backend({1});
    for (int64_t l = 0; l < spec.n_layer; ++l) {
      // Only the buffers' identities matter here: the graph is keyed, never run.
      auto k = cpu->allocate(1);
      auto v = cpu->allocate(1);
      views_.push_back({k.get(), v.get(), TensorType::F16, 64, spec.k_cols(), spec.v_cols()});
      caches_.push_back(std::move(k));
      caches_.push_back(std::move(v));
    }
  }

  // The key of a batch of `tokens` at pos0, caches identified by `cache_salt` + address.
  std::vector<uint64_t> key(std::vector<int32_t> tokens, int64_t pos0, uint64_t cache_salt = 0) {
    graph::Graph g(pos0, static_cast<int64_t>(tokens.size()));
    std::vector<int32_t> rows = {static_cast<int32_t>(tokens.size()) - 1};
    ModelInternals::arch(*model_).build(g, {tokens, rows, views_});
    std::vector<uint64_t> words;
    auto cache_id = [&](const Buffer* c) { return cache_salt + reinterpret_cast<uintptr_t>(c); };
    for (const graph::Node& node : g.nodes()) graph::append_launch_key(g, node, cache_id, words);
    return words;
  }

  std::unique_ptr<Model> model_;
  std::vector<std::unique_ptr<Buffer>> caches_;
  std::vector<graph::CacheView> views_;
};

TEST_F(LaunchKeyTest, DecodeStepsAtAnyPositionShareTheKey) {
  std::vector<uint64_t> at3 = key({5}, 3);
  EXPECT_FALSE(at3.empty());
  EXPECT_EQ(at3, key({5}, 40));
  EXPECT_EQ(at3, key({17}, 3)) << "token ids are per-run data, not part of the key";
}

TEST_F(LaunchKeyTest, ShapesAndMemoryChangeTheKey) {
  std::vector<uint64_t> one = key({5}, 3);
  EXPECT_NE(one, key({5, 6}, 3)) << "batch size";
  EXPECT_NE(one, key({5}, 3, 4096)) << "cache memory";
  EXPECT_NE(graph::hash_launch_key(one), graph::hash_launch_key(key({5, 6}, 3)));
}

// gpt-oss's operands and parameters: the attention's sinks (a fourth operand), the
// route's gating and the clamped SwiGLU's alpha and limit each change a node's key.
TEST(LaunchKey, SinksGatingAndSwiGluOaiChangeTheKey) {
  auto cpu = make_cpu_backend({1});
  auto k = cpu->allocate(1), v = cpu->allocate(1);
  std::vector<float> w(64, 0.0f), sinks(4, 0.0f);
  auto node_key = [&](auto build) {
    graph::Graph g(0, 1);
    build(g, g.get_rows(g.weight(TensorType::F32, 16, 4, w.data()), g.input({0})));
    std::vector<uint64_t> words;
    auto id = [](const Buffer* c) { return reinterpret_cast<uintptr_t>(c); };
    graph::append_launch_key(g, g.nodes().back(), id, words);
    return words;
  };
  auto attention = [&](bool with_sinks) {
    return node_key([&](graph::Graph& g, graph::TensorId x) {
      graph::TensorId kc = g.cache(TensorType::F32, 16, 8, *k),
                      vc = g.cache(TensorType::F32, 16, 8, *v);
      g.attention(x, kc, vc, {4, 4, 4, 4, 0.5f, 0},
                  with_sinks ? g.weight(TensorType::F32, 4, 1, sinks.data()) : graph::kNone);
    });
  };
  EXPECT_NE(attention(false), attention(true));
  auto route = [&](graph::ExpertGating gating) {
    return node_key([&](graph::Graph& g, graph::TensorId x) {
      g.expert_route(x, {.n_used = 2, .normalize = false, .gating = gating});
    });
  };
  EXPECT_NE(route(graph::ExpertGating::Softmax), route(graph::ExpertGating::SoftmaxChosen));
  auto glu = [&](graph::SwiGluOaiParams p) {
    return node_key([&](graph::Graph& g, graph::TensorId x) { g.swiglu_oai(x, x, p); });
  };
  EXPECT_NE(glu({}), glu({.alpha = 1.0f, .limit = 7.0f}));
  EXPECT_NE(glu({}), glu({.alpha = 1.702f, .limit = 6.0f}));
}

TEST(LaunchCache, KeepsRecordingsAndDropsTheLeastRecentlyUsed) {
  graph::LaunchCache<int> cache(2);
  const std::vector<uint64_t> a = {1}, b = {2}, c = {3};
  cache.get(a) = 10;
  cache.get(b) = 20;
  EXPECT_EQ(cache.get(a), 10);  // a is now the most recent
  cache.get(c) = 30;            // drops b
  EXPECT_EQ(cache.get(a), 10);
  EXPECT_EQ(cache.get(c), 30);
  EXPECT_EQ(cache.get(b), 0) << "b was dropped: a new, default recording";
}

}  // namespace
}  // namespace tern

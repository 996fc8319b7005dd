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

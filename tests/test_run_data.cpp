// RunData (backends/run_data.h): the per-run words both GPU backends upload. Their layout
// is what the kernels read, so it is checked here without a device: ids as given, rope
// tables equal to rope_angles() and shared between nodes of the same rotation, positions,
// 16-byte aligned starts, and the input checks.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backends/backend.h"
#include "backends/rope_angles.h"
#include "backends/run_data.h"
#include "graph/graph.h"
#include "tern/error.h"

namespace tern {
namespace {

using graph::Graph;
using graph::TensorId;

std::vector<float> floats_at(const RunData& d, size_t at, size_t n) {
  std::vector<float> out(n);
  std::memcpy(out.data(), d.words().data() + at, n * sizeof(float));
  return out;
}

TEST(RunData, WordsOfEachNodeAndSharedRopeTables) {
  constexpr int64_t kTokens = 3, kCols = 4 * 8;
  std::vector<float> table(16 * kCols, 1.0f);
  std::vector<float> factors = {1.0f, 2.0f, 3.0f, 4.0f};
  auto cache = make_cpu_backend({1})->allocate(32 * kCols * sizeof(float));
  // Two sequences: positions 7 and 8 of the slot at row 0, position 3 of the one at row 16.
  Graph g({{7, 0}, {8, 0}, {3, 16}});
  auto places = g.places();
  TensorId x = g.get_rows(g.weight(TensorType::F32, kCols, 16, table.data()), g.input({5, 0, 9}));
  graph::RopeParams local{4, 8, 8, 10000.0f, 1.0f, false};
  graph::RopeParams global = local;
  global.freq_base = 1e6f;
  TensorId f = g.weight(TensorType::F32, 4, 1, factors.data());
  TensorId q = g.rope(x, graph::kNone, local);    // node 1
  TensorId k = g.rope(x, graph::kNone, local);    // node 2: shares node 1's table
  TensorId q2 = g.rope(q, graph::kNone, global);  // node 3: another base
  TensorId k2 = g.rope(k, f, local);              // node 4: factors
  TensorId kc = g.cache(TensorType::F32, kCols, 32, *cache);
  g.copy(k2, kc);  // node 5
  graph::AttentionParams p{4, 4, 8, 8, 1.0f, 0};
  g.finish(g.attention(q2, kc, kc, p));  // node 6

  RunData d;
  d.gather(g, 0, g.nodes().size());
  for (size_t i = 0; i < g.nodes().size(); ++i) EXPECT_EQ(d.at(i) % 4, 0u) << "node " << i;
  EXPECT_EQ(std::vector<uint32_t>(d.words().begin() + d.at(0), d.words().begin() + d.at(0) + 3),
            (std::vector<uint32_t>{5, 0, 9}));
  size_t n_angles = kTokens * 8;
  EXPECT_EQ(floats_at(d, d.at(1), n_angles), rope_angles(places, local, nullptr));
  EXPECT_EQ(d.at(2), d.at(1));
  EXPECT_EQ(floats_at(d, d.at(3), n_angles), rope_angles(places, global, nullptr));
  EXPECT_EQ(floats_at(d, d.at(4), n_angles), rope_angles(places, local, factors.data()));
  EXPECT_NE(d.at(3), d.at(1));
  EXPECT_NE(d.at(4), d.at(1));
  auto words = [&](size_t at, size_t n) {
    return std::vector<uint32_t>(d.words().begin() + at, d.words().begin() + at + n);
  };
  EXPECT_EQ(words(d.at(5), 3), (std::vector<uint32_t>{7, 8, 19}));  // the copy's cache rows
  EXPECT_EQ(words(d.at(6), 6), (std::vector<uint32_t>{7, 0, 8, 0, 3, 16}));  // (pos, slot)

  // A span: node offsets are the span's own.
  d.gather(g, 3, 5);
  EXPECT_EQ(d.at(3), 0u);
  EXPECT_EQ(floats_at(d, d.at(3), n_angles), rope_angles(places, global, nullptr));
}

TEST(RunData, CacheRowsPastTheCacheAreErrors) {
  std::vector<float> table(4 * 8, 0.0f);
  auto cache = make_cpu_backend({1})->allocate(16 * 8 * sizeof(float));
  Graph fits({{3, 8}, {7, 8}});
  TensorId x = fits.get_rows(fits.weight(TensorType::F32, 8, 4, table.data()), fits.input({0, 1}));
  TensorId kc = fits.cache(TensorType::F32, 8, 16, *cache);
  fits.copy(x, kc);
  Graph past({{3, 8}, {8, 8}});  // row 16 of 16
  TensorId y = past.get_rows(past.weight(TensorType::F32, 8, 4, table.data()), past.input({0, 1}));
  EXPECT_THROW(past.copy(y, past.cache(TensorType::F32, 8, 16, *cache)), Error);
}

TEST(RunData, RowIdsOutsideTheTableAreErrors) {
  std::vector<float> table(4 * 8, 0.0f);
  for (int32_t id : {-1, 4}) {
    Graph g(0, 2);
    g.finish(g.get_rows(g.weight(TensorType::F32, 8, 4, table.data()), g.input({0, id})));
    RunData d;
    EXPECT_THROW(d.gather(g, 0, g.nodes().size()), Error) << id;
  }
}

}  // namespace
}  // namespace tern

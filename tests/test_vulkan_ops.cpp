// The Vulkan backend op by op against the CPU: each case builds a small graph, runs it on
// both backends and compares by normalized mean squared error, NMSE = sum (a - b)^2 /
// sum b^2. References: the scalar kernels (cpu::matmul with F32 activations) for
// matmul, the CPU backend for everything else. Bounds (float32 sums in another order
// give NMSE near 1e-13):
//   kernel weight types, F32 ops, F32 cache:        NMSE <= 1e-10
//   types converted to F16 at upload, F16 caches:   NMSE <= 1e-5 (F16 rounding)
// Every case runs twice: the "fast" shaders (subgroups, 16-bit storage) where the device
// has them, and the "basic" fallback (TERN_VULKAN_BASIC=1). Without a Vulkan device the
// tests skip; CI runs them on Mesa's lavapipe. Each run gets a fresh Vulkan backend: the
// backend keeps device copies of weights by address, and test weights come and go.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/reference_kernels.h"
#include "backends/registry.h"
#include "graph/graph.h"
#include "types/type_table.h"

namespace tern {
namespace {

using graph::Graph;
using graph::TensorId;

constexpr double kExact = 1e-10;
constexpr double kF16 = 1e-5;

double nmse(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  double err = 0.0, ref = 0.0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    double d = double{got[i]} - want[i];
    err += d * d;
    ref += double{want[i]} * want[i];
  }
  return ref > 0.0 ? err / ref : err;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Weight bytes of `type` holding `values` (quantized by the table's reference encoder).
std::vector<uint8_t> encode(TensorType type, const std::vector<float>& values) {
  const TypeTraits& t = type_traits(type);
  std::vector<uint8_t> out(static_cast<size_t>(values.size() / t.block_size) * t.block_bytes);
  t.from_float(values.data(), out.data(), static_cast<int64_t>(values.size()));
  return out;
}

// One KV cache layer's K and V on a backend.
struct Cache {
  std::unique_ptr<Buffer> k, v;
};

// What a case builds: the graph's tensors given the cache (may be unused).
using Build = std::function<TensorId(Graph&, Cache&)>;

struct Result {
  std::vector<float> out;
  std::vector<float> k_cache;  // the K cache afterwards, as float
};

Result run_on(Backend& backend, int64_t pos0, int64_t n_tok, const Build& build,
              TensorType cache_type = TensorType::F32, int64_t cache_cols = 0,
              int64_t cache_rows = 0, const std::vector<float>& cache_init = {}) {
  Cache cache;
  size_t cache_bytes = cache_cols > 0 ? *row_bytes(cache_type, cache_cols * cache_rows) : 16;
  cache.k = backend.allocate(cache_bytes);
  cache.v = backend.allocate(cache_bytes);
  if (!cache_init.empty()) {
    std::vector<uint8_t> bytes(cache_bytes);
    cpu::store(cache_init.data(), static_cast<int64_t>(cache_init.size()), cache_type, bytes.data());
    cache.k->upload(bytes.data(), 0, bytes.size());
    // V differs from K: reversed values.
    std::vector<float> rev(cache_init.rbegin(), cache_init.rend());
    cpu::store(rev.data(), static_cast<int64_t>(rev.size()), cache_type, bytes.data());
    cache.v->upload(bytes.data(), 0, bytes.size());
  }
  Graph g(pos0, n_tok);
  TensorId result = build(g, cache);
  g.finish(result);
  auto workspace = backend.allocate(std::max<size_t>(g.workspace_floats() * sizeof(float), 16));
  backend.run(g, 0, g.nodes().size(), *workspace);
  Result r;
  const graph::Tensor& t = g.tensor(result);
  r.out.resize(static_cast<size_t>(t.rows * t.cols));
  workspace->download(r.out.data(), t.offset * sizeof(float), r.out.size() * sizeof(float));
  if (cache_cols > 0) {
    std::vector<uint8_t> bytes(cache_bytes);
    cache.k->download(bytes.data(), 0, cache_bytes);
    r.k_cache.resize(static_cast<size_t>(cache_cols * cache_rows));
    dequantize(cache_type, bytes.data(), r.k_cache.data(), cache_cols * cache_rows);
  }
  return r;
}

class VulkanOps : public testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!backend_available(BackendKind::Vulkan)) {
      GTEST_SKIP() << "no Vulkan device (install mesa-vulkan-drivers for lavapipe)";
    }
    if (GetParam()) {
      setenv("TERN_VULKAN_BASIC", "1", 1);
    } else {
      unsetenv("TERN_VULKAN_BASIC");
    }
    cpu_ = make_cpu_backend({2});
  }
  void TearDown() override { unsetenv("TERN_VULKAN_BASIC"); }

 public:

  // Runs `build` on both backends; returns the NMSE of the results (and of the K caches).
  std::pair<double, double> compare(int64_t pos0, int64_t n_tok, const Build& build,
                                    TensorType cache_type = TensorType::F32,
                                    int64_t cache_cols = 0, int64_t cache_rows = 0,
                                    const std::vector<float>& cache_init = {}) {
    Result want = run_on(*cpu_, pos0, n_tok, build, cache_type, cache_cols, cache_rows, cache_init);
    Result got = run_on(*gpu(), pos0, n_tok, build, cache_type, cache_cols, cache_rows, cache_init);
    return {nmse(got.out, want.out), nmse(got.k_cache, want.k_cache)};
  }

  std::unique_ptr<Backend> gpu() const { return make_gpu_backend(BackendKind::Vulkan, {}); }

 protected:
  std::unique_ptr<Backend> cpu_;
};

// x [n, cols]: rows of a random F32 table picked by ids (get_rows on an F32 weight).
struct Input {
  std::vector<float> table;
  std::vector<int32_t> ids;
  int64_t cols;
  Input(int64_t n, int64_t cols_, uint32_t seed, float scale = 1.0f)
      : table(random_floats(static_cast<size_t>(16 * cols_), seed, scale)), cols(cols_) {
    for (int64_t i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>((i * 7 + 3) % 16));
  }
  TensorId add(Graph& g) const {
    return g.get_rows(g.weight(TensorType::F32, cols, 16, table.data()), g.input(ids));
  }
};

// Types with a kernel, then types converted to F16 at upload.
const TensorType kKernelTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::Q4_0,
                                   TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K,
                                   TensorType::Q6_K};
const TensorType kConvertedTypes[] = {TensorType::Q4_1, TensorType::Q5_0, TensorType::Q2_K,
                                      TensorType::Q3_K, TensorType::IQ4_NL, TensorType::BF16};

void check_matmul(const VulkanOps& t, TensorType type, double bound) {
  constexpr int64_t kCols = 512, kRows = 67;
  std::vector<uint8_t> w = encode(type, random_floats(kCols * kRows, 11));
  for (int64_t n : {1, 3, 8, 13}) {
    Input x(n, kCols, 5);
    Result got = run_on(*t.gpu(), 0, n, [&](Graph& g, Cache&) {
      return g.matmul(g.weight(type, kCols, kRows, w.data()), x.add(g));
    });
    std::vector<float> xs(static_cast<size_t>(n * kCols));
    for (int64_t i = 0; i < n; ++i) {
      std::copy_n(x.table.begin() + x.ids[static_cast<size_t>(i)] * kCols, kCols,
                  xs.begin() + i * kCols);
    }
    std::vector<float> want(static_cast<size_t>(n * kRows));
    cpu::matmul(type, w.data(), kRows, kCols, xs.data(), n, want.data(), 1);
    EXPECT_LE(nmse(got.out, want), bound) << type_traits(type).name << " n=" << n;
  }
}

TEST_P(VulkanOps, MatMulKernelTypes) {
  for (TensorType type : kKernelTypes) check_matmul(*this, type, kExact);
}

TEST_P(VulkanOps, MatMulConvertedTypes) {
  for (TensorType type : kConvertedTypes) check_matmul(*this, type, kF16);
}

TEST_P(VulkanOps, GetRowsOfWeightsAndActivations) {
  constexpr int64_t kCols = 256;
  for (TensorType type : kKernelTypes) {
    std::vector<uint8_t> w = encode(type, random_floats(kCols * 10, 3));
    std::vector<int32_t> ids = {9, 0, 4, 4};
    auto [out, unused] = compare(0, 4, [&](Graph& g, Cache&) {
      return g.get_rows(g.weight(type, kCols, 10, w.data()), g.input(ids));
    });
    EXPECT_LE(out, kExact) << type_traits(type).name;
  }
  Input x(6, 64, 8);  // rows of an activation, as the output head picks them
  auto [out, unused] = compare(0, 6, [&](Graph& g, Cache&) {
    return g.get_rows(x.add(g), g.input({5, 0, 2}));
  });
  EXPECT_LE(out, kExact);
}

TEST_P(VulkanOps, RmsNormPerRowAndPerHead) {
  Input x(5, 256, 2, 3.0f);
  std::vector<float> w_row = random_floats(256, 4);
  std::vector<float> w_head = random_floats(64, 6);
  for (int variant = 0; variant < 3; ++variant) {
    auto [out, unused] = compare(0, 5, [&](Graph& g, Cache&) {
      TensorId w = variant == 0   ? g.weight(TensorType::F32, 256, 1, w_row.data())
                   : variant == 1 ? g.weight(TensorType::F32, 64, 1, w_head.data())
                                  : graph::kNone;
      return g.rms_norm(x.add(g), w, 1e-6f);
    });
    EXPECT_LE(out, kExact) << "variant " << variant;
  }
}

TEST_P(VulkanOps, RopeNormalNeoxPartialAndFactors) {
  std::vector<float> factors = random_floats(16, 9);
  for (float& f : factors) f = 1.0f + std::abs(f);
  for (bool neox : {false, true}) {
    for (int n_rot : {64, 32}) {
      Input x(3, 4 * 64, 7);
      auto [out, unused] = compare(37, 3, [&](Graph& g, Cache&) {
        TensorId f = n_rot == 32 ? g.weight(TensorType::F32, 16, 1, factors.data()) : graph::kNone;
        return g.rope(x.add(g), f, {4, 64, n_rot, 10000.0f, 0.5f, neox});
      });
      EXPECT_LE(out, kExact) << "neox " << neox << " n_rot " << n_rot;
    }
  }
}

// Attention over a cache whose first pos0 rows exist already; the batch's K and V are
// copied in by the graph (Copy), so the cache comparison checks Copy too.
void check_attention(VulkanOps& t, TensorType cache_type, int n_head, int n_head_kv,
                     int head_dim, int64_t window, int64_t pos0, int64_t n_tok, double bound) {
  int64_t kv_cols = int64_t{n_head_kv} * head_dim;
  int64_t n_ctx = pos0 + n_tok + 3;
  std::vector<float> init = random_floats(static_cast<size_t>(kv_cols * n_ctx), 21);
  Input q(n_tok, int64_t{n_head} * head_dim, 1);
  Input k(n_tok, kv_cols, 2);
  Input v(n_tok, kv_cols, 3);
  auto [out, cache] = t.compare(
      pos0, n_tok,
      [&](Graph& g, Cache& c) {
        TensorId kc = g.cache(cache_type, kv_cols, n_ctx, *c.k);
        TensorId vc = g.cache(cache_type, kv_cols, n_ctx, *c.v);
        g.copy(k.add(g), kc, pos0);
        g.copy(v.add(g), vc, pos0);
        graph::AttentionParams p{n_head, n_head_kv, head_dim, head_dim,
                                 1.0f / std::sqrt(static_cast<float>(head_dim)), window};
        return g.attention(q.add(g), kc, vc, p);
      },
      cache_type, kv_cols, n_ctx, init);
  EXPECT_LE(out, bound) << "heads " << n_head << "/" << n_head_kv << " dim " << head_dim
                        << " window " << window << " pos0 " << pos0 << " n " << n_tok;
  EXPECT_LE(cache, bound);
}

TEST_P(VulkanOps, AttentionWithGqaWindowAndLongHistory) {
  check_attention(*this, TensorType::F32, 4, 2, 64, 0, 0, 5, kExact);
  check_attention(*this, TensorType::F32, 8, 2, 32, 0, 150, 1, kExact);  // > 2 key blocks
  check_attention(*this, TensorType::F32, 4, 4, 256, 0, 7, 9, kExact);    // gemma's head size
  check_attention(*this, TensorType::F32, 4, 1, 64, 16, 70, 4, kExact);   // sliding window
  check_attention(*this, TensorType::F16, 4, 2, 64, 0, 30, 6, kF16);
}

TEST_P(VulkanOps, GatedActivationsAndElementwise) {
  Input a(7, 96, 1, 4.0f);  // large values: gelu's tanh must not overflow
  Input b(7, 96, 2);
  std::vector<float> bias = random_floats(96, 3);
  const std::function<TensorId(Graph&, TensorId, TensorId)> ops[] = {
      [](Graph& g, TensorId x, TensorId y) { return g.swiglu(x, y); },
      [](Graph& g, TensorId x, TensorId y) { return g.geglu(x, y); },
      [](Graph& g, TensorId x, TensorId y) { return g.add(x, y); },
      [&](Graph& g, TensorId x, TensorId) {
        return g.add(x, g.weight(TensorType::F32, 96, 1, bias.data()));
      },
      [](Graph& g, TensorId x, TensorId) { return g.scale(x, 0.37f); },
  };
  for (size_t i = 0; i < std::size(ops); ++i) {
    auto [out, unused] = compare(0, 7, [&](Graph& g, Cache&) { return ops[i](g, a.add(g), b.add(g)); });
    EXPECT_LE(out, kExact) << "op " << i;
  }
}

TEST_P(VulkanOps, RefusesCachesOfOtherBackends) {
  auto host = cpu_->allocate(64 * 4 * sizeof(float));
  Graph g(0, 1);
  Input x(1, 64, 1);
  TensorId kc = g.cache(TensorType::F32, 64, 4, *host);
  g.copy(x.add(g), kc, 0);
  g.finish(kc);
  auto backend = gpu();
  EXPECT_FALSE(backend->supports(g, g.nodes().back()));
  EXPECT_TRUE(backend->supports(g, g.nodes().front()));
}

INSTANTIATE_TEST_SUITE_P(Variants, VulkanOps, testing::Values(false, true),
                         [](const auto& param_info) { return param_info.param ? "basic" : "fast"; });

}  // namespace
}  // namespace tern

// The CUDA backend op by op against the CPU: each case builds a small graph, runs it on
// both backends and compares by normalized mean squared error, NMSE = sum (a - b)^2 /
// sum b^2. References: the scalar kernels (cpu::matmul with F32 activations) for
// matmul, the CPU backend for everything else. Bounds:
//   F32 ops (norm, rope, attention, glu, add...), F32 and F16   NMSE <= 1e-10 (float sums in
//   caches (both round to F16 the same way), F32 matmul:       another order: ~1e-13)
//   matmul of F16/BF16 and types converted to F16:             NMSE <= 1e-5 (F16 rounding of
//                                                              weights or activations)
//   matmul of quantized types read natively:                   NMSE <= 1e-4 (8-bit
//                                                              activations: ~2e-5 expected)
// A layout or indexing error gives NMSE ~1. Without a CUDA device the tests skip (CI has
// none); the one that checks error reporting runs everywhere. Each run gets a fresh
// backend: the backend keeps device copies of weights by address, and test weights come
// and go.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/reference_kernels.h"
#include "backends/registry.h"
#include "graph/graph.h"
#include "tern/error.h"
#include "types/type_table.h"

namespace tern {
namespace {

using graph::Graph;
using graph::TensorId;

constexpr double kExact = 1e-10;
constexpr double kF16 = 1e-5;
constexpr double kQuantized = 1e-4;

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

using Build = std::function<TensorId(Graph&, Cache&)>;

struct Result {
  std::vector<float> out;
  std::vector<float> k_cache;  // the K cache afterwards, as float
};

struct CacheSpec {
  TensorType type = TensorType::F32;
  int64_t cols = 0, rows = 0;
  std::vector<float> init;  // K's values; V gets them reversed (repeated to its size)
  int64_t poison_from = -1;  // rows from here on hold NaN in K and V (-1: none)
  int64_t v_cols = 0;        // values per V row (0: cols)
};

Result run_on(Backend& backend, int64_t pos0, int64_t n_tok, const Build& build,
              const CacheSpec& spec = {}) {
  Cache cache;
  const int64_t v_cols = spec.v_cols > 0 ? spec.v_cols : spec.cols;
  size_t cache_bytes = spec.cols > 0 ? *row_bytes(spec.type, spec.cols * spec.rows) : 16;
  size_t v_bytes = spec.cols > 0 ? *row_bytes(spec.type, v_cols * spec.rows) : 16;
  cache.k = backend.allocate(cache_bytes);
  cache.v = backend.allocate(v_bytes);
  if (!spec.init.empty()) {
    std::vector<float> k = spec.init;
    std::vector<float> v(static_cast<size_t>(v_cols * spec.rows));
    for (size_t i = 0; i < v.size(); ++i) v[i] = spec.init[k.size() - 1 - i % k.size()];
    if (spec.poison_from >= 0) {
      std::fill(k.begin() + spec.poison_from * spec.cols, k.end(),
                std::numeric_limits<float>::quiet_NaN());
      std::fill(v.begin() + spec.poison_from * v_cols, v.end(),
                std::numeric_limits<float>::quiet_NaN());
    }
    std::vector<uint8_t> bytes(cache_bytes);
    cpu::store(k.data(), static_cast<int64_t>(k.size()), spec.type, bytes.data());
    cache.k->upload(bytes.data(), 0, bytes.size());
    bytes.resize(v_bytes);
    cpu::store(v.data(), static_cast<int64_t>(v.size()), spec.type, bytes.data());
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
  if (spec.cols > 0) {
    std::vector<uint8_t> bytes(cache_bytes);
    cache.k->download(bytes.data(), 0, cache_bytes);
    r.k_cache.resize(static_cast<size_t>(spec.cols * spec.rows));
    dequantize(spec.type, bytes.data(), r.k_cache.data(), spec.cols * spec.rows);
  }
  return r;
}

class CudaOps : public testing::Test {
 protected:
  void SetUp() override {
    if (!backend_available(BackendKind::Cuda)) GTEST_SKIP() << "no CUDA device";
    cpu_ = make_cpu_backend({2});
  }

 public:
  // Runs `build` on both backends; returns the NMSE of the results (and of the K caches).
  std::pair<double, double> compare(int64_t pos0, int64_t n_tok, const Build& build,
                                    const CacheSpec& spec = {}) {
    Result want = run_on(*cpu_, pos0, n_tok, build, spec);
    Result got = run_on(*gpu(), pos0, n_tok, build, spec);
    return {nmse(got.out, want.out), nmse(got.k_cache, want.k_cache)};
  }

  std::unique_ptr<Backend> gpu() const { return make_gpu_backend(BackendKind::Cuda, {}); }

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
  std::vector<float> rows() const {
    std::vector<float> out;
    for (int32_t id : ids) {
      out.insert(out.end(), table.begin() + id * cols, table.begin() + (id + 1) * cols);
    }
    return out;
  }
};

// Every weight type real models use, with its bound (see the top of the file): the float
// types, then the block-quantized ones (native kernels or F16 at upload).
struct TypeCase {
  TensorType type;
  double bound;
};
const TypeCase kWeightTypes[] = {
    {TensorType::F32, kExact},       {TensorType::F16, kF16},
    {TensorType::BF16, kF16},        {TensorType::Q4_0, kQuantized},
    {TensorType::Q4_1, kQuantized},  {TensorType::Q5_0, kQuantized},
    {TensorType::Q5_1, kQuantized},  {TensorType::Q8_0, kQuantized},
    {TensorType::Q2_K, kQuantized},  {TensorType::Q3_K, kQuantized},
    {TensorType::Q4_K, kQuantized},  {TensorType::Q5_K, kQuantized},
    {TensorType::Q6_K, kQuantized},  {TensorType::IQ4_NL, kQuantized},
    {TensorType::IQ4_XS, kQuantized}, {TensorType::TQ1_0, kQuantized},
    {TensorType::TQ2_0, kQuantized}, {TensorType::MXFP4, kQuantized},
};

// 2304 columns: every lane of a row's warp walks several units (legacy types: 72 blocks
// over 32 lanes, the last pass partial); 67 rows leave the last thread block partial.
TEST_F(CudaOps, MatMulEveryWeightType) {
  constexpr int64_t kCols = 2304, kRows = 67;
  for (const TypeCase& c : kWeightTypes) {
    std::vector<uint8_t> w = encode(c.type, random_floats(kCols * kRows, 11));
    for (int64_t n : {1, 3, 8, 13, 64}) {  // matrix-vector, small batches, a prompt
      Input x(n, kCols, 5);
      Result got = run_on(*gpu(), 0, n, [&](Graph& g, Cache&) {
        return g.matmul(g.weight(c.type, kCols, kRows, w.data()), x.add(g));
      });
      std::vector<float> want(static_cast<size_t>(n * kRows));
      cpu::matmul(c.type, w.data(), kRows, kCols, x.rows().data(), n, want.data(), 1);
      EXPECT_LE(nmse(got.out, want), c.bound) << type_traits(c.type).name << " n=" << n;
    }
  }
}

// Plain rows of a length that is not a multiple of 8 take the one-value-at-a-time kernels.
TEST_F(CudaOps, MatMulOfPlainRowsOfOddLength) {
  constexpr int64_t kCols = 100, kRows = 5;
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
    std::vector<uint8_t> w = encode(type, random_floats(kCols * kRows, 12));
    for (int64_t n : {2, 11}) {
      Input x(n, kCols, 6);
      Result got = run_on(*gpu(), 0, n, [&](Graph& g, Cache&) {
        return g.matmul(g.weight(type, kCols, kRows, w.data()), x.add(g));
      });
      std::vector<float> want(static_cast<size_t>(n * kRows));
      cpu::matmul(type, w.data(), kRows, kCols, x.rows().data(), n, want.data(), 1);
      EXPECT_LE(nmse(got.out, want), type == TensorType::F32 ? kExact : kF16)
          << type_traits(type).name << " n=" << n;
    }
  }
}

// A prompt over a weight larger than one 64 MiB F16 tile: the cuBLAS path's second tile
// (14563 rows per tile at 2304 columns) must land at its rows of the output.
TEST_F(CudaOps, MatMulOverSeveralF16Tiles) {
  constexpr int64_t kCols = 2304, kRows = 14600;
  std::vector<uint8_t> w = encode(TensorType::Q8_0, random_floats(kCols * kRows, 13));
  constexpr int64_t kTokens = 9;
  Input x(kTokens, kCols, 7);
  Result got = run_on(*gpu(), 0, kTokens, [&](Graph& g, Cache&) {
    return g.matmul(g.weight(TensorType::Q8_0, kCols, kRows, w.data()), x.add(g));
  });
  std::vector<float> want(static_cast<size_t>(kTokens * kRows));
  cpu::matmul(TensorType::Q8_0, w.data(), kRows, kCols, x.rows().data(), kTokens, want.data(), 2);
  EXPECT_LE(nmse(got.out, want), kF16);
  // The last rows alone (the second tile): an error there is a small share of the whole.
  std::vector<float> got_tail, want_tail;
  for (int64_t t = 0; t < kTokens; ++t) {
    for (int64_t r = kRows - 100; r < kRows; ++r) {
      got_tail.push_back(got.out[static_cast<size_t>(t * kRows + r)]);
      want_tail.push_back(want[static_cast<size_t>(t * kRows + r)]);
    }
  }
  EXPECT_LE(nmse(got_tail, want_tail), kF16);
}

TEST_F(CudaOps, GetRowsOfEveryWeightTypeAndOfActivations) {
  constexpr int64_t kCols = 256;
  for (const TypeCase& c : kWeightTypes) {
    std::vector<uint8_t> w = encode(c.type, random_floats(kCols * 10, 3));
    std::vector<int32_t> ids = {9, 0, 4, 4};
    // Rows are dequantized exactly (F16 at upload rounds: the F16 bound).
    auto [out, unused] = compare(0, 4, [&](Graph& g, Cache&) {
      return g.get_rows(g.weight(c.type, kCols, 10, w.data()), g.input(ids));
    });
    EXPECT_LE(out, kF16) << type_traits(c.type).name;
  }
  Input x(6, 64, 8);  // rows of an activation, as the output head picks them
  auto [out, unused] = compare(0, 6, [&](Graph& g, Cache&) {
    return g.get_rows(x.add(g), g.input({5, 0, 2}));
  });
  EXPECT_LE(out, kExact);
}

TEST_F(CudaOps, RmsNormPerRowAndPerHead) {
  Input x(5, 256, 2, 3.0f);
  std::vector<float> w_row = random_floats(256, 4);
  std::vector<float> w_head = random_floats(64, 6);
  std::vector<uint8_t> w_f16 = encode(TensorType::F16, w_row);  // read as F32 on the device
  for (int variant = 0; variant < 4; ++variant) {
    auto [out, unused] = compare(0, 5, [&](Graph& g, Cache&) {
      TensorId w = variant == 0   ? g.weight(TensorType::F32, 256, 1, w_row.data())
                   : variant == 1 ? g.weight(TensorType::F32, 64, 1, w_head.data())
                   : variant == 2 ? g.weight(TensorType::F16, 256, 1, w_f16.data())
                                  : graph::kNone;
      return g.rms_norm(x.add(g), w, 1e-6f);
    });
    EXPECT_LE(out, kExact) << "variant " << variant;
  }
}

TEST_F(CudaOps, RopeNormalNeoxPartialAndFactors) {
  std::vector<float> factors = random_floats(16, 9);
  for (float& f : factors) f = 1.0f + std::abs(f);
  for (bool neox : {false, true}) {
    for (int n_rot : {64, 32}) {
      Input x(3, 4 * 64, 7);
      // Large positions: the host's double-precision angles matter there.
      auto [out, unused] = compare(30037, 3, [&](Graph& g, Cache&) {
        TensorId f = n_rot == 32 ? g.weight(TensorType::F32, 16, 1, factors.data()) : graph::kNone;
        return g.rope(x.add(g), f, {4, 64, n_rot, 10000.0f, 0.5f, neox});
      });
      EXPECT_LE(out, kExact) << "neox " << neox << " n_rot " << n_rot;
    }
  }
}

// Attention over a cache whose first pos0 rows exist already; the batch's K and V are
// copied in by the graph (Copy), so the cache comparison checks Copy too. Rows past
// pos0 + n_tok hold NaN: reading any of them would poison the output.
// head_dim_v: V's head size when it differs from K's (0: the same).
void check_attention(CudaOps& t, TensorType cache_type, int n_head, int n_head_kv,
                     int head_dim, int64_t window, int64_t pos0, int64_t n_tok, double bound,
                     int head_dim_v = 0) {
  if (head_dim_v == 0) head_dim_v = head_dim;
  int64_t kv_cols = int64_t{n_head_kv} * head_dim;
  int64_t v_cols = int64_t{n_head_kv} * head_dim_v;
  int64_t n_ctx = pos0 + n_tok + 3;
  std::vector<float> init = random_floats(static_cast<size_t>(kv_cols * n_ctx), 21);
  Input q(n_tok, int64_t{n_head} * head_dim, 1);
  Input k(n_tok, kv_cols, 2);
  Input v(n_tok, v_cols, 3);
  auto build = [&](Graph& g, Cache& c) {
    TensorId kc = g.cache(cache_type, kv_cols, n_ctx, *c.k);
    TensorId vc = g.cache(cache_type, v_cols, n_ctx, *c.v);
    g.copy(k.add(g), kc, pos0);
    g.copy(v.add(g), vc, pos0);
    graph::AttentionParams p{n_head, n_head_kv, head_dim, head_dim_v,
                             1.0f / std::sqrt(static_cast<float>(head_dim)), window};
    return g.attention(q.add(g), kc, vc, p);
  };
  std::string what = "heads " + std::to_string(n_head) + "/" + std::to_string(n_head_kv) +
                     " dim " + std::to_string(head_dim) + "/" + std::to_string(head_dim_v) +
                     " window " + std::to_string(window) + " pos0 " + std::to_string(pos0) +
                     " n " + std::to_string(n_tok);
  auto [out, cache] =
      t.compare(pos0, n_tok, build, {cache_type, kv_cols, n_ctx, init, -1, v_cols});
  EXPECT_LE(out, bound) << what;
  EXPECT_LE(cache, bound) << what;

  Result got = run_on(*t.gpu(), pos0, n_tok, build,
                      {cache_type, kv_cols, n_ctx, init, pos0 + n_tok, v_cols});
  for (float x : got.out) ASSERT_FALSE(std::isnan(x)) << "read past the cache rows: " << what;
}

TEST_F(CudaOps, AttentionWithGqaWindowAndLongHistory) {
  check_attention(*this, TensorType::F32, 4, 2, 64, 0, 0, 5, kExact);
  check_attention(*this, TensorType::F32, 8, 2, 32, 0, 300, 1, kExact);  // > 2 key chunks
  check_attention(*this, TensorType::F32, 4, 4, 256, 0, 7, 9, kExact);    // gemma's head size
  check_attention(*this, TensorType::F32, 2, 1, 512, 0, 130, 2, kExact);  // the largest
  check_attention(*this, TensorType::F32, 4, 1, 64, 16, 70, 4, kExact);   // sliding window
  check_attention(*this, TensorType::F32, 4, 1, 64, 200, 300, 3, kExact);  // window > chunk
  check_attention(*this, TensorType::F32, 4, 2, 64, 3, 0, 9, kExact);    // window < batch
  check_attention(*this, TensorType::F32, 8, 2, 32, 0, 0, 150, kExact);  // prompt > a chunk
  // Decode steps split the keys over up to 32 blocks: here > a chunk each, then over a
  // window's keys only.
  check_attention(*this, TensorType::F32, 1, 1, 64, 0, 5000, 1, kExact);
  check_attention(*this, TensorType::F32, 2, 1, 64, 3000, 5000, 1, kExact);
  check_attention(*this, TensorType::F32, 4, 2, 192, 0, 20, 3, kExact, 128);  // K, V sizes
  check_attention(*this, TensorType::F32, 4, 2, 64, 0, 20, 3, kExact, 320);   // differ
  // F16 caches: both backends round with ties to even and read the same halves, so the
  // results agree to float precision (a truncating copy would show at ~1e-7).
  check_attention(*this, TensorType::F16, 4, 2, 64, 0, 30, 6, kExact);
  check_attention(*this, TensorType::F16, 4, 2, 128, 0, 260, 1, kExact);
}

TEST_F(CudaOps, GatedActivationsAndElementwise) {
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
    auto [out, unused] =
        compare(0, 7, [&](Graph& g, Cache&) { return ops[i](g, a.add(g), b.add(g)); });
    EXPECT_LE(out, kExact) << "op " << i;
  }
}

TEST_F(CudaOps, RefusesCachesOfOtherBackends) {
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

TEST_F(CudaOps, RowIdOutOfRangeIsAnError) {
  auto backend = gpu();
  Input x(2, 64, 1);
  x.ids[1] = 16;  // the table has 16 rows
  Graph g(0, 2);
  g.finish(x.add(g));
  auto workspace = backend->allocate(g.workspace_floats() * sizeof(float));
  EXPECT_THROW(backend->run(g, 0, g.nodes().size(), *workspace), Error);
}

// Runs with or without a device: asking for CUDA where there is none, or for a device
// index that does not exist, is a tern::Error with a clear message.
TEST(CudaDevice, MissingDeviceIsAClearError) {
  if (!backend_available(BackendKind::Cuda)) {
    try {
      make_gpu_backend(BackendKind::Cuda, {});
      FAIL() << "expected tern::Error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
    }
    return;
  }
  setenv("TERN_CUDA_DEVICE", "999", 1);
  try {
    make_gpu_backend(BackendKind::Cuda, {});
    ADD_FAILURE() << "expected tern::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("TERN_CUDA_DEVICE=999"), std::string::npos) << e.what();
  }
  unsetenv("TERN_CUDA_DEVICE");
  auto backend = make_gpu_backend(BackendKind::Cuda, {});
  DeviceInfo info = backend->device();
  EXPECT_EQ(info.name.rfind("cuda:", 0), 0u) << info.name;
  EXPECT_GT(info.memory_bytes, 0u);
  EXPECT_FALSE(info.host_memory);
}

}  // namespace
}  // namespace tern

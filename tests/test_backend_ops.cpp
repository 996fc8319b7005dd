// Every GPU backend op by op against the CPU (ggml's test-backend-ops is the precedent):
// each case builds a small graph, runs it on the backend under test and on the CPU, and
// compares by normalized mean squared error, NMSE = sum (a - b)^2 / sum b^2. References:
// the scalar kernels (cpu::matmul with F32 activations) for matmul, the CPU backend for
// everything else. A new op is tested on every backend by adding its case here once.
//
// Targets: cuda; vulkan_fast (subgroups, 16-bit storage, where the device has them) and
// vulkan_basic (the fallback shaders, TERN_VULKAN_BASIC=1). A target without a device
// skips ("no CUDA device", "no Vulkan device"); CI runs Vulkan on Mesa's lavapipe.
// Bounds (float32 sums in another order give NMSE near 1e-13; a layout or indexing error
// gives NMSE ~1):
//   F32 ops (norm, rope, attention, glu, add...) and F32 caches:   1e-10 everywhere
//   F16 caches: CUDA 1e-10 (both round to F16 the same way), Vulkan 1e-5
//   matmul, CUDA: F32 1e-10; F16, BF16 1e-5 (F16 rounding of weights or activations);
//     quantized types 1e-4 (8-bit activations: ~2e-5 expected)
//   matmul, Vulkan: types with a kernel (float activations) 1e-10; types converted to F16
//     at upload 1e-5
//   get_rows of weights: CUDA 1e-5; Vulkan as its matmul
// Each run gets a fresh backend: backends keep device copies of weights by address, and
// test weights come and go.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <ostream>
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

// The backend under test and the bounds its design gives (see the top of the file).
struct Target {
  const char* name;
  BackendKind kind;
  bool basic_shaders;   // Vulkan: TERN_VULKAN_BASIC=1
  bool any_row_length;  // runs matmuls over float rows of any length (else: multiples of 8)
  double (*matmul_bound)(TensorType);
  double (*get_rows_bound)(TensorType);
  double f16_cache_bound;
};

double cuda_matmul_bound(TensorType t) {
  if (t == TensorType::F32) return kExact;
  return t == TensorType::F16 || t == TensorType::BF16 ? kF16 : kQuantized;
}
double cuda_get_rows_bound(TensorType) { return kF16; }

// Types the Vulkan shaders read as stored; every other type is F16 on the device.
double vulkan_bound(TensorType t) {
  for (TensorType k : {TensorType::F32, TensorType::F16, TensorType::Q4_0, TensorType::Q8_0,
                       TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
    if (t == k) return kExact;
  }
  return kF16;
}

// gtest names a failing case's target by this.
void PrintTo(const Target& t, std::ostream* os) { *os << t.name; }

const Target kTargets[] = {
    {"cuda", kCudaSourcesKind, false, true, cuda_matmul_bound, cuda_get_rows_bound, kExact},
    {"vulkan_fast", BackendKind::Vulkan, false, false, vulkan_bound, vulkan_bound, kF16},
    {"vulkan_basic", BackendKind::Vulkan, true, false, vulkan_bound, vulkan_bound, kF16},
};

// Every weight type real models use: float types, then block-quantized ones.
const TensorType kWeightTypes[] = {
    TensorType::F32,   TensorType::F16,   TensorType::BF16,  TensorType::Q4_0,   TensorType::Q4_1,
    TensorType::Q5_0,  TensorType::Q5_1,  TensorType::Q8_0,  TensorType::Q2_K,   TensorType::Q3_K,
    TensorType::Q4_K,  TensorType::Q5_K,  TensorType::Q6_K,  TensorType::IQ4_NL, TensorType::IQ4_XS,
    TensorType::TQ1_0, TensorType::TQ2_0, TensorType::MXFP4,
};

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

struct CacheSpec {
  TensorType type = TensorType::F32;
  int64_t cols = 0, rows = 0;
  std::vector<float> init;   // K's values; V gets them reversed (repeated to its size)
  std::function<bool(int64_t row)> poisoned;  // rows that hold NaN in K and V (null: none)
  int64_t v_cols = 0;        // values per V row (0: cols)
};

struct Result {
  std::vector<float> out;
  std::vector<float> k_cache;  // the K cache afterwards, as float
};

void fill_cache(Cache& cache, const CacheSpec& spec, size_t k_bytes, size_t v_bytes) {
  const int64_t v_cols = spec.v_cols > 0 ? spec.v_cols : spec.cols;
  std::vector<float> k = spec.init;
  std::vector<float> v(static_cast<size_t>(v_cols * spec.rows));
  for (size_t i = 0; i < v.size(); ++i) v[i] = spec.init[k.size() - 1 - i % k.size()];
  for (int64_t row = 0; spec.poisoned && row < spec.rows; ++row) {
    if (!spec.poisoned(row)) continue;
    constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
    std::fill_n(k.begin() + row * spec.cols, spec.cols, kNan);
    std::fill_n(v.begin() + row * v_cols, v_cols, kNan);
  }
  std::vector<uint8_t> bytes(k_bytes);
  cpu::store(k.data(), static_cast<int64_t>(k.size()), spec.type, bytes.data());
  cache.k->upload(bytes.data(), 0, bytes.size());
  bytes.resize(v_bytes);
  cpu::store(v.data(), static_cast<int64_t>(v.size()), spec.type, bytes.data());
  cache.v->upload(bytes.data(), 0, bytes.size());
}

// Runs the graph `build` makes on `backend`; nullopt when the backend does not support
// one of its nodes.
std::optional<Result> run_on(Backend& backend, const std::vector<graph::TokenPlace>& places,
                             const Build& build, const CacheSpec& spec = {}) {
  const int64_t v_cols = spec.v_cols > 0 ? spec.v_cols : spec.cols;
  size_t k_bytes = spec.cols > 0 ? *row_bytes(spec.type, spec.cols * spec.rows) : 16;
  size_t v_bytes = spec.cols > 0 ? *row_bytes(spec.type, v_cols * spec.rows) : 16;
  Cache cache{backend.allocate(k_bytes), backend.allocate(v_bytes)};
  if (!spec.init.empty()) fill_cache(cache, spec, k_bytes, v_bytes);
  Graph g(places);
  TensorId result = build(g, cache);
  g.finish(result);
  for (const graph::Node& node : g.nodes()) {
    if (!backend.supports(g, node)) return std::nullopt;
  }
  auto workspace = backend.allocate(std::max<size_t>(g.workspace_floats() * sizeof(float), 16));
  backend.run(g, 0, g.nodes().size(), *workspace);
  Result r;
  const graph::Tensor& t = g.tensor(result);
  r.out.resize(static_cast<size_t>(t.rows * t.cols));
  workspace->download(r.out.data(), t.offset * sizeof(float), r.out.size() * sizeof(float));
  if (spec.cols > 0) {
    std::vector<uint8_t> bytes(k_bytes);
    cache.k->download(bytes.data(), 0, k_bytes);
    r.k_cache.resize(static_cast<size_t>(spec.cols * spec.rows));
    dequantize(spec.type, bytes.data(), r.k_cache.data(), spec.cols * spec.rows);
  }
  return r;
}

class BackendOps : public testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    const Target& t = GetParam();
    if (!backend_available(t.kind)) {
      GTEST_SKIP() << (t.kind == kCudaSourcesKind
                           ? "no CUDA device"
                           : "no Vulkan device (install mesa-vulkan-drivers for lavapipe)");
    }
    if (t.basic_shaders) {
      setenv("TERN_VULKAN_BASIC", "1", 1);
    } else {
      unsetenv("TERN_VULKAN_BASIC");
    }
    cpu_ = make_cpu_backend({2});
  }
  void TearDown() override { unsetenv("TERN_VULKAN_BASIC"); }

 public:
  const Target& target() const { return GetParam(); }
  std::unique_ptr<Backend> gpu() const { return make_gpu_backend(GetParam().kind, {}); }

  // The backend's result for a batch of tokens at `places`; a failure (and an empty
  // result) when it refuses a node.
  Result run(const std::vector<graph::TokenPlace>& places, const Build& build,
             const CacheSpec& spec = {}) const {
    std::optional<Result> r = run_on(*gpu(), places, build, spec);
    if (!r) ADD_FAILURE() << target().name << " does not support a node of this case";
    return r ? *r : Result{};
  }

  // Runs `build` on the backend and the CPU; the NMSE of the results (and of the K caches).
  std::pair<double, double> compare(const std::vector<graph::TokenPlace>& places,
                                    const Build& build, const CacheSpec& spec = {}) const {
    Result want = *run_on(*cpu_, places, build, spec);
    Result got = run(places, build, spec);
    return {nmse(got.out, want.out), nmse(got.k_cache, want.k_cache)};
  }

  // One sequence's n_tok tokens at positions pos0, pos0 + 1, ...
  Result run(int64_t pos0, int64_t n_tok, const Build& build, const CacheSpec& spec = {}) const {
    return run(consecutive(pos0, n_tok), build, spec);
  }
  std::pair<double, double> compare(int64_t pos0, int64_t n_tok, const Build& build,
                                    const CacheSpec& spec = {}) const {
    return compare(consecutive(pos0, n_tok), build, spec);
  }
  static std::vector<graph::TokenPlace> consecutive(int64_t pos0, int64_t n_tok) {
    Graph g(pos0, n_tok);
    return {g.places().begin(), g.places().end()};
  }

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

// The backend's matmul of w [rows, cols] (of `type`) by n input rows against the scalar
// CPU kernel's; nullopt when the backend does not support it.
std::optional<double> matmul_nmse(const BackendOps& t, TensorType type, int64_t cols, int64_t rows,
                                  int64_t n, const std::vector<uint8_t>& w) {
  Input x(n, cols, 5);
  std::optional<Result> got = run_on(*t.gpu(), BackendOps::consecutive(0, n), [&](Graph& g, Cache&) {
    return g.matmul(g.weight(type, cols, rows, w.data()), x.add(g));
  });
  if (!got) return std::nullopt;
  std::vector<float> want(static_cast<size_t>(n * rows));
  cpu::matmul(type, w.data(), rows, cols, x.rows().data(), n, want.data(), 1);
  return nmse(got->out, want);
}

// 2304 columns: every lane of a CUDA row's warp walks several units (legacy types: 72
// blocks over 32 lanes, the last pass partial); 67 rows leave the last thread block
// partial. 512 columns: a short row. 1, 3, 8, 13, 64 tokens: matrix-vector, small
// batches around Vulkan's 8-token tiles, a prompt.
TEST_P(BackendOps, MatMulEveryWeightType) {
  constexpr int64_t kRows = 67;
  for (TensorType type : kWeightTypes) {
    for (int64_t cols : {512, 2304}) {
      std::vector<uint8_t> w = encode(type, random_floats(static_cast<size_t>(cols * kRows), 11));
      for (int64_t n : {1, 3, 8, 13, 64}) {
        std::optional<double> e = matmul_nmse(*this, type, cols, kRows, n, w);
        ASSERT_TRUE(e) << type_traits(type).name << " unsupported";
        EXPECT_LE(*e, target().matmul_bound(type))
            << type_traits(type).name << " cols=" << cols << " n=" << n;
      }
    }
  }
}

// Plain rows of a length that is not a multiple of 8 take CUDA's one-value-at-a-time
// kernels; Vulkan's kernels read 8-value chunks and refuse them (the CPU runs them).
TEST_P(BackendOps, MatMulOfPlainRowsOfOddLength) {
  constexpr int64_t kCols = 100, kRows = 5;
  if (!target().any_row_length) GTEST_SKIP() << target().name << " refuses rows of 100 values";
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
    std::vector<uint8_t> w = encode(type, random_floats(kCols * kRows, 12));
    for (int64_t n : {2, 11}) {
      std::optional<double> e = matmul_nmse(*this, type, kCols, kRows, n, w);
      ASSERT_TRUE(e) << type_traits(type).name << " unsupported";
      EXPECT_LE(*e, type == TensorType::F32 ? kExact : kF16)
          << type_traits(type).name << " n=" << n;
    }
  }
}

// A prompt over a weight larger than one 64 MiB F16 tile: CUDA's cuBLAS path's second
// tile (14563 rows per tile at 2304 columns) must land at its rows of the output.
TEST_P(BackendOps, MatMulOverSeveralF16Tiles) {
  constexpr int64_t kCols = 2304, kRows = 14600, kTokens = 9;
  std::vector<uint8_t> w = encode(TensorType::Q8_0, random_floats(kCols * kRows, 13));
  Input x(kTokens, kCols, 7);
  Result got = run(0, kTokens, [&](Graph& g, Cache&) {
    return g.matmul(g.weight(TensorType::Q8_0, kCols, kRows, w.data()), x.add(g));
  });
  std::vector<float> want(static_cast<size_t>(kTokens * kRows));
  cpu::matmul(TensorType::Q8_0, w.data(), kRows, kCols, x.rows().data(), kTokens, want.data(), 2);
  EXPECT_LE(nmse(got.out, want), kF16);
  if (got.out.size() != want.size()) return;
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

TEST_P(BackendOps, GetRowsOfEveryWeightTypeAndOfActivations) {
  constexpr int64_t kCols = 256;
  for (TensorType type : kWeightTypes) {
    std::vector<uint8_t> w = encode(type, random_floats(kCols * 10, 3));
    std::vector<int32_t> ids = {9, 0, 4, 4};
    auto [out, unused] = compare(0, 4, [&](Graph& g, Cache&) {
      return g.get_rows(g.weight(type, kCols, 10, w.data()), g.input(ids));
    });
    EXPECT_LE(out, target().get_rows_bound(type)) << type_traits(type).name;
  }
  Input x(6, 64, 8);  // rows of an activation, as the output head picks them
  auto [out, unused] = compare(0, 6, [&](Graph& g, Cache&) {
    return g.get_rows(x.add(g), g.input({5, 0, 2}));
  });
  EXPECT_LE(out, kExact);
}

TEST_P(BackendOps, RowIdOutOfRangeIsAnError) {
  auto backend = gpu();
  Input x(2, 64, 1);
  x.ids[1] = 16;  // the table has 16 rows
  Graph g(0, 2);
  g.finish(x.add(g));
  auto workspace = backend->allocate(g.workspace_floats() * sizeof(float));
  EXPECT_THROW(backend->run(g, 0, g.nodes().size(), *workspace), Error);
}

TEST_P(BackendOps, RmsNormPerRowAndPerHead) {
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

TEST_P(BackendOps, RopeNormalNeoxPartialAndFactors) {
  std::vector<float> factors = random_floats(16, 9);
  for (float& f : factors) f = 1.0f + std::abs(f);
  for (int64_t pos0 : {37, 30037}) {  // large positions: the host's double angles matter
    for (bool neox : {false, true}) {
      for (int n_rot : {64, 32}) {
        Input x(3, 4 * 64, 7);
        auto [out, unused] = compare(pos0, 3, [&](Graph& g, Cache&) {
          TensorId f =
              n_rot == 32 ? g.weight(TensorType::F32, 16, 1, factors.data()) : graph::kNone;
          return g.rope(x.add(g), f, {4, 64, n_rot, 10000.0f, 0.5f, neox});
        });
        EXPECT_LE(out, kExact) << "pos0 " << pos0 << " neox " << neox << " n_rot " << n_rot;
      }
    }
  }
}

struct AttentionCase {
  TensorType cache_type;
  int n_head, n_head_kv, head_dim;
  int64_t window, pos0, n_tok;
  int head_dim_v = 0;  // V's head size when it differs from K's (0: the same)
  float softcap = 0.0f;
  bool sinks = false;  // gpt-oss's attention sinks, one logit per query head
};

// Attention of tokens at `places` over a cache of `rows` rows whose rows before each
// token's exist already; the batch's K and V are copied in by the graph (Copy), so the
// cache comparison checks Copy too. Then once more with NaN in every row no token may
// read (`unread`): reading any of them would poison the output.
void check_attention(const BackendOps& t, const AttentionCase& a,
                     const std::vector<graph::TokenPlace>& places, int64_t rows,
                     const std::function<bool(int64_t)>& unread) {
  int head_dim_v = a.head_dim_v > 0 ? a.head_dim_v : a.head_dim;
  int64_t kv_cols = int64_t{a.n_head_kv} * a.head_dim;
  int64_t v_cols = int64_t{a.n_head_kv} * head_dim_v;
  auto n_tok = static_cast<int64_t>(places.size());
  std::vector<float> init = random_floats(static_cast<size_t>(kv_cols * rows), 21);
  Input q(n_tok, int64_t{a.n_head} * a.head_dim, 1);
  Input k(n_tok, kv_cols, 2);
  Input v(n_tok, v_cols, 3);
  // Sinks around the scores' size; head 0's far above them (it takes nearly all the mass).
  std::vector<float> sinks = random_floats(static_cast<size_t>(a.n_head), 4, 2.0f);
  sinks[0] = 30.0f;
  auto build = [&](Graph& g, Cache& c) {
    TensorId kc = g.cache(a.cache_type, kv_cols, rows, *c.k);
    TensorId vc = g.cache(a.cache_type, v_cols, rows, *c.v);
    g.copy(k.add(g), kc);
    g.copy(v.add(g), vc);
    graph::AttentionParams p{a.n_head,
                             a.n_head_kv,
                             a.head_dim,
                             head_dim_v,
                             1.0f / std::sqrt(static_cast<float>(a.head_dim)),
                             a.window,
                             a.softcap};
    return g.attention(q.add(g), kc, vc, p,
                       a.sinks ? g.weight(TensorType::F32, a.n_head, 1, sinks.data())
                               : graph::kNone);
  };
  std::string what = std::string(type_traits(a.cache_type).name) + " heads " +
                     std::to_string(a.n_head) + "/" + std::to_string(a.n_head_kv) + " dim " +
                     std::to_string(a.head_dim) + "/" + std::to_string(head_dim_v) + " window " +
                     std::to_string(a.window) + " pos0 " + std::to_string(a.pos0) + " n " +
                     std::to_string(n_tok) + " softcap " + std::to_string(a.softcap) +
                     (a.sinks ? " sinks" : "");
  double bound = a.cache_type == TensorType::F16 ? t.target().f16_cache_bound : kExact;
  auto [out, cache] = t.compare(places, build, {a.cache_type, kv_cols, rows, init, {}, v_cols});
  EXPECT_LE(out, bound) << what;
  EXPECT_LE(cache, bound) << what;

  Result got = t.run(places, build, {a.cache_type, kv_cols, rows, init, unread, v_cols});
  for (float x : got.out) ASSERT_FALSE(std::isnan(x)) << "read past the cache rows: " << what;
}

void check_attention(const BackendOps& t, const AttentionCase& a) {
  int64_t end = a.pos0 + a.n_tok;
  check_attention(t, a, BackendOps::consecutive(a.pos0, a.n_tok), end + 3,
                  [end](int64_t row) { return row >= end; });
}

// Batched decoding: tokens of three sequences in slots of 64 rows, a prompt, single
// steps and one sequence in two runs of the batch; every row past a sequence's last
// position is unread.
TEST_P(BackendOps, AttentionOfSeveralSequences) {
  constexpr int64_t kSlot = 64;
  const std::vector<graph::TokenPlace> places = {
      {37, 2 * kSlot}, {0, kSlot}, {1, kSlot}, {2, kSlot}, {3, kSlot}, {4, kSlot},
      {20, 0},         {38, 2 * kSlot}};
  std::vector<int64_t> last(3, -1);
  for (const auto& p : places) {
    auto& l = last[static_cast<size_t>(p.slot_row / kSlot)];
    l = std::max(l, p.pos);
  }
  auto unread = [&](int64_t row) { return row % kSlot > last[static_cast<size_t>(row / kSlot)]; };
  for (TensorType type : {TensorType::F32, TensorType::F16}) {
    for (int64_t window : {0, 8}) {
      check_attention(*this, {type, 4, 2, 64, window, 0, 0}, places, 3 * kSlot, unread);
    }
  }
}

TEST_P(BackendOps, AttentionWithGqaWindowAndLongHistory) {
  const AttentionCase cases[] = {
      {TensorType::F32, 4, 2, 64, 0, 0, 5},
      {TensorType::F32, 8, 2, 32, 0, 150, 1},    // > 2 of Vulkan's 64-key blocks
      {TensorType::F32, 8, 2, 32, 0, 300, 1},    // > 2 of CUDA's 128-key chunks
      {TensorType::F32, 4, 4, 256, 0, 7, 9},     // gemma's head size
      {TensorType::F32, 2, 1, 512, 0, 130, 2},   // the largest
      {TensorType::F32, 4, 1, 64, 16, 70, 4},    // sliding window
      {TensorType::F32, 4, 1, 64, 200, 300, 3},  // window > chunk
      {TensorType::F32, 4, 2, 64, 3, 0, 9},      // window < batch
      {TensorType::F32, 8, 2, 32, 0, 0, 150},    // prompt > a chunk
      // CUDA decode steps split the keys over up to 32 blocks: here > a chunk each, then
      // over a window's keys only.
      {TensorType::F32, 1, 1, 64, 0, 5000, 1},
      {TensorType::F32, 2, 1, 64, 3000, 5000, 1},
      {TensorType::F32, 4, 2, 192, 0, 20, 3, 128},  // K and V head sizes
      {TensorType::F32, 4, 2, 64, 0, 20, 3, 320},   // differ
      {TensorType::F16, 4, 2, 64, 0, 30, 6},
      {TensorType::F16, 4, 2, 128, 0, 260, 1},
      // gemma2's soft cap (50 on scores of ~1: barely bends; 0.5: flattens them)
      {TensorType::F32, 4, 2, 64, 0, 20, 3, 0, 50.0f},
      {TensorType::F32, 4, 2, 64, 8, 150, 2, 0, 0.5f},
      {TensorType::F16, 4, 2, 64, 0, 30, 6, 0, 0.5f},
      // gpt-oss's sinks: a prompt, a decode step over many keys (CUDA splits), a window
      {TensorType::F32, 8, 2, 64, 0, 0, 9, 0, 0.0f, true},
      {TensorType::F32, 4, 1, 64, 0, 5000, 1, 0, 0.0f, true},
      {TensorType::F16, 4, 2, 64, 8, 40, 3, 0, 0.0f, true},
  };
  for (const AttentionCase& a : cases) check_attention(*this, a);
}

TEST_P(BackendOps, GatedActivationsAndElementwise) {
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
      [](Graph& g, TensorId x, TensorId) { return g.soft_cap(x, 3.0f); },  // x ~ 4: bends
      [](Graph& g, TensorId x, TensorId y) {  // x ~ 4: the clamp at 7 bites
        return g.swiglu_oai(x, y, {});
      },
  };
  for (size_t i = 0; i < std::size(ops); ++i) {
    auto [out, unused] =
        compare(0, 7, [&](Graph& g, Cache&) { return ops[i](g, a.add(g), b.add(g)); });
    EXPECT_LE(out, kExact) << "op " << i;
  }
}

// A mixture of experts as a layer builds it: route, per-token products, per-pair products,
// the weighted sum; 8 experts, 3 per token, against the CPU backend's grouped products.
// Types the shaders read natively and one converted to F16 at upload.
TEST_P(BackendOps, MixtureOfExperts) {
  constexpr int kExperts = 8, kUsed = 3;
  constexpr int64_t kEmbd = 256, kFf = 256;  // whole K-quant blocks
  const std::vector<float> bias = random_floats(kExperts * kFf, 25);
  for (TensorType type : {TensorType::F32, TensorType::Q4_0, TensorType::Q4_K, TensorType::Q6_K,
                          TensorType::IQ4_XS, TensorType::MXFP4}) {
    std::vector<uint8_t> up = encode(type, random_floats(kExperts * kFf * kEmbd, 21));
    std::vector<uint8_t> down = encode(type, random_floats(kExperts * kEmbd * kFf, 22));
    // Quantized: the CPU rounds activations to 8 bits before each of the two products
    // (measured 5e-5 to 1.1e-4 here); a wrong expert or weight gives ~0.1 to 1.
    const double bound = type == TensorType::F32 ? kExact : 3e-4;
    // gpt-oss: softmax over the chosen experts, per-expert biases, the clamped SwiGLU.
    for (graph::ExpertGating gating : {graph::ExpertGating::Softmax,
                                       graph::ExpertGating::SoftmaxChosen}) {
      const bool oai = gating == graph::ExpertGating::SoftmaxChosen;
      for (bool normalize : {true, false}) {
        for (int64_t n : {1, 5, 40}) {
          Input logits(n, kExperts, 23, 2.0f);
          Input x(n, kEmbd, 24);
          graph::ExpertRouteParams params{.n_used = kUsed, .normalize = normalize, .gating = gating};
          auto route = [&](Graph& g) { return g.expert_route(logits.add(g), params); };
          auto [r, r_unused] = compare(0, n, [&](Graph& g, Cache&) { return route(g); });
          EXPECT_LE(r, kExact) << "route, n=" << n << " oai=" << oai;
          auto [out, unused] = compare(0, n, [&](Graph& g, Cache&) {
            TensorId rt = route(g);
            TensorId h = g.expert_matmul(g.weight(type, kEmbd, kExperts * kFf, up.data()),
                                         x.add(g), rt, kExperts);
            if (oai) {
              h = g.expert_add(h, g.weight(TensorType::F32, kFf, kExperts, bias.data()), rt);
              h = g.swiglu_oai(h, h, {});
            }
            TensorId y = g.expert_matmul(g.weight(type, kFf, kExperts * kEmbd, down.data()), h,
                                         rt, kExperts);
            return g.expert_mix(y, rt);
          });
          EXPECT_LE(out, bound) << type_traits(type).name << " n=" << n
                                << " normalize=" << normalize << " oai=" << oai;
        }
      }
    }
  }
}

TEST_P(BackendOps, RefusesCachesOfOtherBackends) {
  auto host = cpu_->allocate(64 * 4 * sizeof(float));
  Graph g(0, 1);
  Input x(1, 64, 1);
  TensorId kc = g.cache(TensorType::F32, 64, 4, *host);
  g.copy(x.add(g), kc);
  g.finish(kc);
  auto backend = gpu();
  EXPECT_FALSE(backend->supports(g, g.nodes().back()));
  EXPECT_TRUE(backend->supports(g, g.nodes().front()));
}

INSTANTIATE_TEST_SUITE_P(Targets, BackendOps, testing::ValuesIn(kTargets),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

}  // namespace
}  // namespace tern

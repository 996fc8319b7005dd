// The CPU backend's scalar reference kernels against independent references: naive
// double-precision formulas and hand-computed values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <tuple>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/reference_kernels.h"
#include "backends/rope_angles.h"
#include "cpu_test_support.h"
#include "graph/graph.h"
#include "tern/error.h"
#include "types/type_table.h"

namespace tern::cpu {
namespace {

using test::random_values;

// W (rows, cols) @ x (n, cols) in double from W's dequantized values.
std::vector<double> naive_matmul(const std::vector<float>& w, int64_t rows, int64_t cols,
                                 const std::vector<float>& x, int64_t n) {
  std::vector<double> y(static_cast<size_t>(n * rows));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0.0;
      for (int64_t c = 0; c < cols; ++c) s += double{w[r * cols + c]} * x[t * cols + c];
      y[t * rows + r] = s;
    }
  }
  return y;
}

// Every convertible type of the table as a weight, odd row counts, 1 and 3 threads.
// Tolerance: float32 dot products of `cols` terms of magnitude ~|w||x|: 1e-4 * sqrt(cols)
// relative to the row's scale is generous for float error yet far below any indexing bug.
TEST(CpuOps, MatmulMatchesNaiveForEveryType) {
  int tested = 0;
  for (const TypeTraits& traits : all_types()) {
    if (traits.to_float == nullptr || traits.from_float == nullptr) continue;
    const int64_t rows = 37, cols = 512, n = 3;
    std::vector<float> w_in = random_values(static_cast<size_t>(rows * cols), 1);
    std::vector<uint8_t> w(*row_bytes(traits.type, cols) * rows);
    traits.from_float(w_in.data(), w.data(), rows * cols);
    std::vector<float> w_deq(w_in.size());
    dequantize(traits.type, w.data(), w_deq.data(), rows * cols);
    std::vector<float> x = random_values(static_cast<size_t>(n * cols), 2);
    std::vector<double> ref = naive_matmul(w_deq, rows, cols, x, n);
    for (int threads : {1, 3}) {
      std::vector<float> y(static_cast<size_t>(n * rows));
      matmul(traits.type, w.data(), rows, cols, x.data(), n, y.data(), threads);
      for (size_t i = 0; i < y.size(); ++i) {
        ASSERT_NEAR(y[i], ref[i], 1e-4 * std::sqrt(double(cols)) * 4) << traits.name << " " << i;
      }
    }
    ++tested;
  }
  EXPECT_GE(tested, 3);
}

TEST(CpuOps, GetRowsConvertsTheChosenRows) {
  std::vector<float> table = {0, 1, 2, 10, 11, 12, 20, 21, 22};  // [3, 3]
  std::vector<int32_t> ids = {2, 0};
  std::vector<float> out(6);
  get_rows(TensorType::F32, table.data(), 3, 3, ids, out.data());
  EXPECT_EQ(out, (std::vector<float>{20, 21, 22, 0, 1, 2}));
  std::vector<int32_t> bad = {3};
  EXPECT_THROW(get_rows(TensorType::F32, table.data(), 3, 3, bad, out.data()), std::exception);
}

TEST(CpuOps, RmsNormPerGroup) {
  std::vector<float> x = {3, 4, 1, 1};
  std::vector<float> w = {1, 2};
  std::vector<float> out(4);
  rms_norm(x.data(), w.data(), 2, 4, 0.0f, out.data());
  double r = std::sqrt(12.5);  // rms of (3, 4)
  EXPECT_NEAR(out[0], 3 / r, 1e-6);
  EXPECT_NEAR(out[1], 8 / r, 1e-6);
  EXPECT_NEAR(out[2], 1.0, 1e-6);
  EXPECT_NEAR(out[3], 2.0, 1e-6);
}

// Rows (1, 2, 3) and (-4, 0, 4): means 2 and 0, variances 2/3 and 32/3.
TEST(CpuOps, LayerNormPerRowWithBias) {
  const std::vector<float> x = {1, 2, 3, -4, 0, 4};
  const std::vector<float> w = {1, 2, 3}, b = {0.5f, 0, -1};
  std::vector<float> out(6);
  layer_norm(x.data(), w.data(), b.data(), 3, 2, 0.0f, out.data());
  const double s0 = std::sqrt(2.0 / 3), s1 = std::sqrt(32.0 / 3);
  const double want[] = {-1 / s0 + 0.5, 0, 3 / s0 - 1, -4 / s1 + 0.5, 0, 12 / s1 - 1};
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(out[i], want[i], 1e-6) << i;
}

// head_dim 4, base 10000: pair 0 turns by pos * 1 rad, pair 1 by pos * 0.01 rad.
TEST(CpuOps, RopeNormalAndNeoxPairs) {
  std::vector<float> x = {1, 2, 3, 4};
  std::vector<float> out(4);
  graph::RopeParams p{1, 4, 4, 10000.0f, 1.0f, false};
  const graph::TokenPlace at0[] = {{0, 0}}, at1[] = {{1, 0}};
  rope(x.data(), 1, p, rope_angles(at0, p, nullptr).data(), out.data());
  EXPECT_EQ(out, x);  // position 0 is the identity
  rope(x.data(), 1, p, rope_angles(at1, p, nullptr).data(), out.data());
  double c0 = std::cos(1.0), s0 = std::sin(1.0), c1 = std::cos(0.01), s1 = std::sin(0.01);
  EXPECT_NEAR(out[0], 1 * c0 - 2 * s0, 1e-6);  // normal: pairs (0, 1) and (2, 3)
  EXPECT_NEAR(out[1], 1 * s0 + 2 * c0, 1e-6);
  EXPECT_NEAR(out[2], 3 * c1 - 4 * s1, 1e-6);
  EXPECT_NEAR(out[3], 3 * s1 + 4 * c1, 1e-6);
  p.neox = true;
  rope(x.data(), 1, p, rope_angles(at1, p, nullptr).data(), out.data());
  EXPECT_NEAR(out[0], 1 * c0 - 3 * s0, 1e-6);  // NeoX: pairs (0, 2) and (1, 3)
  EXPECT_NEAR(out[2], 1 * s0 + 3 * c0, 1e-6);
  EXPECT_NEAR(out[1], 2 * c1 - 4 * s1, 1e-6);
  EXPECT_NEAR(out[3], 2 * s1 + 4 * c1, 1e-6);
  const float factors[] = {2.0f, 1.0f};  // pair 0 at half frequency: 0.5 rad
  p.neox = false;
  rope(x.data(), 1, p, rope_angles(at1, p, factors).data(), out.data());
  EXPECT_NEAR(out[0], 1 * std::cos(0.5) - 2 * std::sin(0.5), 1e-6);
}

// Naive attention in double: causal, optional window, soft cap and sinks (a key of score
// sinks[h] and value zero: it joins the denominator only), GQA.
std::vector<double> naive_attention(const std::vector<float>& q, const std::vector<float>& k,
                                    const std::vector<float>& v, int64_t n, int64_t pos0,
                                    const graph::AttentionParams& p, const float* sinks) {
  int64_t hd = p.head_dim_k, hv = p.head_dim_v;
  std::vector<double> out(static_cast<size_t>(n * p.n_head * hv), 0.0);
  for (int64_t t = 0; t < n; ++t) {
    int64_t pos = pos0 + t;
    for (int h = 0; h < p.n_head; ++h) {
      int g = h / (p.n_head / p.n_head_kv);
      std::vector<double> s;
      std::vector<int64_t> keys;
      for (int64_t j = 0; j <= pos; ++j) {
        if (p.window > 0 && pos - j >= p.window) continue;
        double d = 0;
        for (int64_t i = 0; i < hd; ++i) {
          d += double{q[(t * p.n_head + h) * hd + i]} * k[(j * p.n_head_kv + g) * hd + i];
        }
        d *= p.scale;
        s.push_back(p.softcap > 0 ? p.softcap * std::tanh(d / p.softcap) : d);
        keys.push_back(j);
      }
      double m = *std::max_element(s.begin(), s.end()), z = 0;
      if (sinks != nullptr) m = std::max(m, double{sinks[h]});
      for (double& e : s) z += (e = std::exp(e - m));
      if (sinks != nullptr) z += std::exp(sinks[h] - m);
      for (size_t a = 0; a < s.size(); ++a) {
        for (int64_t i = 0; i < hv; ++i) {
          out[(t * p.n_head + h) * hv + i] += s[a] / z * v[(keys[a] * p.n_head_kv + g) * hv + i];
        }
      }
    }
  }
  return out;
}

// With and without sinks (gpt-oss); the sinks include one far above the scores (head 2:
// its rows' outputs shrink towards 0) and one far below (head 3: no effect).
TEST(CpuOps, AttentionMatchesNaiveWithGqaWindowSoftCapAndSinks) {
  const float sink_logits[] = {0.5f, -1.0f, 6.0f, -30.0f};
  for (auto [window, softcap, sinks] :
       {std::tuple{int64_t{0}, 0.0f, false}, std::tuple{int64_t{3}, 0.0f, false},
        std::tuple{int64_t{0}, 0.7f, false}, std::tuple{int64_t{3}, 0.7f, false},
        std::tuple{int64_t{0}, 0.0f, true}, std::tuple{int64_t{3}, 0.0f, true}}) {
    graph::AttentionParams p{4, 2, 8, 6, 0.35f, window, softcap};
    const float* s = sinks ? sink_logits : nullptr;
    int64_t n = 5, pos0 = 4, n_kv = pos0 + n;
    auto q = random_values(static_cast<size_t>(n * 4 * 8), 3);
    auto k = random_values(static_cast<size_t>(n_kv * 2 * 8), 4);
    auto v = random_values(static_cast<size_t>(n_kv * 2 * 6), 5);
    std::vector<float> out(static_cast<size_t>(n * 4 * 6));
    attention(q.data(), k.data(), v.data(), n, pos0, p, s, out.data(), 2);
    auto ref = naive_attention(q, k, v, n, pos0, p, s);
    for (size_t i = 0; i < out.size(); ++i) {
      EXPECT_NEAR(out[i], ref[i], 1e-5) << window << " " << softcap << " " << sinks << " " << i;
    }
  }
}

TEST(CpuOps, GatedActivationsAndElementwise) {
  const float gate[] = {1.0f, -2.0f}, up[] = {2.0f, 1.0f};
  float out[2];
  swiglu(gate, up, 2, out);
  EXPECT_NEAR(out[0], 2 * 0.7310585786, 1e-6);  // silu(1) = 1 / (1 + e^-1)
  EXPECT_NEAR(out[1], -2 / (1 + std::exp(2.0)), 1e-6);
  geglu(gate, up, 2, out);
  EXPECT_NEAR(out[0], 2 * 0.8411919906, 1e-6);  // gelu_tanh(1)
  gelu(gate, 2, out);                           // x Phi(x), Phi the normal CDF
  EXPECT_NEAR(out[0], 0.8413447461, 1e-6);
  EXPECT_NEAR(out[1], -2 * 0.0227501319, 1e-6);
  const float a[] = {1, 2, 3, 4}, b[] = {10, 20};
  float sum[4];
  add(a, b, 2, 2, 1, sum);  // b broadcast over both rows
  EXPECT_EQ(sum[2], 13.0f);
  const float logits[] = {0.0f, 3.0f, -300.0f};
  float capped[3];
  soft_cap(logits, 3, 3.0f, capped);  // 3 tanh(x / 3)
  EXPECT_EQ(capped[0], 0.0f);
  EXPECT_NEAR(capped[1], 3 * std::tanh(1.0), 1e-6);
  EXPECT_NEAR(capped[2], -3.0f, 1e-6);
}

// The workspace planner never places a live activation over another.
TEST(CpuOps, GraphReusesOnlyDeadActivations) {
  std::vector<float> table(16 * 8, 0.0f);
  graph::Graph g(0, 4);
  auto w = g.weight(TensorType::F32, 8, 16, table.data());
  auto x = g.get_rows(w, g.input({0, 1, 2, 3}));  // live until the last add
  auto a = g.scale(x, 2.0f);
  auto b = g.scale(a, 2.0f);  // a dead after this: its space may be reused
  auto c = g.scale(b, 2.0f);
  auto d = g.add(c, x);
  g.finish(d);
  auto off = [&](graph::TensorId id) { return g.tensor(id).offset; };
  EXPECT_NE(off(x), off(a));
  EXPECT_NE(off(x), off(b));
  EXPECT_NE(off(x), off(c));
  EXPECT_NE(off(a), off(b));
  EXPECT_NE(off(c), off(d));
  EXPECT_EQ(off(c), off(a));  // a's space is reused once a is dead
  EXPECT_LE(g.workspace_floats(), 4u * 8 * 4);
}

// Backends take a copy's rows as checked: none before the cache's start or past its end.
TEST(CpuOps, GraphRefusesCopiesOutsideTheCache) {
  std::vector<float> table(4 * 8, 0.0f);
  auto buffer = make_cpu_backend({1})->allocate(10 * 8 * sizeof(float));
  for (int64_t pos0 : {8, 9}) {
    graph::Graph g(pos0, 2);
    auto w = g.weight(TensorType::F32, 8, 4, table.data());
    auto x = g.get_rows(w, g.input({0, 1}));
    auto cache = g.cache(TensorType::F32, 8, 10, *buffer);
    if (pos0 == 8) {
      EXPECT_NO_THROW(g.copy(x, cache));
    } else {
      EXPECT_THROW(g.copy(x, cache), Error);
    }
  }
  EXPECT_THROW(graph::Graph(-1, 2), Error);
  EXPECT_THROW(graph::Graph({{0, -1}}), Error);
}

// CPU buffers (activations, KV caches) start on a cache line, large or small, and read as
// zero: the kernels' 512-bit loads of their rows then never straddle two lines.
TEST(CpuOps, BuffersStartOnACacheLineZeroed) {
  auto backend = make_cpu_backend({1});
  for (size_t bytes : {size_t{1}, size_t{100}, size_t{4096}, size_t{3} << 20}) {
    auto buffer = backend->allocate(bytes);
    const auto* p = static_cast<const uint8_t*>(buffer->host_data());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << bytes << " bytes";
    EXPECT_EQ(std::count(p, p + bytes, uint8_t{0}), static_cast<std::ptrdiff_t>(bytes));
  }
}

}  // namespace
}  // namespace tern::cpu

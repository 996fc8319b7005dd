// Mixture-of-experts ops (ExpertRoute, ExpertMatMul, ExpertAdd, ExpertMix, SwiGluOai) on
// the CPU backend against a naive double-precision mixture computed from the dequantized
// weights, at every CPU level (scalar, AVX2, AVX512 where the CPU has them), for decode (1
// token), a few tokens and a prompt-sized batch (packed GEMM), with several weight types;
// both as qwen3moe routes (softmax, top-k renormalized, SwiGLU) and as gpt-oss does (router
// bias, softmax over the chosen logits, per-expert biases, clamped SwiGLU).
// Tolerances: F32 weights run with float activations: max error 1e-4 relative to the
// output's scale; other types round activations (F16, or 8 bits on the SIMD levels) in
// each of the three chained products: normalized mean squared error <= 1e-3 (Q8_0
// measured 1.9e-4; a wrong expert or row gives NMSE ~1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/experts.h"
#include "cpu_test_support.h"
#include "graph/graph.h"
#include "types/type_table.h"

namespace tern {
namespace {

using cpu::test::random_values;
using graph::Graph;
using graph::TensorId;

constexpr int64_t kEmbd = 256, kFf = 256, kExperts = 8, kVocab = 64;
constexpr int kUsed = 3;

struct Stacked {  // one stacked expert tensor: bytes of `type`, and its dequantized values
  TensorType type;
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};

Stacked make_stacked(TensorType type, int64_t rows, int64_t cols, uint32_t seed) {
  std::vector<float> v = random_values(static_cast<size_t>(rows * cols), seed,
                                       1.0f / std::sqrt(static_cast<float>(cols)));
  Stacked s{type, std::vector<uint8_t>(*row_bytes(type, cols) * static_cast<size_t>(rows)), v};
  type_traits(type).from_float(v.data(), s.bytes.data(), rows * cols);
  dequantize(type, s.bytes.data(), s.values.data(), rows * cols);
  return s;
}

// gpt-oss's extras: biases of the router [kExperts] and of each expert's gate and up
// [kExperts, kFf] and down [kExperts, kEmbd]; empty: a qwen3moe-style mixture.
struct OaiBiases {
  std::vector<float> router, gate, up, down;
  bool on() const { return !router.empty(); }
};

double swiglu_oai(double g, double u) {
  g = std::min(g, 7.0);
  u = std::clamp(u, -7.0, 7.0);
  return g / (1 + std::exp(-1.702 * g)) * (u + 1);
}

// The mixture of one token x, in double: softmax routing, top kUsed renormalized, SwiGLU;
// or with `oai` on, biased logits, a softmax over the top kUsed, biased products, and the
// clamped SwiGLU.
std::vector<double> naive_mixture(const std::vector<float>& router, const Stacked& gate,
                                  const Stacked& up, const Stacked& down, const float* x,
                                  const OaiBiases& oai) {
  auto bias = [&](const std::vector<float>& b, size_t i) { return oai.on() ? double{b[i]} : 0.0; };
  auto dot = [](const float* w, const auto* v, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += double{w[i]} * double{v[i]};
    return s;
  };
  std::vector<double> logits(kExperts);
  for (int64_t e = 0; e < kExperts; ++e) {
    logits[e] = dot(router.data() + e * kEmbd, x, kEmbd) + bias(oai.router, e);
  }
  double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(kExperts);
  for (int64_t e = 0; e < kExperts; ++e) p[e] = std::exp(logits[e] - max);
  std::vector<int> order(kExperts);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  // Both weightings divide e^(logit - max) by the chosen experts' sum: qwen3moe's
  // renormalized softmax and gpt-oss's softmax over the chosen logits are the same weights.
  double chosen = 0;
  for (int j = 0; j < kUsed; ++j) chosen += p[order[j]];
  std::vector<double> out(kEmbd, 0.0);
  for (int j = 0; j < kUsed; ++j) {
    int e = order[j];
    std::vector<double> h(kFf);
    for (int64_t r = 0; r < kFf; ++r) {
      double g =
          dot(gate.values.data() + (e * kFf + r) * kEmbd, x, kEmbd) + bias(oai.gate, e * kFf + r);
      double u =
          dot(up.values.data() + (e * kFf + r) * kEmbd, x, kEmbd) + bias(oai.up, e * kFf + r);
      h[r] = oai.on() ? swiglu_oai(g, u) : g / (1 + std::exp(-g)) * u;
    }
    for (int64_t c = 0; c < kEmbd; ++c) {
      double y = dot(down.values.data() + (e * kEmbd + c) * kFf, h.data(), kFf) +
                 bias(oai.down, e * kEmbd + c);
      out[c] += p[e] / chosen * y;
    }
  }
  return out;
}

struct Case {
  TensorType type;
  int64_t n_tokens;
};

class ExpertOps : public ::testing::TestWithParam<CpuKernels> {};

TEST_P(ExpertOps, MixtureMatchesNaive) {
  if (GetParam() == CpuKernels::Amx && cpu::detected_isa() < cpu::Isa::Amx) GTEST_SKIP();
  if (GetParam() == CpuKernels::Avx512 && cpu::detected_isa() < cpu::Isa::Avx512) GTEST_SKIP();
  if (GetParam() == CpuKernels::Avx2 && cpu::detected_isa() < cpu::Isa::Avx2) GTEST_SKIP();
  std::vector<float> table = random_values(static_cast<size_t>(kVocab * kEmbd), 7);
  std::vector<float> router = random_values(static_cast<size_t>(kExperts * kEmbd), 8, 0.2f);
  // Biases large enough to change the choice of experts and to reach the SwiGLU clamps.
  const OaiBiases none,
      oai{random_values(kExperts, 9, 2.0f), random_values(kExperts * kFf, 10, 3.0f),
          random_values(kExperts * kFf, 11, 3.0f), random_values(kExperts * kEmbd, 12, 0.5f)};
  for (auto [type, biases] :
       {std::pair{TensorType::F32, &none}, std::pair{TensorType::F16, &none},
        std::pair{TensorType::Q8_0, &none}, std::pair{TensorType::Q4_K, &none},
        std::pair{TensorType::F32, &oai}, std::pair{TensorType::Q8_0, &oai},
        std::pair{TensorType::MXFP4, &oai}}) {
    const OaiBiases& b = *biases;
    Stacked gate = make_stacked(type, kExperts * kFf, kEmbd, 1);
    Stacked up = make_stacked(type, kExperts * kFf, kEmbd, 2);
    Stacked down = make_stacked(type, kExperts * kEmbd, kFf, 3);
    for (int64_t n : {1, 5, 40, 200}) {
      std::vector<int32_t> ids(static_cast<size_t>(n));
      for (int64_t t = 0; t < n; ++t) ids[t] = static_cast<int32_t>((t * 37 + 11) % kVocab);
      Graph g(0, n);
      TensorId x = g.get_rows(g.weight(TensorType::F32, kEmbd, kVocab, table.data()), g.input(ids));
      TensorId logits = g.matmul(g.weight(TensorType::F32, kEmbd, kExperts, router.data()), x);
      if (b.on()) logits = g.add(logits, g.weight(TensorType::F32, kExperts, 1, b.router.data()));
      TensorId route = g.expert_route(logits, {.n_used = kUsed,
                                               .normalize = !b.on(),
                                               .gating = b.on() ? graph::ExpertGating::SoftmaxChosen
                                                                : graph::ExpertGating::Softmax});
      // + the expert's bias row, for gpt-oss.
      auto biased = [&](TensorId v, const std::vector<float>& bias, int64_t cols) {
        return b.on()
                   ? g.expert_add(v, g.weight(TensorType::F32, cols, kExperts, bias.data()), route)
                   : v;
      };
      TensorId hg = g.expert_matmul(g.weight(type, kEmbd, kExperts * kFf, gate.bytes.data()), x,
                                    route, kExperts);
      TensorId hu = g.expert_matmul(g.weight(type, kEmbd, kExperts * kFf, up.bytes.data()), x,
                                    route, kExperts);
      hg = biased(hg, b.gate, kFf);
      hu = biased(hu, b.up, kFf);
      TensorId h = b.on() ? g.swiglu_oai(hg, hu, {}) : g.swiglu(hg, hu);
      TensorId y = g.expert_matmul(g.weight(type, kFf, kExperts * kEmbd, down.bytes.data()), h,
                                   route, kExperts);
      g.finish(g.expert_mix(biased(y, b.down, kEmbd), route));
      auto backend = make_cpu_backend({.n_threads = 2, .cpu_kernels = GetParam()});
      auto workspace = backend->allocate(g.workspace_floats() * sizeof(float));
      backend->run(g, 0, g.nodes().size(), *workspace);
      const float* out =
          static_cast<const float*>(workspace->host_data()) + g.tensor(g.result()).offset;
      double err = 0, ref2 = 0, max_err = 0, scale = 0;
      for (int64_t t = 0; t < n; ++t) {
        std::vector<double> ref =
            naive_mixture(router, gate, up, down, table.data() + ids[t] * kEmbd, b);
        for (int64_t c = 0; c < kEmbd; ++c) {
          double d = out[t * kEmbd + c] - ref[c];
          err += d * d;
          ref2 += ref[c] * ref[c];
          max_err = std::max(max_err, std::abs(d));
          scale = std::max(scale, std::abs(ref[c]));
        }
      }
      SCOPED_TRACE(::testing::Message() << type_traits(type).name << ", " << n << " tokens"
                                        << (b.on() ? ", gpt-oss style" : ""));
      if (type == TensorType::F32) {
        EXPECT_LE(max_err, 1e-4 * scale);
      } else {
        EXPECT_LE(err / ref2, 1e-3);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, ExpertOps,
                         ::testing::Values(CpuKernels::Scalar, CpuKernels::Avx2, CpuKernels::Avx512,
                                           CpuKernels::Amx));

TEST(ExpertRoute, TopExpertsRenormalizedInDescendingOrder) {
  std::vector<float> logits = {0.0f, 2.0f, -1.0f, 1.0f};  // one token, four experts
  std::vector<float> route(4);
  cpu::expert_route(logits.data(), 1, 4, {.n_used = 2, .normalize = true}, route.data());
  double p1 = std::exp(2.0), p3 = std::exp(1.0);
  EXPECT_NEAR(route[0], p1 / (p1 + p3), 1e-6);
  EXPECT_NEAR(route[1], p3 / (p1 + p3), 1e-6);
  EXPECT_EQ(route[2], 1.0f);  // expert indices, most probable first
  EXPECT_EQ(route[3], 3.0f);
  cpu::expert_route(logits.data(), 1, 4, {.n_used = 2, .normalize = false}, route.data());
  double total = 1 + std::exp(2.0) + std::exp(-1.0) + std::exp(1.0);
  EXPECT_NEAR(route[0], p1 / total, 1e-6);
}

// gpt-oss: the top experts by logit, weighed by a softmax over their logits alone.
TEST(ExpertRoute, SoftmaxOverChosenLogits) {
  std::vector<float> logits = {0.0f, 2.0f, -1.0f, 1.0f, 2.0f};  // a tie: the lower index first
  std::vector<float> route(6);
  cpu::expert_route(logits.data(), 1, 5,
                    {.n_used = 3, .normalize = false, .gating = graph::ExpertGating::SoftmaxChosen},
                    route.data());
  double total = std::exp(2.0) + std::exp(2.0) + std::exp(1.0);
  EXPECT_NEAR(route[0], std::exp(2.0) / total, 1e-6);
  EXPECT_NEAR(route[1], std::exp(2.0) / total, 1e-6);
  EXPECT_NEAR(route[2], std::exp(1.0) / total, 1e-6);
  EXPECT_EQ(route[3], 1.0f);
  EXPECT_EQ(route[4], 4.0f);
  EXPECT_EQ(route[5], 3.0f);
}

// Each (token, expert) row gets its own expert's bias row; a route naming an expert the
// bias lacks is refused.
TEST(ExpertAdd, AddsTheChosenExpertsBiasRows) {
  const std::vector<float> y = {1, 2, 3, 4, 5, 6, 7, 8};     // 2 tokens x 2 experts, 2 columns
  const std::vector<float> bias = {0, 0, 10, 20, 100, 200};  // 3 experts
  const std::vector<float> route = {0.5f, 0.5f, 2, 1, 0.5f, 0.5f, 0, 2};
  std::vector<float> out(8);
  cpu::expert_add(y.data(), bias.data(), 3, route.data(), 2, 2, 2, out.data());
  EXPECT_EQ(out, (std::vector<float>{101, 202, 13, 24, 5, 6, 107, 208}));
  EXPECT_THROW(cpu::expert_add(y.data(), bias.data(), 2, route.data(), 2, 2, 2, out.data()),
               std::exception);
}

TEST(ExpertRoute, GraphRefusesImpossibleShapes) {
  Graph g(0, 2);
  std::vector<float> w(4 * 8);
  TensorId x = g.get_rows(g.weight(TensorType::F32, 8, 4, w.data()), g.input({0, 1}));
  TensorId logits = g.matmul(g.weight(TensorType::F32, 8, 4, w.data()), x);  // 4 experts
  EXPECT_THROW(g.expert_route(logits, {.n_used = 5, .normalize = true}), std::exception);
  TensorId route = g.expert_route(logits, {.n_used = 2, .normalize = true});
  EXPECT_THROW(g.expert_matmul(g.weight(TensorType::F32, 8, 6, w.data()), x, route, 4),
               std::exception);  // 6 rows are not 4 experts
}

}  // namespace
}  // namespace tern

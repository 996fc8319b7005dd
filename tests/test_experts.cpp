// Mixture-of-experts ops (ExpertRoute, ExpertMatMul, ExpertMix) on the CPU backend against
// a naive double-precision mixture computed from the dequantized weights, at every CPU
// level (scalar, AVX2, AVX512 where the CPU has them), for decode (1 token), a few tokens
// and a prompt-sized batch (packed GEMM), with several weight types.
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

// The mixture of one token x, in double: softmax routing, top kUsed renormalized, SwiGLU.
std::vector<double> naive_mixture(const std::vector<float>& router, const Stacked& gate,
                                  const Stacked& up, const Stacked& down, const float* x) {
  auto dot = [](const float* w, const auto* v, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += double{w[i]} * double{v[i]};
    return s;
  };
  std::vector<double> logits(kExperts);
  for (int64_t e = 0; e < kExperts; ++e) logits[e] = dot(router.data() + e * kEmbd, x, kEmbd);
  double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(kExperts);
  for (int64_t e = 0; e < kExperts; ++e) p[e] = std::exp(logits[e] - max);
  std::vector<int> order(kExperts);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  double chosen = 0;
  for (int j = 0; j < kUsed; ++j) chosen += p[order[j]];
  std::vector<double> out(kEmbd, 0.0);
  for (int j = 0; j < kUsed; ++j) {
    int e = order[j];
    std::vector<double> h(kFf);
    for (int64_t r = 0; r < kFf; ++r) {
      double g = dot(gate.values.data() + (e * kFf + r) * kEmbd, x, kEmbd);
      double u = dot(up.values.data() + (e * kFf + r) * kEmbd, x, kEmbd);
      h[r] = g / (1 + std::exp(-g)) * u;
    }
    for (int64_t c = 0; c < kEmbd; ++c) {
      out[c] += p[e] / chosen * dot(down.values.data() + (e * kEmbd + c) * kFf, h.data(), kFf);
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
  if (GetParam() == CpuKernels::Avx512 && cpu::detected_isa() < cpu::Isa::Avx512) GTEST_SKIP();
  if (GetParam() == CpuKernels::Avx2 && cpu::detected_isa() < cpu::Isa::Avx2) GTEST_SKIP();
  std::vector<float> table = random_values(static_cast<size_t>(kVocab * kEmbd), 7);
  std::vector<float> router = random_values(static_cast<size_t>(kExperts * kEmbd), 8, 0.2f);
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::Q8_0, TensorType::Q4_K}) {
    Stacked gate = make_stacked(type, kExperts * kFf, kEmbd, 1);
    Stacked up = make_stacked(type, kExperts * kFf, kEmbd, 2);
    Stacked down = make_stacked(type, kExperts * kEmbd, kFf, 3);
    for (int64_t n : {1, 5, 40, 200}) {
      std::vector<int32_t> ids(static_cast<size_t>(n));
      for (int64_t t = 0; t < n; ++t) ids[t] = static_cast<int32_t>((t * 37 + 11) % kVocab);
      Graph g(0, n);
      TensorId x = g.get_rows(g.weight(TensorType::F32, kEmbd, kVocab, table.data()), g.input(ids));
      TensorId route =
          g.expert_route(g.matmul(g.weight(TensorType::F32, kEmbd, kExperts, router.data()), x),
                         {.n_used = kUsed, .normalize = true});
      TensorId hg = g.expert_matmul(g.weight(type, kEmbd, kExperts * kFf, gate.bytes.data()), x,
                                    route, kExperts);
      TensorId hu = g.expert_matmul(g.weight(type, kEmbd, kExperts * kFf, up.bytes.data()), x,
                                    route, kExperts);
      TensorId y = g.expert_matmul(g.weight(type, kFf, kExperts * kEmbd, down.bytes.data()),
                                   g.swiglu(hg, hu), route, kExperts);
      g.finish(g.expert_mix(y, route));
      auto backend = make_cpu_backend({.n_threads = 2, .cpu_kernels = GetParam()});
      auto workspace = backend->allocate(g.workspace_floats() * sizeof(float));
      backend->run(g, 0, g.nodes().size(), *workspace);
      const float* out =
          static_cast<const float*>(workspace->host_data()) + g.tensor(g.result()).offset;
      double err = 0, ref2 = 0, max_err = 0, scale = 0;
      for (int64_t t = 0; t < n; ++t) {
        std::vector<double> ref =
            naive_mixture(router, gate, up, down, table.data() + ids[t] * kEmbd);
        for (int64_t c = 0; c < kEmbd; ++c) {
          double d = out[t * kEmbd + c] - ref[c];
          err += d * d;
          ref2 += ref[c] * ref[c];
          max_err = std::max(max_err, std::abs(d));
          scale = std::max(scale, std::abs(ref[c]));
        }
      }
      SCOPED_TRACE(::testing::Message() << type_traits(type).name << ", " << n << " tokens");
      if (type == TensorType::F32) {
        EXPECT_LE(max_err, 1e-4 * scale);
      } else {
        EXPECT_LE(err / ref2, 1e-3);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, ExpertOps,
                         ::testing::Values(CpuKernels::Scalar, CpuKernels::Avx2,
                                           CpuKernels::Avx512));

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

// llama.cpp's reference outputs for the synthetic models in ../shared/golden/, and the one
// comparison every backend's golden test applies. Tolerances are the forward-pass issue's
// and stay as stated:
//   F32 models:       max |dlogit| <= 0.02, mean KL(ref || tern) <= 1e-4, same argmax
//                     wherever the reference's top-2 margin exceeds 0.05;
//   quantized models: mean KL <= 0.03, same argmax wherever the margin exceeds 0.5.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace tern::golden {

/// A parametrized test's name from its model name ("llama-q4_k_m" -> "llama_q4_k_m"):
/// gtest names allow no dashes.
inline std::string model_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

inline const std::string kGoldenDir = std::string(TERN_SHARED_DIR) + "/golden/";
/// Goldens committed with tern (architectures ../shared has none of), same layout.
inline const std::string kRepoGoldenDir = std::string(TERN_TEST_DATA_DIR) + "/golden/";

/// The directory of the golden `name`: tern's own, or ../shared's.
inline std::string golden_dir(const std::string& name) {
  return std::filesystem::exists(kRepoGoldenDir + name) ? kRepoGoldenDir + name
                                                        : kGoldenDir + name;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline std::vector<int32_t> ids_of(const std::string& text) {
  std::istringstream in(text);
  return {std::istream_iterator<int32_t>(in), {}};
}

/// The input tokens every golden model shares (tokens.txt: 32 ids < 512, BOS first).
inline std::vector<int32_t> shared_tokens() {
  return ids_of(slurp(kGoldenDir + "llama-f32/tokens.txt"));
}

/// max |a[i] - b[i]| over two rows of the same size.
inline float max_abs_diff(std::span<const float> a, std::span<const float> b) {
  EXPECT_EQ(a.size(), b.size());
  float d = 0.0f;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

/// Little-endian float32 bytes as floats.
inline std::vector<float> floats_of(const std::string& bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

struct Golden {
  std::string dir;
  bool quantized = false;
  int64_t n_vocab = 0;
  std::vector<int32_t> tokens;
  std::vector<int32_t> greedy;
  std::vector<float> logits;  // [tokens.size(), n_vocab]
};

inline Golden load_golden(const std::string& name) {
  Golden g;
  g.dir = golden_dir(name);
  g.quantized = slurp(g.dir + "/kind").starts_with("quant");
  g.n_vocab = std::stoll(slurp(g.dir + "/n_vocab"));
  g.tokens = ids_of(slurp(g.dir + "/tokens.txt"));
  g.greedy = ids_of(slurp(g.dir + "/greedy.txt"));
  g.logits = floats_of(slurp(g.dir + "/logits.f32"));
  return g;
}

/// Largest minus second-largest value of a row.
inline float top2_margin(const float* row, int64_t n) {
  std::vector<float> v(row, row + n);
  std::partial_sort(v.begin(), v.begin() + 2, v.end(), std::greater<>());
  return v[0] - v[1];
}

inline int64_t argmax(const float* row, int64_t n) { return std::max_element(row, row + n) - row; }

/// KL(p || q) of the softmaxes of two logit rows, in double.
inline double kl_divergence(const float* p_logits, const float* q_logits, int64_t n) {
  auto log_softmax = [n](const float* x) {
    double max = *std::max_element(x, x + n);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - max);
    std::vector<double> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = x[i] - max - std::log(sum);
    return out;
  };
  auto lp = log_softmax(p_logits);
  auto lq = log_softmax(q_logits);
  double kl = 0.0;
  for (size_t i = 0; i < lp.size(); ++i) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
  return kl;
}

inline float argmax_margin_threshold(const Golden& g) { return g.quantized ? 0.5f : 0.05f; }

/// Checks `logits` ([tokens, n_vocab]) against the reference with the tolerances above;
/// `label` names the run in the printed figures.
inline void expect_matches_reference(const Golden& g, std::span<const float> logits,
                                     const std::string& label = "") {
  ASSERT_EQ(logits.size(), g.logits.size());
  double kl_sum = 0.0;
  float max_diff = 0.0f;
  for (size_t t = 0; t < g.tokens.size(); ++t) {
    const float* ref = g.logits.data() + t * static_cast<size_t>(g.n_vocab);
    const float* got = logits.data() + t * static_cast<size_t>(g.n_vocab);
    for (int64_t i = 0; i < g.n_vocab; ++i) {
      max_diff = std::max(max_diff, std::abs(ref[i] - got[i]));
    }
    kl_sum += kl_divergence(ref, got, g.n_vocab);
    if (top2_margin(ref, g.n_vocab) > argmax_margin_threshold(g)) {
      EXPECT_EQ(argmax(got, g.n_vocab), argmax(ref, g.n_vocab)) << "position " << t;
    }
  }
  double mean_kl = kl_sum / static_cast<double>(g.tokens.size());
  if (g.quantized) {
    EXPECT_LE(mean_kl, 0.03);
  } else {
    EXPECT_LE(max_diff, 0.02f);
    EXPECT_LE(mean_kl, 1e-4);
  }
  std::cout << g.dir << label << ": max |dlogit| " << max_diff << ", mean KL " << mean_kl << "\n";
}

}  // namespace tern::golden

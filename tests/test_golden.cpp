// The forward pass against llama.cpp's logits for the synthetic models in
// ../shared/golden/ (F32 KV cache, CPU). Tolerances are the and stay as stated:
//   F32 models:       max |dlogit| <= 0.02, mean KL(ref || tern) <= 1e-4, same argmax
//                     wherever the reference's top-2 margin exceeds 0.05;
//   quantized models: mean KL <= 0.03, same argmax wherever the margin exceeds 0.5.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "tern/model.h"
#include "tern/session.h"

namespace tern {
namespace {

const std::string kGolden = std::string(TERN_SHARED_DIR) + "/golden/";

struct Golden {
  std::string dir;
  bool quantized = false;
  int64_t n_vocab = 0;
  std::vector<int32_t> tokens;
  std::vector<int32_t> greedy;
  std::vector<float> logits;  // [tokens.size(), n_vocab]
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<int32_t> ids_of(const std::string& text) {
  std::istringstream in(text);
  return {std::istream_iterator<int32_t>(in), {}};
}

std::vector<float> floats_of(const std::string& bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

Golden load_golden(const std::string& name) {
  Golden g;
  g.dir = kGolden + name;
  g.quantized = slurp(g.dir + "/kind").starts_with("quant");
  g.n_vocab = std::stoll(slurp(g.dir + "/n_vocab"));
  g.tokens = ids_of(slurp(g.dir + "/tokens.txt"));
  g.greedy = ids_of(slurp(g.dir + "/greedy.txt"));
  g.logits = floats_of(slurp(g.dir + "/logits.f32"));
  return g;
}

// Largest minus second-largest value of a row.
float top2_margin(const float* row, int64_t n) {
  std::vector<float> v(row, row + n);
  std::partial_sort(v.begin(), v.begin() + 2, v.end(), std::greater<>());
  return v[0] - v[1];
}

int64_t argmax(const float* row, int64_t n) { return std::max_element(row, row + n) - row; }

// KL(p || q) of the softmaxes of two logit rows, in double.
double kl_divergence(const float* p_logits, const float* q_logits, int64_t n) {
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

float argmax_margin_threshold(const Golden& g) { return g.quantized ? 0.5f : 0.05f; }

void expect_matches_reference(const Golden& g, std::span<const float> logits) {
  ASSERT_EQ(logits.size(), g.logits.size());
  double kl_sum = 0.0;
  float max_diff = 0.0f;
  for (size_t t = 0; t < g.tokens.size(); ++t) {
    const float* ref = g.logits.data() + t * static_cast<size_t>(g.n_vocab);
    const float* got = logits.data() + t * static_cast<size_t>(g.n_vocab);
    for (int64_t i = 0; i < g.n_vocab; ++i)
      max_diff = std::max(max_diff, std::abs(ref[i] - got[i]));
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
  std::cout << g.dir << ": max |dlogit| " << max_diff << ", mean KL " << mean_kl << "\n";
}

class GoldenTest : public testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, LogitsMatchLlamaCpp) {
  Golden g = load_golden(GetParam());
  Model model = Model::load(g.dir + "/model.gguf");
  ASSERT_EQ(model.n_vocab(), g.n_vocab);
  Session session(model, {.n_ctx = 64, .n_batch = 512, .n_threads = 2});
  expect_matches_reference(g, session.decode(g.tokens, Outputs::All));
}

// Teacher-forced greedy continuation: at each step tern's argmax must be llama.cpp's
// pick wherever tern's own top-2 margin is clear; llama.cpp's pick is fed back either way.
TEST_P(GoldenTest, GreedyContinuationMatches) {
  Golden g = load_golden(GetParam());
  Model model = Model::load(g.dir + "/model.gguf");
  Session session(model, {.n_ctx = 64, .n_batch = 512, .n_threads = 2});
  std::span<const float> logits = session.decode(g.tokens);
  int checked = 0;
  for (int32_t expected : g.greedy) {
    if (top2_margin(logits.data(), g.n_vocab) > argmax_margin_threshold(g)) {
      EXPECT_EQ(argmax(logits.data(), g.n_vocab), expected) << "step " << checked;
      ++checked;
    }
    logits = session.decode(std::span(&expected, 1));
  }
  EXPECT_GT(checked, 0) << "no step had a clear enough margin to check";
}

// The same check through the CLI: `tern logits` writes n_tokens x n_vocab float32.
TEST_P(GoldenTest, CliLogitsMatchLlamaCpp) {
  Golden g = load_golden(GetParam());
  std::string out = (std::filesystem::temp_directory_path() /
                     ("tern_golden_" + GetParam() + std::to_string(getpid()) + ".f32"))
                        .string();
  std::string tokens;
  for (int32_t t : g.tokens) tokens += std::to_string(t) + " ";
  std::string cmd = std::string(TERN_CLI_PATH) + " logits -t 2 -b 7 -m " + g.dir +
                    "/model.gguf --tokens \"" + tokens + "\" -o " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<float> logits = floats_of(slurp(out));
  std::filesystem::remove(out);
  expect_matches_reference(g, logits);
}

INSTANTIATE_TEST_SUITE_P(AllGoldens, GoldenTest,
                         testing::Values("llama-f32", "qwen3-f32", "gemma3-f32", "llama-q4_k_m",
                                         "qwen2-q4_0"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(Golden, EveryGoldenModelIsCovered) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(kGolden)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"gemma3-f32", "llama-f32", "llama-q4_k_m",
                                             "qwen2-q4_0", "qwen3-f32"}));
}

}  // namespace
}  // namespace tern

// Session: micro-batching, incremental decoding, trim/clear, context limits and the
// F16 KV cache, on the synthetic golden models (the F32 path itself is checked against
// llama.cpp in test_golden.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "golden_reference.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/session.h"

namespace tern {
namespace {

const std::string kGolden = std::string(TERN_SHARED_DIR) + "/golden/";
// The golden token sequence (32 ids < 512).
const std::vector<int32_t> kTokens = {1,   436, 94,  16,  328, 189, 240, 43,  191, 330, 183,
                                      426, 405, 361, 463, 370, 93,  439, 335, 53,  154, 87,
                                      495, 373, 471, 146, 326, 310, 386, 63,  265, 331};

float max_abs_diff(std::span<const float> a, std::span<const float> b) {
  EXPECT_EQ(a.size(), b.size());
  float d = 0.0f;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

std::vector<float> all_logits(const Model& model, SessionOptions options) {
  Session session(model, options);
  auto logits = session.decode(kTokens, Outputs::All);
  return {logits.begin(), logits.end()};
}

// Batching must not change the math beyond float rounding. With float weights the products
// are the same, but prompt attention runs in 16-row tiles and decoding one row at a time, so
// the sums are taken in a different order: logits of size ~10 agree to ~1e-5 (5e-5 allowed).
// Quantized weights take the packed GEMM for micro-batches and the row kernels below that;
// the two round their float sums differently (~1e-7 relative), and an 8-bit activation whose
// value sits on a rounding boundary can then move by one step: a few logits of a few
// positions move by up to ~0.05, the rest stay within rounding.
float batching_tolerance(const std::string& model) {
  return model.find("f32") != std::string::npos ? 5e-5f : 0.1f;
}

float mean_abs_diff(std::span<const float> a, std::span<const float> b) {
  double sum = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) sum += std::abs(a[i] - b[i]);
  return static_cast<float>(sum / static_cast<double>(std::max<size_t>(1, a.size())));
}

class SessionTest : public testing::TestWithParam<std::string> {};

TEST_P(SessionTest, MicroBatchesAndSingleTokensMatchOneBatch) {
  Model model = Model::load(kGolden + GetParam() + "/model.gguf");
  // An F32 cache: rounding K and V to F16 would now and then turn the paths' float
  // differences into a whole F16 step (up to 1.2e-4 on llama-f32, 0.17 on qwen2-q4_0).
  constexpr KvType kF32 = KvType::F32;
  std::vector<float> one =
      all_logits(model, {.n_ctx = 32, .n_batch = 512, .n_threads = 1, .kv_type = kF32});
  std::vector<float> batched =
      all_logits(model, {.n_ctx = 32, .n_batch = 5, .n_threads = 3, .kv_type = kF32});
  float tolerance = batching_tolerance(GetParam());
  EXPECT_LE(max_abs_diff(one, batched), tolerance);
  EXPECT_LE(mean_abs_diff(one, batched), 1e-3f);
  Session session(model, {.n_ctx = 32, .kv_type = kF32});
  std::vector<float> stepwise;
  for (int32_t t : kTokens) {
    auto row = session.decode(std::span(&t, 1));
    stepwise.insert(stepwise.end(), row.begin(), row.end());
  }
  EXPECT_LE(max_abs_diff(one, stepwise), tolerance);
  EXPECT_LE(mean_abs_diff(one, stepwise), 1e-3f);
}

TEST_P(SessionTest, TrimAndClearReplayTheSameLogits) {
  Model model = Model::load(kGolden + GetParam() + "/model.gguf");
  Session session(model, {.n_ctx = 40});
  std::span<const int32_t> tokens(kTokens);
  std::vector<float> last;
  {
    auto l = session.decode(tokens);
    last.assign(l.begin(), l.end());
  }
  EXPECT_EQ(session.n_past(), 32);
  EXPECT_TRUE(std::ranges::equal(session.tokens(), tokens));
  session.trim(20);
  EXPECT_EQ(session.n_past(), 20);
  EXPECT_TRUE(std::ranges::equal(session.tokens(), tokens.first(20)));
  EXPECT_LE(max_abs_diff(session.decode(tokens.subspan(20)), last), 1e-5f);
  session.clear();
  EXPECT_EQ(session.n_past(), 0);
  EXPECT_LE(max_abs_diff(session.decode(tokens), last), 1e-5f);
  EXPECT_THROW(session.trim(33), Error);
}

// F16 keys/values carry a relative rounding error of 2^-11 (~5e-4); through attention and
// a few layers that moves logits of magnitude ~10 by well under 0.05.
TEST_P(SessionTest, F16CacheStaysCloseToF32) {
  cpu::ScopedIsa scalar(cpu::Isa::Scalar);  // 8-bit activations (SIMD) amplify the rounding
  Model model = Model::load(kGolden + GetParam() + "/model.gguf");
  std::vector<float> f32 = all_logits(model, {.n_ctx = 32, .kv_type = KvType::F32});
  std::vector<float> f16 = all_logits(model, {.n_ctx = 32, .kv_type = KvType::F16});
  float d = max_abs_diff(f32, f16);
  EXPECT_LE(d, 0.05f);
  EXPECT_GT(d, 0.0f);  // the option really changes the cache type
}

// The SIMD attention reads an F16 cache in place (backends/cpu/attention.h): stepwise decoding over
// it must stay as close to the F32 cache as the scalar path does. With quantized weights
// the 8-bit activations amplify the rounding (a value on a step boundary moves a whole
// step): up to ~0.3 here, against errors of whole units from a misread cache.
TEST_P(SessionTest, F16CacheReadInPlaceStaysCloseToF32) {
  const float bound = GetParam() == "qwen2-q4_0" ? 0.5f : 0.05f;
  Model model = Model::load(kGolden + GetParam() + "/model.gguf");
  auto stepwise = [&](KvType kv_type) {
    Session session(model, {.n_ctx = 32, .kv_type = kv_type});
    std::vector<float> logits;
    for (int32_t token : kTokens) {
      std::span<const float> row = session.decode(std::span(&token, 1));
      logits.insert(logits.end(), row.begin(), row.end());
    }
    return logits;
  };
  float d = max_abs_diff(stepwise(KvType::F32), stepwise(KvType::F16));
  EXPECT_LE(d, bound);
  EXPECT_GT(d, 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Goldens, SessionTest,
                         testing::Values("llama-f32", "gemma3-f32", "qwen2-q4_0"),
                         golden::model_test_name);

TEST(Session, OutputsSelectRows) {
  Model model = Model::load(kGolden + "llama-f32/model.gguf");
  Session session(model, {.n_ctx = 64, .n_batch = 7});
  EXPECT_EQ(session.decode(kTokens, Outputs::None).size(), 0u);
  EXPECT_EQ(session.n_outputs(), 0);
  EXPECT_EQ(session.decode(kTokens, Outputs::Last).size(), 512u);
  EXPECT_EQ(session.n_outputs(), 1);
  EXPECT_EQ(session.n_past(), 64);
}

// time_ops: each kind of operation the CPU ran, once per layer per decode (attention), the
// products by their weights' type, largest first; off forgets them.
TEST(Session, TimesTheCpusOperationsWhenAsked) {
  Model model = Model::load(kGolden + "llama-q4_k_m/model.gguf");
  Session session(model, {.n_ctx = 64, .n_threads = 1});
  session.decode(std::span(kTokens).first(8), Outputs::Last);
  EXPECT_TRUE(session.op_times().empty());  // not timed until asked
  session.time_ops(true);
  constexpr int kSteps = 3;
  for (int i = 0; i < kSteps; ++i) session.decode(std::span(kTokens).subspan(8 + i, 1));
  std::vector<OpTime> times = session.op_times();
  ASSERT_FALSE(times.empty());
  for (size_t i = 1; i < times.size(); ++i) EXPECT_GE(times[i - 1].seconds, times[i].seconds);
  auto find = [&](const std::string& op) {
    auto it = std::find_if(times.begin(), times.end(), [&](const OpTime& t) { return t.op == op; });
    return it == times.end() ? OpTime{} : *it;
  };
  EXPECT_EQ(find("attention").calls, kSteps * model.n_layer());
  EXPECT_GT(find("attention").seconds, 0.0);
  EXPECT_GT(find("matmul Q4_K").calls, 0);
  EXPECT_GT(find("rms_norm").calls, 0);
  session.time_ops(false);
  EXPECT_TRUE(session.op_times().empty());
  session.decode(std::span(kTokens).subspan(11, 1));
  EXPECT_TRUE(session.op_times().empty());
}

TEST(Session, RefusesPositionsBeyondTheContext) {
  Model model = Model::load(kGolden + "llama-f32/model.gguf");
  Session session(model, {.n_ctx = 40});
  session.decode(kTokens);
  try {
    session.decode(kTokens);
    FAIL() << "decoding past n_ctx must throw";
  } catch (const ContextOverflow& e) {
    EXPECT_NE(std::string(e.what()).find("exceed the context size 40"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(session.n_past(), 32);  // unchanged by the refused decode
}

// The abort check is asked before each micro-batch and between layers. A cancelled decode
// keeps none of its positions (even the micro-batch it finished), and the next decode
// carries on as if it had never run: the same logits as an uninterrupted session.
TEST(Session, AbortCheckCancelsBetweenLayersAndKeepsNothing) {
  Model model = Model::load(kGolden + "llama-f32/model.gguf");
  const SessionOptions options{.n_ctx = 32, .n_batch = 8, .n_threads = 1};
  const std::vector<float> reference = all_logits(model, options);
  Session session(model, options);
  const std::span<const int32_t> tokens(kTokens);
  int checks = 0;
  session.decode(tokens.first(8), Outputs::All, [&] {
    ++checks;
    return false;
  });
  EXPECT_GT(checks, model.n_layer());  // one micro-batch, asked between its layers
  int asked = 0;
  const int cancel_at = checks + 2;  // inside the second micro-batch of the next decode
  EXPECT_THROW(
      session.decode(tokens.subspan(8), Outputs::All, [&] { return ++asked == cancel_at; }),
      Cancelled);
  EXPECT_EQ(asked, cancel_at);  // stopped at once
  EXPECT_EQ(session.n_past(), 8);
  EXPECT_EQ(session.n_outputs(), 0);
  const std::span<const float> rest = session.decode(tokens.subspan(8), Outputs::All);
  EXPECT_LE(max_abs_diff(rest, std::span(reference).subspan(8 * 512)), 1e-5f);
  EXPECT_EQ(session.n_past(), 32);
}

TEST(Session, RefusesTokensOutsideTheVocabulary) {
  Model model = Model::load(kGolden + "llama-f32/model.gguf");
  Session session(model, {.n_ctx = 8});
  const int32_t bad[] = {1, 512};
  EXPECT_THROW(session.decode(bad), Error);
  const int32_t negative[] = {-1};
  EXPECT_THROW(session.decode(negative), Error);
  EXPECT_EQ(session.n_past(), 0);
}

TEST(Session, RefusesInvalidOptions) {
  Model model = Model::load(kGolden + "llama-f32/model.gguf");
  EXPECT_THROW(Session(model, {.n_ctx = -1}), Error);
  EXPECT_THROW(Session(model, {.n_batch = 0}), Error);
  Session full(model, {.n_ctx = 0});
  EXPECT_EQ(full.n_ctx(), model.n_ctx_train());
  // K and V: n_layer x n_ctx x (n_head_kv * head_dim) values each, F16 by default.
  EXPECT_EQ(full.kv_bytes(), size_t{2} * 2 * 512 * 64 * 2);
  EXPECT_EQ(Session(model, {.n_ctx = 0, .kv_type = KvType::F32}).kv_bytes(), 2 * full.kv_bytes());
}

}  // namespace
}  // namespace tern

// Sampling stages against hand-computed distributions, the RNG against numpy's MT19937
// (legacy RandomState seeding and 53-bit doubles are the same algorithm), and draws against
// their distribution with a chi-square test at a fixed seed (so it cannot flake).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "sampling/candidates.h"
#include "sampling/filters.h"
#include "sampling/penalties.h"
#include "sampling/rng.h"
#include "sampling/selectors.h"
#include "tern/error.h"
#include "tern/sampler.h"

namespace tern::sampling {
namespace {

// Probabilities are floats renormalised in double: 1e-6 is a few float ulps around 0.5.
constexpr double kTol = 1e-6;

Candidates make(const std::vector<float>& logits) {
  Candidates cur;
  cur.assign(logits);
  return cur;
}

// Logits ln(p) for a distribution p (sums to 1), so softmax gives p back.
std::vector<float> log_probs(const std::vector<double>& p) {
  std::vector<float> out;
  for (double v : p) out.push_back(float(std::log(v)));
  return out;
}

std::vector<int32_t> ids(const Candidates& cur) {
  std::vector<int32_t> out;
  for (const TokenLogit& t : cur.items) out.push_back(t.id);
  return out;
}

// id -> probability after a softmax over what is left.
std::map<int32_t, double> probs(Candidates cur) {
  cur.softmax();
  std::map<int32_t, double> out;
  for (const TokenLogit& t : cur.items) out[t.id] = t.p;
  return out;
}

TEST(Candidates, SoftmaxSortsAndNormalises) {
  Candidates cur = make(log_probs({0.1, 0.5, 0.25, 0.15}));
  cur.softmax();
  EXPECT_EQ(ids(cur), (std::vector<int32_t>{1, 2, 3, 0}));
  EXPECT_NEAR(cur.items[0].p, 0.5, kTol);
  EXPECT_NEAR(cur.items[1].p, 0.25, kTol);
  EXPECT_NEAR(cur.items[2].p, 0.15, kTol);
  EXPECT_NEAR(cur.items[3].p, 0.1, kTol);
}

TEST(LogitBias, AddsToTheNamedTokensOnly) {
  Candidates cur = make({1.0f, 2.0f, 3.0f, 0.5f});
  LogitBias({{0, 2.5f}, {2, -INFINITY}, {0, 0.5f}}).apply(cur);
  EXPECT_FLOAT_EQ(cur.items[0].logit, 4.0f);  // both of token 0's biases
  EXPECT_FLOAT_EQ(cur.items[1].logit, 2.0f);
  EXPECT_EQ(cur.items[2].logit, -INFINITY);
  EXPECT_FLOAT_EQ(cur.items[3].logit, 0.5f);
  EXPECT_EQ(ids(cur), (std::vector<int32_t>{0, 1, 2, 3}));
}

TEST(LogitBias, RefusesTokensOutsideTheVocabularyAndBanningEveryToken) {
  Candidates cur = make({1.0f, 2.0f});
  EXPECT_THROW(LogitBias({{2, 1.0f}}).apply(cur), Error);
  EXPECT_THROW(LogitBias({{-1, 1.0f}}).apply(cur), Error);
  EXPECT_THROW(LogitBias({{5, 1.0f}}, 4), Error);  // known vocabulary: at construction
  EXPECT_THROW(LogitBias({{0, -INFINITY}, {1, -INFINITY}}).apply(cur), Error);
}

TEST(TopK, KeepsTheKHighestInOrder) {
  Candidates cur = make({1.0f, 5.0f, 3.0f, 4.0f, 2.0f});
  TopK(3).apply(cur);
  EXPECT_EQ(ids(cur), (std::vector<int32_t>{1, 3, 2}));
  EXPECT_TRUE(cur.sorted);
  Candidates all = make({1.0f, 5.0f, 3.0f});
  TopK(0).apply(all);
  EXPECT_EQ(all.items.size(), 3u);
  Candidates more = make({1.0f, 5.0f, 3.0f});
  TopK(10).apply(more);
  EXPECT_EQ(ids(more), (std::vector<int32_t>{1, 2, 0}));
}

TEST(TopP, KeepsSmallestPrefixReachingP) {
  // p = 0.4, 0.3, 0.2, 0.1 (ids shuffled): cumulative 0.4, 0.7, 0.9, 1.0.
  const std::vector<float> logits = log_probs({0.2, 0.4, 0.1, 0.3});
  Candidates two = make(logits);
  TopP(0.65f).apply(two);
  EXPECT_EQ(ids(two), (std::vector<int32_t>{1, 3}));
  Candidates three = make(logits);
  TopP(0.75f).apply(three);
  EXPECT_EQ(ids(three), (std::vector<int32_t>{1, 3, 0}));
  auto p = probs(three);  // renormalised over 0.9
  EXPECT_NEAR(p[1], 0.4 / 0.9, kTol);
  EXPECT_NEAR(p[3], 0.3 / 0.9, kTol);
  EXPECT_NEAR(p[0], 0.2 / 0.9, kTol);
  Candidates off = make(logits);
  TopP(1.0f).apply(off);
  EXPECT_EQ(off.items.size(), 4u);
}

TEST(TopP, BoundaryIsInclusive) {
  // Four equal logits: p = 0.25 exactly, cumulative 0.5 after two; ">= p" stops there.
  Candidates cur = make({0.0f, 0.0f, 0.0f, 0.0f});
  TopP(0.5f).apply(cur);
  EXPECT_EQ(ids(cur), (std::vector<int32_t>{0, 1}));
}

TEST(MinP, IsRelativeToTheMostLikelyToken) {
  // p = 0.5, 0.3, 0.15, 0.05 in shuffled ids; min_p 0.2 -> threshold 0.1.
  const std::vector<float> logits = log_probs({0.15, 0.05, 0.5, 0.3});
  Candidates cur = make(logits);
  MinP(0.2f).apply(cur);
  EXPECT_EQ(ids(cur), (std::vector<int32_t>{0, 2, 3}));  // id order kept (not sorted)
  Candidates tight = make(logits);
  MinP(0.35f).apply(tight);  // threshold 0.175: 0.5 and 0.3 survive
  auto p = probs(tight);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_NEAR(p[2], 0.5 / 0.8, kTol);
  EXPECT_NEAR(p[3], 0.3 / 0.8, kTol);
  Candidates off = make(logits);
  MinP(0.0f).apply(off);
  EXPECT_EQ(off.items.size(), 4u);
}

TEST(Typical, KeepsTokensNearTheEntropy) {
  // p = 0.5, 0.3, 0.15, 0.05: H = 1.14212 nats. |-ln p - H| = 0.449, 0.062, 0.755, 1.854,
  // so the typical order is 0.3, 0.5, 0.15, 0.05 (ids 1, 0, 2, 3).
  const std::vector<float> logits = log_probs({0.5, 0.3, 0.15, 0.05});
  Candidates half = make(logits);
  Typical(0.5f).apply(half);  // mass 0.3 (not > 0.5), then 0.8
  EXPECT_EQ(ids(half), (std::vector<int32_t>{1, 0}));
  auto p = probs(half);
  EXPECT_NEAR(p[1], 0.375, kTol);
  EXPECT_NEAR(p[0], 0.625, kTol);
  Candidates low = make(logits);
  Typical(0.2f).apply(low);  // the most typical token alone, not the most likely one
  EXPECT_EQ(ids(low), (std::vector<int32_t>{1}));
  Candidates off = make(logits);
  Typical(1.0f).apply(off);
  EXPECT_EQ(off.items.size(), 4u);
}

TEST(Typical, BoundaryIsExclusive) {
  // Equal p = 0.25: mass reaches 0.5 after two tokens, but typical needs more than p.
  Candidates cur = make({0.0f, 0.0f, 0.0f, 0.0f});
  Typical(0.5f).apply(cur);
  EXPECT_EQ(cur.items.size(), 3u);
}

TEST(Temperature, ScalesLogits) {
  // Logits 0, ln 3: p = 0.25, 0.75. Temperature 0.5 squares the odds: 0.1, 0.9.
  Candidates cur = make({0.0f, float(std::log(3.0))});
  Temperature(0.5f).apply(cur);
  EXPECT_NEAR(cur.items[1].logit, 2.0 * std::log(3.0), 1e-6);
  auto p = probs(cur);
  EXPECT_NEAR(p[0], 0.1, kTol);
  EXPECT_NEAR(p[1], 0.9, kTol);
  Candidates hot = make({1.0f, 2.0f, 4.0f});
  Temperature(2.0f).apply(hot);
  EXPECT_FLOAT_EQ(hot.items[2].logit, 2.0f);
  Candidates zero = make({1.0f, 4.0f, 2.0f});
  Temperature(0.0f).apply(zero);
  EXPECT_EQ(ids(zero), (std::vector<int32_t>{1}));
}

TEST(Penalties, ApplyRepeatFrequencyAndPresenceToExactValues) {
  Penalties pen(64, 2.0f, 0.1f, 0.5f);
  for (int32_t t : {0, 1, 0, 2, 4}) pen.accept(t);
  Candidates cur = make({2.0f, -1.0f, 0.5f, 3.0f, 0.0f});
  pen.apply(cur);
  EXPECT_FLOAT_EQ(cur.items[0].logit, 2.0f / 2 - (2 * 0.1f + 0.5f));  // seen twice: 0.3
  EXPECT_FLOAT_EQ(cur.items[1].logit, -1.0f * 2 - (0.1f + 0.5f));     // negative: * 2
  EXPECT_FLOAT_EQ(cur.items[2].logit, 0.5f / 2 - (0.1f + 0.5f));      // -0.35
  EXPECT_FLOAT_EQ(cur.items[3].logit, 3.0f);                          // never seen
  EXPECT_FLOAT_EQ(cur.items[4].logit, -0.6f);                         // zero: 0 * 2 - 0.6
}

TEST(Penalties, WindowOffAndReset) {
  Penalties last2(2, 2.0f, 0.0f, 0.0f);
  for (int32_t t : {0, 1, 2}) last2.accept(t);  // token 0 has left the window
  Candidates cur = make({4.0f, 4.0f, 4.0f});
  last2.apply(cur);
  EXPECT_EQ(std::vector<float>({cur.items[0].logit, cur.items[1].logit, cur.items[2].logit}),
            std::vector<float>({4.0f, 2.0f, 2.0f}));
  last2.reset();
  Candidates fresh = make({4.0f, 4.0f, 4.0f});
  last2.apply(fresh);
  EXPECT_FLOAT_EQ(fresh.items[1].logit, 4.0f);

  Penalties off(0, 2.0f, 0.0f, 0.0f);
  off.accept(0);
  Candidates same = make({4.0f});
  off.apply(same);
  EXPECT_FLOAT_EQ(same.items[0].logit, 4.0f);

  Penalties all(-1, 2.0f, 0.0f, 0.0f);
  for (int i = 0; i < 1000; ++i) all.accept(i == 0 ? 0 : 1);
  Candidates first = make({4.0f, 4.0f});
  all.apply(first);
  EXPECT_FLOAT_EQ(first.items[0].logit, 2.0f);  // still remembered after 999 more
}

TEST(Greedy, PicksArgmaxLowestIdOnTies) {
  Candidates cur = make({1.0f, 3.0f, 2.0f, 3.0f});
  Greedy().apply(cur);
  EXPECT_EQ(cur.items[cur.selected].id, 1);
}

TEST(Rng, MatchesNumpyMt19937Doubles) {
  // numpy.random.RandomState(seed).random_sample(): init_genrand(seed) and
  // (a >> 5, b >> 6) -> 53-bit double, the same construction as Rng::uniform().
  Rng rng(42);
  EXPECT_DOUBLE_EQ(rng.uniform(), 0.3745401188473625);
  EXPECT_DOUBLE_EQ(rng.uniform(), 0.9507143064099162);
  EXPECT_DOUBLE_EQ(rng.uniform(), 0.7319939418114051);
  Rng other(1234);
  EXPECT_DOUBLE_EQ(other.uniform(), 0.1915194503788923);
  rng.reset();
  EXPECT_DOUBLE_EQ(rng.uniform(), 0.3745401188473625);
}

TEST(Rng, DrawUsesCumulativeProbability) {
  // Seed 42 gives u = 0.3745, 0.9507, 0.7320, 0.5987 (see above). With p = 0.5, 0.25, 0.15,
  // 0.1 (cumulative 0.5, 0.75, 0.9, 1.0) those fall in buckets 0, 3, 1, 1.
  Candidates cur = make(log_probs({0.5, 0.25, 0.15, 0.1}));
  cur.softmax();
  Rng rng(42);
  std::vector<int32_t> drawn;
  for (int i = 0; i < 4; ++i) drawn.push_back(rng.draw(cur));
  EXPECT_EQ(drawn, (std::vector<int32_t>{0, 3, 1, 1}));
}

// Pearson's chi-square of observed counts against expected probabilities.
double chi_square(const std::vector<int>& counts, const std::vector<double>& p, int n) {
  double chi = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double expected = p[i] * n;
    chi += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return chi;
}

// Counts of each token id over n samples of the chain.
std::vector<int> histogram(SamplerChain& chain, const std::vector<float>& logits, int n) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) ++counts[chain.sample(logits)];
  return counts;
}

// 3 degrees of freedom: P(chi2 > 16.27) = 0.001.
constexpr double kChi2Critical3 = 16.27;

TEST(Dist, DrawsFollowTheDistribution) {
  const std::vector<double> p = {0.1, 0.5, 0.15, 0.25};
  SamplingParams params;
  params.temp = 1.0f;
  params.top_k = 0;
  params.top_p = 1.0f;
  params.min_p = 0.0f;
  params.seed = 7;
  SamplerChain chain(params);
  constexpr int kN = 100000;
  const std::vector<int> counts = histogram(chain, log_probs(p), kN);
  EXPECT_LT(chi_square(counts, p, kN), kChi2Critical3);
  // The test has power: moving 0.01 of mass between two tokens is rejected (chi2 ~ 110).
  EXPECT_GT(chi_square(counts, {0.11, 0.49, 0.15, 0.25}, kN), kChi2Critical3);
}

TEST(Dist, TemperatureShapesTheDraws) {
  // temp 0.5 squares probabilities: 0.1, 0.5, 0.15, 0.25 -> 0.01, 0.25, 0.0225, 0.0625 / 0.345.
  SamplingParams params;
  params.temp = 0.5f;
  params.top_k = 0;
  params.top_p = 1.0f;
  params.min_p = 0.0f;
  params.seed = 11;
  SamplerChain chain(params);
  constexpr int kN = 100000;
  const std::vector<int> counts = histogram(chain, log_probs({0.1, 0.5, 0.15, 0.25}), kN);
  const std::vector<double> expected = {0.01 / 0.345, 0.25 / 0.345, 0.0225 / 0.345, 0.0625 / 0.345};
  EXPECT_LT(chi_square(counts, expected, kN), kChi2Critical3);
}

TEST(MirostatV2, TruncatesBySurpriseAndUpdatesMu) {
  // tau 1.5 -> mu 3 bits. Surprises of 0.5, 0.25, 0.15, 0.1: 1, 2, 2.74, 3.32 bits: the
  // last is cut, the rest renormalised over 0.9.
  MirostatV2 miro(1.5f, 0.1f, 3);
  Candidates cur = make(log_probs({0.25, 0.1, 0.5, 0.15}));
  miro.apply(cur);
  EXPECT_EQ(ids(cur), (std::vector<int32_t>{2, 0, 3}));
  EXPECT_NEAR(cur.items[0].p, 0.5 / 0.9, kTol);
  const double surprise = -std::log2(cur.items[cur.selected].p);
  EXPECT_NEAR(miro.mu(), 3.0 - 0.1 * (surprise - 1.5), 1e-5);
  miro.reset();
  EXPECT_FLOAT_EQ(miro.mu(), 3.0f);
}

TEST(MirostatV2, KeepsTheMostLikelyWhenEverythingIsTooSurprising) {
  MirostatV2 miro(0.0f, 0.1f, 3);  // mu = 0 bits: even p = 0.5 (1 bit) is cut
  Candidates cur = make(log_probs({0.25, 0.5, 0.25}));
  miro.apply(cur);
  EXPECT_EQ(ids(cur), (std::vector<int32_t>{1}));
  EXPECT_NEAR(miro.mu(), 0.0, 1e-7);  // surprise 0 after renormalising, tau 0
}

TEST(MirostatV1, KeepsTopKFromZipfEstimate) {
  // p_i proportional to 1 / (i + 1)^2 over N = 4 tokens: the estimate is s = 2 exactly, so
  // e = 1 and k = (2^mu / (1 - 1/4))^(1/2). tau 1.5 -> mu 3 -> k = sqrt(32/3) = 3.27 -> 3;
  // tau 0.5 -> mu 1 -> k = sqrt(8/3) = 1.63 -> 1.
  const double z = 1.0 + 1.0 / 4 + 1.0 / 9 + 1.0 / 16;
  const std::vector<float> logits = log_probs({1 / z, 0.25 / z, 1.0 / 9 / z, 1.0 / 16 / z});
  MirostatV1 three(1.5f, 0.1f, 5);
  Candidates cur = make(logits);
  three.apply(cur);
  EXPECT_EQ(ids(cur), (std::vector<int32_t>{0, 1, 2}));
  const double surprise = -std::log2(cur.items[cur.selected].p);
  EXPECT_NEAR(three.mu(), 3.0 - 0.1 * (surprise - 1.5), 1e-5);
  MirostatV1 one(0.5f, 0.1f, 5);
  Candidates single = make(logits);
  one.apply(single);
  EXPECT_EQ(ids(single), (std::vector<int32_t>{0}));
}

}  // namespace
}  // namespace tern::sampling

namespace tern {
namespace {

std::vector<float> random_logits(size_t n, uint32_t seed) {
  sampling::Rng rng(seed);
  std::vector<float> out(n);
  for (float& v : out) v = float(rng.uniform() * 20.0 - 10.0);
  return out;
}

TEST(SamplerChain, DefaultsMatchLlamaCpp) {
  const SamplingParams p;
  EXPECT_FLOAT_EQ(p.temp, 0.8f);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_FLOAT_EQ(p.top_p, 0.95f);
  EXPECT_FLOAT_EQ(p.min_p, 0.05f);
  EXPECT_FLOAT_EQ(p.typical_p, 1.0f);
  EXPECT_FLOAT_EQ(p.repeat_penalty, 1.0f);
  EXPECT_EQ(p.repeat_last_n, 64);
  EXPECT_EQ(p.mirostat, 0);
  EXPECT_FLOAT_EQ(p.mirostat_tau, 5.0f);
  EXPECT_FLOAT_EQ(p.mirostat_eta, 0.1f);
  EXPECT_EQ(SamplerChain(p).describe(),
            "penalties -> top-k -> typical -> top-p -> min-p -> temp -> dist");
}

TEST(SamplerChain, LogitBiasComesFirst) {
  SamplingParams p;
  p.temp = 0.0f;
  p.repeat_penalty = 4.0f;
  p.logit_bias = {{3, 7.0f}, {1, -INFINITY}};
  SamplerChain chain(p);
  EXPECT_EQ(chain.describe(), "logit-bias -> penalties -> greedy");
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, -1.0f};
  EXPECT_EQ(chain.sample(logits), 3);  // 6 against 2, token 1 banned
  chain.accept(3);
  // The penalty divides token 3's biased logit, 6 / 4 < 2 (biased after it: -4 + 7 > 2).
  EXPECT_EQ(chain.sample(logits), 2);
  p.logit_bias = {{0, NAN}};
  EXPECT_THROW(SamplerChain{p}, Error);
  p.logit_bias = {{0, INFINITY}};
  EXPECT_THROW(SamplerChain{p}, Error);
}

TEST(SamplerChain, MirostatAndGreedyReplaceTheTail) {
  SamplingParams p;
  p.mirostat = 1;
  EXPECT_EQ(SamplerChain(p).describe(), "penalties -> temp -> mirostat");
  p.mirostat = 2;
  EXPECT_EQ(SamplerChain(p).describe(), "penalties -> temp -> mirostat-v2");
  p.temp = 0.0f;
  EXPECT_EQ(SamplerChain(p).describe(), "penalties -> greedy");
}

TEST(SamplerChain, GreedyAtZeroTemperatureAfterPenalties) {
  SamplingParams p;
  p.temp = 0.0f;
  p.repeat_penalty = 4.0f;
  SamplerChain chain(p);
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, -1.0f};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(chain.sample(logits), 1);
  chain.accept(1);  // 3 / 4 = 0.75 now loses to 2
  EXPECT_EQ(chain.sample(logits), 2);
}

TEST(SamplerChain, SameSeedSameSequence) {
  const std::vector<float> logits = random_logits(5000, 99);
  SamplingParams p;
  p.seed = 1234;
  p.repeat_penalty = 1.1f;
  for (int mirostat : {0, 1, 2}) {
    p.mirostat = mirostat;
    SamplerChain a(p), b(p);
    std::vector<int32_t> seq_a, seq_b;
    for (int i = 0; i < 100; ++i) {
      seq_a.push_back(a.sample(logits));
      a.accept(seq_a.back());
      seq_b.push_back(b.sample(logits));
      b.accept(seq_b.back());
    }
    EXPECT_EQ(seq_a, seq_b) << "mirostat " << mirostat;
    a.reset();
    std::vector<int32_t> again;
    for (int i = 0; i < 100; ++i) {
      again.push_back(a.sample(logits));
      a.accept(again.back());
    }
    EXPECT_EQ(again, seq_a) << "reset, mirostat " << mirostat;
    p.seed = 4321;
    SamplerChain c(p);
    std::vector<int32_t> seq_c;
    for (int i = 0; i < 100; ++i) {
      seq_c.push_back(c.sample(logits));
      c.accept(seq_c.back());
    }
    EXPECT_NE(seq_c, seq_a) << "other seed, mirostat " << mirostat;
    p.seed = 1234;
  }
}

TEST(SamplerChain, DefaultChainStaysInTheTopK) {
  const std::vector<float> logits = random_logits(2000, 5);
  std::vector<float> sorted = logits;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  SamplingParams p;
  p.seed = 3;
  SamplerChain chain(p);
  for (int i = 0; i < 500; ++i) {
    // min-p 0.05 at temp 1 bounds it tighter: logit >= max + ln 0.05.
    const float chosen = logits[chain.sample(logits)];
    EXPECT_GE(chosen, sorted[39]);
    EXPECT_GE(chosen, sorted[0] + std::log(0.05f));
  }
}

TEST(SamplerChain, BadInputIsAnError) {
  SamplingParams p;
  p.top_p = 1.5f;
  EXPECT_THROW(SamplerChain{p}, Error);
  p = {};
  p.mirostat = 3;
  try {
    SamplerChain chain(p);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mirostat"), std::string::npos);
  }
  SamplerChain chain;
  EXPECT_THROW(chain.sample({}), Error);
  const float inf = INFINITY;
  EXPECT_THROW(chain.sample(std::vector<float>{-inf, -inf}), Error);
  EXPECT_THROW(chain.sample(std::vector<float>{1.0f, NAN}), Error);
  EXPECT_EQ(chain.sample(std::vector<float>{-inf, 2.0f, -inf}), 1);
}

}  // namespace
}  // namespace tern

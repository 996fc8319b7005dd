// Speculative decoding: the n-gram drafter's lookup, the draft-model drafter's bookkeeping,
// greedy and seeded output identical with and without a drafter on every golden model,
// and the distribution of sampled tokens under drafts that are often wrong (chi-square).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "golden_reference.h"
#include "scratch_dir.h"
#include "tern/error.h"
#include "tern/generate.h"
#include "tern/model_path.h"
#include "tern/quantize.h"
#include "tern/speculative.h"

namespace tern {
namespace {

const std::vector<TokenId> kPrompt = {1, 436, 94, 16, 328, 189, 240, 43, 191, 330};

Model load_golden(const std::string& name) {
  return Model::load(golden::kGoldenDir + name + "/model.gguf", {.backend = BackendKind::Cpu});
}

TEST(NgramDrafter, DraftsWhatFollowedTheLatestLongestMatch) {
  NgramDrafter drafter(1, 3);
  // "7 8" occurs twice before the end; the later one is followed by 5 6.
  const std::vector<TokenId> context = {7, 8, 1, 2, 9, 7, 8, 5, 6, 3, 7, 8};
  EXPECT_EQ(drafter.draft(context, 4), (std::vector<TokenId>{5, 6, 3, 7}));
  EXPECT_EQ(drafter.draft(context, 2), (std::vector<TokenId>{5, 6}));
  // A 3-gram match wins over a later 1-gram one: "1 2 3" then 4; "3" alone then 9.
  const std::vector<TokenId> longer = {1, 2, 3, 4, 5, 3, 9, 1, 2, 3};
  EXPECT_EQ(drafter.draft(longer, 1), (std::vector<TokenId>{4}));
  EXPECT_TRUE(drafter.draft(std::vector<TokenId>{1, 2, 3}, 4).empty());
  EXPECT_TRUE(drafter.draft(std::vector<TokenId>{}, 4).empty());
  EXPECT_TRUE(drafter.draft(context, 0).empty());
  EXPECT_THROW(NgramDrafter(0, 2), Error);
  EXPECT_THROW(NgramDrafter(3, 2), Error);
}

TEST(ModelDrafter, DecodesOnlyWhatChangedAndDraftsTheGreedyContinuation) {
  const Model model = load_golden("llama-f32");
  Session target(model, {.n_ctx = 64, .n_threads = 2});
  SamplerChain greedy({.temp = 0.0f});
  const GenerateResult want = generate(target, model.tokenizer(), greedy, kPrompt, {.n_predict = 6});

  Session draft_session(model, {.n_ctx = 64, .n_threads = 2});
  ModelDrafter drafter(draft_session, 0.0f);
  std::vector<TokenId> context = kPrompt;
  context.push_back(want.tokens[0]);
  EXPECT_EQ(drafter.draft(context, 5), std::vector<TokenId>(want.tokens.begin() + 1, want.tokens.end()));
  // The session holds the context and the drafts but the last; a shorter context (drafts
  // rejected) trims it back and decodes one token.
  EXPECT_EQ(draft_session.n_past(), std::ssize(context) + 4);
  context.push_back(want.tokens[1]);
  EXPECT_EQ(drafter.draft(context, 2), std::vector<TokenId>(want.tokens.begin() + 2, want.tokens.begin() + 4));
  EXPECT_EQ(draft_session.n_past(), std::ssize(context) + 1);
  EXPECT_THROW(ModelDrafter(draft_session, 1.5f), Error);
}

// A synthetic pair sharing a vocabulary: the F32 golden drafted by its own Q8_0
// quantization. Greedy output is the target's; the drafts agree with it most of the time
// (74% here: the golden's random weights give flat distributions that rounding tips).
TEST(ModelDrafter, QuantizedCopyDraftsForItsOriginal) {
  const testing::ScratchDir scratch("tern_speculative");
  const std::string original = golden::kGoldenDir + "llama-f32/model.gguf";
  const std::string draft_path = (scratch.path() / "llama-q8_0.gguf").string();
  quant::quantize_model(original, draft_path, "Q8_0", {});
  const Model target = load_golden("llama-f32");
  const Model draft = Model::load(draft_path, {.backend = BackendKind::Cpu});
  auto run = [&](Drafter* drafter) {
    Session session(target, {.n_ctx = 256, .n_threads = 2});
    SamplerChain sampler({.temp = 0.0f});
    return generate(session, target.tokenizer(), sampler, kPrompt,
                    {.n_predict = 128, .ignore_eos = true, .drafter = drafter});
  };
  Session draft_session(draft, {.n_ctx = 256, .n_threads = 2});
  ModelDrafter drafter(draft_session, 0.0f);
  const GenerateResult drafted = run(&drafter);
  EXPECT_EQ(drafted.tokens, run(nullptr).tokens);
  EXPECT_GT(drafted.acceptance_rate(), 0.5) << drafted.n_accepted << "/" << drafted.n_drafted;
}

TEST(ModelDrafter, RefusesAnotherVocabulary) {
  const Model llama = load_golden("llama-f32");
  const Model q = load_golden("llama-q4_k_m");
  EXPECT_NO_THROW(check_same_vocabulary(llama.tokenizer(), q.tokenizer(), "a", "b"));
  const Tokenizer gpt2 = Tokenizer::open(std::string(TERN_SHARED_DIR) +
                                                   "/testdata/tokenizer/ggml-vocab-gpt-2.gguf");
  EXPECT_THROW(check_same_vocabulary(llama.tokenizer(), gpt2, "a", "b"), Error);
}

class Speculative : public ::testing::TestWithParam<std::string> {};

// Greedy and seeded sampling give the same tokens with either drafter as without one; the
// draft-model drafter with the model itself as its draft has every draft accepted.
TEST_P(Speculative, OutputIsTheSameWithAndWithoutDrafts) {
  const Model model = load_golden(GetParam());
  auto run = [&](Drafter* drafter, SamplingParams params) {
    Session session(model, {.n_ctx = 96, .n_threads = 2});
    SamplerChain sampler(params);
    return generate(session, model.tokenizer(), sampler, kPrompt,
                    {.n_predict = 64, .ignore_eos = true, .drafter = drafter, .n_draft = 6});
  };
  Session draft_session(model, {.n_ctx = 96, .n_threads = 2});
  for (SamplingParams params : {SamplingParams{.temp = 0.0f}, SamplingParams{.seed = 7}}) {
    const GenerateResult plain = run(nullptr, params);
    NgramDrafter ngram(1, 4);
    const GenerateResult by_ngram = run(&ngram, params);
    EXPECT_EQ(by_ngram.tokens, plain.tokens) << "temp " << params.temp;
    EXPECT_GT(by_ngram.n_drafted, 0);

    draft_session.clear();
    ModelDrafter self(draft_session, 0.0f);
    const GenerateResult by_self = run(&self, params);
    EXPECT_EQ(by_self.tokens, plain.tokens) << "temp " << params.temp;
    if (params.temp <= 0.0f) {
      EXPECT_EQ(by_self.n_accepted, by_self.n_drafted);
    }
    EXPECT_GT(by_self.n_accepted, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Goldens, Speculative,
                         ::testing::Values("llama-f32", "llama-q4_k_m", "qwen2-q4_0", "qwen3-f32",
                                           "gemma3-f32"),
                         golden::model_test_name);

// Always drafts the same tokens, whatever the context.
class FixedDrafter : public Drafter {
 public:
  explicit FixedDrafter(std::vector<TokenId> tokens) : tokens_(std::move(tokens)) {}
  std::vector<TokenId> draft(std::span<const TokenId>, int max) override {
    return {tokens_.begin(), tokens_.begin() + std::min<std::ptrdiff_t>(max, std::ssize(tokens_))};
  }

 private:
  std::vector<TokenId> tokens_;
};

// The probabilities of top-k-then-temperature sampling from `row` (the chain with top-p,
// min-p and typical off) with end-of-generation tokens out (ignore_eos): a toy vocabulary
// of k tokens.
std::map<TokenId, double> top_k_distribution(std::span<const float> row, int k, float temp,
                                             const Tokenizer& tokenizer) {
  std::vector<TokenId> ids;
  for (TokenId id = 0; id < std::ssize(row); ++id) {
    if (!tokenizer.is_end_of_generation(id)) ids.push_back(id);
  }
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                    [&](TokenId a, TokenId b) { return row[static_cast<size_t>(a)] > row[static_cast<size_t>(b)]; });
  std::map<TokenId, double> p;
  double sum = 0;
  for (int i = 0; i < k; ++i) {
    const TokenId id = ids[static_cast<size_t>(i)];
    p[id] = std::exp((row[static_cast<size_t>(id)] - row[static_cast<size_t>(ids[0])]) / temp);
    sum += p[id];
  }
  for (auto& [id, value] : p) value /= sum;
  return p;
}

// Three tokens sampled from 4 candidates each, with drafts for tokens 2 and 3 that are
// right only sometimes: the joint frequencies match the model's probabilities (computed
// by decoding every branch) by a chi-square test at p = 0.001. Accepting a draft the
// sample did not confirm would push mass onto the drafted branch and fail it.
TEST(SpeculativeSampling, FollowsTheTargetDistribution) {
  const Model model = load_golden("llama-f32");
  constexpr int kTopK = 4;
  constexpr float kTemp = 1.5f;
  const SamplingParams params{.temp = kTemp, .top_k = kTopK, .top_p = 1.0f, .min_p = 0.0f};
  Session session(model, {.n_ctx = 32, .n_threads = 2});

  // Exact joint probabilities of (t1, t2, t3).
  auto row_after = [&](std::vector<TokenId> tokens) {
    session.clear();
    auto row = session.decode(tokens);
    return std::vector<float>(row.begin(), row.end());
  };
  std::map<std::vector<TokenId>, double> expected;
  std::vector<TokenId> prefix = kPrompt;
  for (auto [t1, p1] : top_k_distribution(row_after(prefix), kTopK, kTemp, model.tokenizer())) {
    prefix.push_back(t1);
    for (auto [t2, p2] : top_k_distribution(row_after(prefix), kTopK, kTemp, model.tokenizer())) {
      prefix.push_back(t2);
      for (auto [t3, p3] : top_k_distribution(row_after(prefix), kTopK, kTemp, model.tokenizer())) {
        expected[{t1, t2, t3}] = p1 * p2 * p3;
      }
      prefix.pop_back();
    }
    prefix.pop_back();
  }
  // Drafts: the most likely second and third tokens after the most likely first.
  const auto likeliest = std::ranges::max_element(
      expected, [](const auto& a, const auto& b) { return a.second < b.second; });
  FixedDrafter drafter({likeliest->first[1], likeliest->first[2]});

  constexpr int kSamples = 6000;
  std::map<std::vector<TokenId>, int> observed;
  int64_t drafted = 0, accepted = 0;
  session.clear();
  session.decode(std::span(kPrompt).first(kPrompt.size() - 1));
  for (int i = 0; i < kSamples; ++i) {
    session.trim(std::ssize(kPrompt) - 1);
    SamplingParams seeded = params;
    seeded.seed = static_cast<uint32_t>(1000 + i);
    SamplerChain sampler(seeded);
    const GenerateResult r = generate(session, model.tokenizer(), sampler,
                                      std::span(kPrompt).last(1),
                                      {.n_predict = 3, .ignore_eos = true, .drafter = &drafter});
    ASSERT_EQ(r.tokens.size(), 3u);
    ++observed[r.tokens];
    drafted += r.n_drafted;
    accepted += r.n_accepted;
  }
  // Both outcomes of verification happen often.
  EXPECT_GT(accepted, drafted / 10);
  EXPECT_LT(accepted, drafted * 9 / 10);

  // Outcomes expected fewer than 5 times are pooled into one cell.
  double chi2 = 0, pooled_expected = 0, pooled_observed = 0;
  int cells = 0;
  for (const auto& [tokens, p] : expected) {
    const double e = p * kSamples;
    const double o = observed.contains(tokens) ? observed[tokens] : 0;
    if (e < 5) {
      pooled_expected += e;
      pooled_observed += o;
      continue;
    }
    chi2 += (o - e) * (o - e) / e;
    ++cells;
  }
  if (pooled_expected > 0) {
    chi2 += (pooled_observed - pooled_expected) * (pooled_observed - pooled_expected) /
            pooled_expected;
    ++cells;
  }
  // Every observed outcome is a possible one.
  for (const auto& [tokens, count] : observed) EXPECT_TRUE(expected.contains(tokens));
  // The 0.999 quantile of chi-square with df = cells - 1 (Wilson-Hilferty approximation).
  const double df = cells - 1;
  const double z = 3.0902;
  const double critical = df * std::pow(1 - 2 / (9 * df) + z * std::sqrt(2 / (9 * df)), 3);
  EXPECT_LT(chi2, critical) << cells << " cells";
}

// The real models: a summary-like answer that quotes its prompt, greedy, with n-gram
// drafts and with the model drafting for itself, is token for token the plain answer.
class SpeculativeRealModel : public ::testing::TestWithParam<std::string> {};

TEST_P(SpeculativeRealModel, GreedyOutputIsTheSameWithAndWithoutDrafts) {
  const Model model = Model::load(resolve_model_path(GetParam()));
  const std::string text =
      "The city council met on Tuesday to discuss the budget for road repairs. The plan "
      "includes funds for fixing potholes on Main Street, repainting crosswalks near the "
      "schools and replacing the traffic lights at the harbour, which have failed twice "
      "this winter.";
  const ChatTemplateChoice chat = choose_chat_template(model);
  const std::vector<ChatMessage> messages = {{"user", "Repeat this text exactly: " + text}};
  const std::vector<TokenId> prompt = model.tokenizer().tokenize(
      apply_chat_template(chat.tmpl, messages, true), {.add_eos = false, .parse_special = true});
  auto run = [&](Drafter* drafter) {
    Session session(model, {.n_ctx = 512, .n_threads = 2});
    SamplerChain sampler({.temp = 0.0f});
    return generate(session, model.tokenizer(), sampler, prompt,
                    {.n_predict = 96, .drafter = drafter});
  };
  const GenerateResult plain = run(nullptr);
  NgramDrafter ngram;
  const GenerateResult by_ngram = run(&ngram);
  EXPECT_EQ(by_ngram.tokens, plain.tokens) << by_ngram.text << "\n---\n" << plain.text;
  EXPECT_GT(by_ngram.acceptance_rate(), 0.5) << plain.text;
  Session draft_session(model, {.n_ctx = 512, .n_threads = 2});
  ModelDrafter self(draft_session, 0.0f);
  const GenerateResult by_self = run(&self);
  EXPECT_EQ(by_self.tokens, plain.tokens);
  EXPECT_GT(by_self.acceptance_rate(), 0.9);
}

INSTANTIATE_TEST_SUITE_P(Models, SpeculativeRealModel,
                         ::testing::Values("smollm2-135m", "gemma3-270m"),
                         golden::model_test_name);

}  // namespace
}  // namespace tern

// The grammar stage on a toy SentencePiece vocabulary: exactly the tokens that can continue
// the grammar survive at each step (hand-checked), including tokens that span several
// elements and a character split over two byte tokens; end-of-generation only where the
// grammar can end; the shortcut for greedy and top-k gives what a full check would.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "gguf/writer.h"
#include "grammar/compiled.h"
#include "sampling/grammar_filter.h"
#include "tern/error.h"
#include "tern/sampler.h"
#include "tern/tokenizer.h"
#include "tokenizer/tokenizer_internals.h"

namespace tern {
namespace {

// The toy vocabulary ("\xE2\x96\x81" is SentencePiece's space, "\xC3\xA9" is é).
// clang-format off
const std::vector<std::string> kPieces = {
    "<unk>", "<s>", "</s>",                              // 0-2; </s> ends generation
    "{", "}", "\"", "a", "b", "\":", "1", "12",           // 3-10
    "<0xC3>", "<0xA9>", "\xC3\xA9",                       // 11-13: é as two bytes, and whole
    "{\"a", "a\":1}", "\xE2\x96\x81{", ":",                 // 14-17
};
enum : TokenId {
  kEos = 2, kOpen, kClose, kQuote, kA, kB, kColon, kOne, kTwelve, kByteC3, kByteA9, kEAcute,
  kOpenQuoteA, kATail, kSpaceOpen, kColonAlone
};
// clang-format on

const char* kGrammar = R"(root ::= "{" "\"" name "\":" num "}"
name ::= ("a" | "\u00e9")+
num ::= [0-9]+)";

Tokenizer toy_tokenizer() {
  gguf::Array tokens{gguf::ValueType::String, {}};
  gguf::Array scores{gguf::ValueType::F32, {}};
  gguf::Array types{gguf::ValueType::I32, {}};
  for (size_t i = 0; i < kPieces.size(); ++i) {
    tokens.items.push_back({std::string_view(kPieces[i])});
    scores.items.push_back({0.0f});
    const bool byte = kPieces[i].starts_with("<0x");
    types.items.push_back({int32_t(i == 0 ? 2 : i < 3 ? 3 : byte ? 6 : 1)});
  }
  gguf::Writer w;
  w.add("general.architecture", {std::string_view("llama")});
  w.add("tokenizer.ggml.model", {std::string_view("llama")});
  w.add("tokenizer.ggml.tokens", {std::move(tokens)});
  w.add("tokenizer.ggml.scores", {std::move(scores)});
  w.add("tokenizer.ggml.token_type", {std::move(types)});
  w.add("tokenizer.ggml.unknown_token_id", {uint32_t{0}});
  w.add("tokenizer.ggml.bos_token_id", {uint32_t{1}});
  w.add("tokenizer.ggml.eos_token_id", {uint32_t{kEos}});
  static std::vector<uint8_t> bytes;  // gguf::File keeps views into them
  bytes = w.to_bytes();
  return TokenizerInternals::from_file(gguf::File::parse(bytes, "toy"));
}

const Tokenizer& tokenizer() {
  static const Tokenizer t = toy_tokenizer();
  return t;
}

sampling::GrammarFilter make_filter(std::string_view gbnf, size_t keep = 0) {
  return sampling::GrammarFilter(
      std::make_shared<const grammar::CompiledGrammar>(grammar::compile(gbnf)), tokenizer(), keep);
}

// The ids that survive the stage when every token has the same logit, in id order.
std::vector<TokenId> survivors(sampling::GrammarFilter& filter) {
  sampling::Candidates cur;
  cur.assign(std::vector<float>(kPieces.size(), 0.0f));
  filter.apply(cur);
  std::vector<TokenId> ids;
  for (const auto& t : cur.items) ids.push_back(t.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

using Ids = std::vector<TokenId>;

TEST(GrammarSampler, TokenBytesComeFromTheVocabulary) {
  EXPECT_EQ(tokenizer().token_bytes(kSpaceOpen), " {");
  EXPECT_EQ(tokenizer().token_bytes(kByteC3), "\xC3");
  EXPECT_EQ(tokenizer().token_bytes(kEos), "");
  EXPECT_EQ(tokenizer().token_bytes(kATail), tokenizer().token_to_piece(kATail));
}

TEST(GrammarSampler, ExactlyTheAllowedTokensSurviveEachStep) {
  sampling::GrammarFilter filter = make_filter(kGrammar);
  EXPECT_EQ(survivors(filter), (Ids{kOpen, kOpenQuoteA}));  // not " {", not EOS
  filter.accept_generated(kOpen);
  EXPECT_EQ(survivors(filter), (Ids{kQuote}));
  filter.accept_generated(kQuote);
  // "a", "é" whole or its first byte, and "a\":1}" which runs to the end of the grammar.
  EXPECT_EQ(survivors(filter), (Ids{kA, kByteC3, kEAcute, kATail}));
  filter.accept_generated(kByteC3);
  EXPECT_EQ(survivors(filter), (Ids{kByteA9}));  // only the byte that completes é
  filter.accept_generated(kByteA9);
  // '"' alone too: it begins '":', which ":" can then finish.
  EXPECT_EQ(survivors(filter), (Ids{kQuote, kA, kColon, kByteC3, kEAcute, kATail}));
  filter.accept_generated(kColon);
  EXPECT_EQ(survivors(filter), (Ids{kOne, kTwelve}));
  filter.accept_generated(kTwelve);
  EXPECT_EQ(survivors(filter), (Ids{kClose, kOne, kTwelve}));
  filter.accept_generated(kClose);
  EXPECT_EQ(survivors(filter), (Ids{kEos}));  // the grammar is complete: only the end
  filter.accept_generated(kEos);
  filter.reset();
  EXPECT_EQ(survivors(filter), (Ids{kOpen, kOpenQuoteA}));
}

TEST(GrammarSampler, EndOfGenerationOnlyWhereTheGrammarCanEnd) {
  sampling::GrammarFilter filter = make_filter(R"(root ::= "1" "2"?)");
  filter.accept_generated(kOne);
  EXPECT_EQ(survivors(filter), (Ids{kEos}));  // "2" alone is no token; "12" would be "112"
  sampling::GrammarFilter open = make_filter(kGrammar);
  EXPECT_THROW(open.accept_generated(kEos), Error);
  EXPECT_THROW(open.accept_generated(kClose), Error);
}

TEST(GrammarSampler, BannedTokensAreTheChoiceWhenNothingElseIsAllowed) {
  sampling::GrammarFilter filter = make_filter(R"(root ::= "1")");
  filter.accept_generated(kOne);
  sampling::Candidates cur;
  std::vector<float> logits(kPieces.size(), 1.0f);
  logits[kEos] = -INFINITY;  // banned, as under --ignore-eos
  cur.assign(logits);
  filter.apply(cur);
  ASSERT_EQ(cur.items.size(), 1u);
  EXPECT_EQ(cur.items[0].id, kEos);
  EXPECT_EQ(cur.items[0].logit, 0.0f);  // finite, so a draw over it is defined
}

TEST(GrammarSampler, CheckingOnlyTheBestGivesWhatAFullCheckGives) {
  const char* gbnf = R"(root ::= ([a{}"] | "\u00e9" | [0-9])+)";
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (int round = 0; round < 200; ++round) {
    std::vector<float> logits(kPieces.size());
    for (float& l : logits) l = std::round(normal(rng) * 2.0f);  // ties happen
    for (size_t keep : {1u, 2u, 3u}) {
      sampling::GrammarFilter limited = make_filter(gbnf, keep);
      sampling::GrammarFilter full = make_filter(gbnf, 0);
      sampling::Candidates a, b;
      a.assign(logits);
      b.assign(logits);
      limited.apply(a);
      full.apply(b);
      b.sort();
      b.keep_first(keep);
      ASSERT_EQ(a.items.size(), b.items.size());
      for (size_t i = 0; i < a.items.size(); ++i) EXPECT_EQ(a.items[i].id, b.items[i].id);
    }
  }
}

TEST(GrammarSampler, ChainSamplesOnlyAllowedTokens) {
  SamplingParams greedy{.temp = 0.0f, .grammar = kGrammar};
  SamplerChain chain(greedy, tokenizer());
  EXPECT_EQ(chain.describe(), "penalties -> grammar -> greedy");
  std::vector<float> logits(kPieces.size(), 0.0f);
  logits[kSpaceOpen] = 9.0f;  // the model's favourite breaks the grammar
  logits[kEos] = 8.0f;
  logits[kOpenQuoteA] = 1.0f;
  for (TokenId t : {kA, kB, kOpen}) chain.accept_prompt(t);  // prompts do not move the grammar
  EXPECT_EQ(chain.sample(logits), kOpenQuoteA);
  chain.accept(kOpenQuoteA);
  EXPECT_EQ(chain.sample(logits), kQuote);  // all allowed ones tie at 0: the lowest id
  chain.accept(kQuote);
  EXPECT_EQ(chain.sample(logits), kColonAlone);
  EXPECT_THROW(chain.accept(kOpen), Error);
}

TEST(GrammarSampler, SampledTokensFollowTheGrammar) {
  for (int32_t top_k : {0, 3}) {
    for (uint32_t seed = 1; seed <= 20; ++seed) {
      SamplerChain chain({.temp = 1.0f,
                          .top_k = top_k,
                          .top_p = 1.0f,
                          .min_p = 0.0f,
                          .seed = seed,
                          .grammar = kGrammar},
                         tokenizer());
      std::string text;
      std::vector<float> logits(kPieces.size(), 0.0f);
      for (int step = 0; step < 40; ++step) {
        const TokenId t = chain.sample(logits);
        chain.accept(t);
        if (t == kEos) break;
        text += tokenizer().token_bytes(t);
      }
      grammar::Matcher check(
          std::make_shared<const grammar::CompiledGrammar>(grammar::compile(kGrammar)));
      EXPECT_TRUE(check.accept(text)) << text;
    }
  }
}

TEST(GrammarSampler, GrammarNeedsTheTokenizerAndAValidText) {
  EXPECT_THROW(SamplerChain({.grammar = kGrammar}), Error);
  try {
    SamplerChain chain({.grammar = "root ::= x"}, tokenizer());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "grammar: 1:10: undefined rule 'x'");
  }
}

}  // namespace
}  // namespace tern

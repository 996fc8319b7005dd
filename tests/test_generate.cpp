// The generation loop (stop conditions, streaming, pending tokens, seeds), the choice of a
// model's chat format, and Conversation's KV-cache reuse across turns, on real models
// (skipped when absent; scripts/pull NAME fetches them).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "perplexity/log_probs.h"
#include "tern/batch_generate.h"
#include "tern/error.h"
#include "tern/generate.h"
#include "tern/model_path.h"
#include "tern/speculative.h"

namespace tern {
namespace {

constexpr std::string_view kQuestion =
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";

// SmolLM2 loaded once for the whole file (loading is cheap, but sessions are per test).
class SmolLm2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new Model(Model::load(resolve_model_path("smollm2-135m")));
    tokenizer_ = &model_->tokenizer();
  }
  static void TearDownTestSuite() { delete model_; }
  void SetUp() override {
    if (model_ == nullptr) GTEST_FAIL() << "smollm2-135m did not load";
  }
  std::vector<TokenId> question() const {
    return tokenizer_->tokenize(kQuestion, {.add_eos = false, .parse_special = true});
  }
  static SamplingParams greedy() { return {.temp = 0.0f}; }

  static Model* model_;
  static const Tokenizer* tokenizer_;
};
Model* SmolLm2::model_ = nullptr;
const Tokenizer* SmolLm2::tokenizer_ = nullptr;

TEST_F(SmolLm2, GreedyAnswerStopsAtEndOfGenerationAndStreamsEveryByte) {
  Session session(*model_, {.n_ctx = 128, .n_threads = 2});
  SamplerChain sampler(greedy());
  std::string streamed;
  int calls = 0;
  const GenerateResult r = generate(session, *tokenizer_, sampler, question(), {.n_predict = 32},
                                    [&](std::string_view text) {
                                      streamed += text;
                                      ++calls;
                                      return true;
                                    });
  EXPECT_NE(r.text.find("Paris"), std::string::npos) << r.text;
  EXPECT_EQ(r.stop, StopReason::EndOfGeneration);
  ASSERT_EQ(r.pending.size(), 1u);
  EXPECT_TRUE(tokenizer_->is_end_of_generation(r.pending[0]));
  EXPECT_EQ(streamed, r.text);
  EXPECT_EQ(r.text, tokenizer_->detokenize(r.tokens));
  EXPECT_EQ(calls, std::ssize(r.tokens));  // one call per generated token
  // Every generated token but the stop token is in the cache.
  EXPECT_EQ(session.n_past(), r.n_prompt + std::ssize(r.tokens));
  EXPECT_GT(r.prompt_seconds, 0.0);
  EXPECT_GT(r.generated_tokens_per_second(), 0.0);
}

TEST_F(SmolLm2, TokenCallbackGetsEachTokenItsTextAndItsLogProbability) {
  Session session(*model_, {.n_ctx = 128, .n_threads = 2});
  SamplerChain sampler(greedy());
  std::vector<TokenId> tokens;
  std::vector<float> logprobs;
  std::string streamed;
  GenerateOptions options{.n_predict = 8};
  options.n_top_logprobs = 4;
  int top_checked = 0;
  options.on_token = [&](const GeneratedToken& t) {
    if (t.token != kNoToken) {
      tokens.push_back(t.token);
      logprobs.push_back(t.logprob);
      // Greedy: the token heads its alternatives, which come most likely first.
      EXPECT_EQ(t.top.size(), 4u);
      if (!t.top.empty()) {
        EXPECT_EQ(t.top[0].token, t.token);
        EXPECT_EQ(t.top[0].logprob, t.logprob);
      }
      for (size_t i = 1; i < t.top.size(); ++i) EXPECT_LE(t.top[i].logprob, t.top[i - 1].logprob);
      ++top_checked;
    }
    streamed += t.text;
    return tokens.size() < 5;  // false stops generation, as the text callback's does
  };
  const GenerateResult r = generate(session, *tokenizer_, sampler, question(), options);
  EXPECT_EQ(tokens, r.tokens);
  EXPECT_EQ(r.stop, StopReason::Interrupted);
  EXPECT_EQ(streamed, r.text);
  // Greedy picks the most likely token: a log-probability <= 0 and, on this prompt, not far
  // from 0 for its first token ("The"/"Paris" is near certain for this model).
  ASSERT_EQ(logprobs.size(), 5u);
  EXPECT_EQ(top_checked, 5);
  GenerateOptions too_many;
  too_many.n_top_logprobs = kMaxTopLogprobs + 1;
  Session fresh(*model_, {.n_ctx = 128, .n_threads = 2});
  EXPECT_THROW(generate(fresh, *tokenizer_, sampler, question(), too_many), Error);
  EXPECT_EQ(fresh.n_past(), 0);  // refused before the prompt was decoded
  for (float lp : logprobs) EXPECT_LE(lp, 0.0f);
  EXPECT_GT(logprobs[0], -3.0f);
}

// A prompt of two pieces (prompt_logprob_rows: 341 tokens of SmolLM2's 49152 logits): each
// token after the first gets the log-softmax of the row before it, as decodes of the same
// pieces give it, with its alternatives; generate() and BatchGenerator alike, and the
// generated text is what it is without the report. (One decode of the whole prompt differs
// by up to ~0.06 past the first piece: there its keys and values come from the F16 cache.)
TEST_F(SmolLm2, PromptTokensGetTheirLogProbabilities) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += fmt::format("Line {} of a long prompt. ", i);
  const std::vector<TokenId> prompt = tokenizer_->tokenize(text);
  const auto piece = static_cast<size_t>(prompt_logprob_rows(model_->tokenizer().n_vocab()));
  ASSERT_GT(prompt.size(), piece);
  Session pieces(*model_, {.n_ctx = 1024, .n_threads = 2});
  const auto n_vocab = static_cast<size_t>(pieces.n_vocab());
  std::vector<float> expected;  // log p(prompt[i + 1] | prompt[..i])
  std::vector<float> row(n_vocab);
  for (size_t first = 0; first < prompt.size(); first += piece) {
    const size_t n = std::min(piece, prompt.size() - first);
    const std::span<const float> rows =
        pieces.decode(std::span(prompt).subspan(first, n), Outputs::All);
    for (size_t i = first; i < first + n && i + 1 < prompt.size(); ++i) {
      ppl::log_softmax(rows.subspan((i - first) * n_vocab, n_vocab), row);
      expected.push_back(row[static_cast<size_t>(prompt[i + 1])]);
    }
  }
  struct Report {
    std::vector<TokenId> tokens;
    std::vector<float> logprobs;
  };
  auto reporting = [&](Report& report) {
    GenerateOptions options{.n_predict = 6};
    options.n_top_logprobs = 3;
    options.on_prompt_token = [&report](const GeneratedToken& t) {
      report.tokens.push_back(t.token);
      report.logprobs.push_back(t.logprob);
      EXPECT_EQ(t.top.size(), 3u);
      if (!t.top.empty()) {
        EXPECT_GE(t.top[0].logprob, t.logprob);
      }
      return true;
    };
    return options;
  };
  auto check = [&](const Report& report) {
    EXPECT_EQ(report.tokens, std::vector<TokenId>(prompt.begin() + 1, prompt.end()));
    ASSERT_EQ(report.logprobs.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i)
      EXPECT_NEAR(report.logprobs[i], expected[i], 1e-4) << i;
  };
  SamplerChain plain_sampler(greedy());  // after the same pieces: their last row
  const GenerateResult plain = generate(pieces, *tokenizer_, plain_sampler, {}, {.n_predict = 6});

  Report alone;
  const GenerateOptions alone_options = reporting(alone);
  Session session(*model_, {.n_ctx = 1024, .n_threads = 2});
  SamplerChain sampler(greedy());
  EXPECT_EQ(generate(session, *tokenizer_, sampler, prompt, alone_options).text, plain.text);
  check(alone);

  Report batched;
  const GenerateOptions batched_options = reporting(batched);
  Session two(*model_, {.n_ctx = 1024, .n_threads = 2, .n_seq = 2});
  BatchGenerator generator(two, *tokenizer_);
  SamplerChain first(greedy()), second(greedy());
  const std::vector<TokenId> other = question();
  std::vector<FinishedGeneration> done;
  auto run = [&] {
    done.clear();
    while (!generator.idle()) {
      for (FinishedGeneration& f : generator.step()) done.push_back(std::move(f));
    }
  };
  SamplerChain warm(greedy());  // slot 0 then holds the prompt, which the report decodes again
  ASSERT_TRUE(generator.start(prompt, warm, {.n_predict = 1}, {}, {.slot = 0}));
  run();
  const SlotChoice kept{.slot = 0, .n_keep = std::ssize(prompt) - 1};
  ASSERT_TRUE(generator.start(prompt, first, batched_options, {}, kept));
  ASSERT_TRUE(generator.start(other, second, {.n_predict = 6}));
  run();
  ASSERT_EQ(done.size(), 2u);
  const auto reported = std::ranges::find(done, 0, &FinishedGeneration::slot);
  ASSERT_NE(reported, done.end());
  EXPECT_EQ(reported->result.text, plain.text);
  EXPECT_EQ(reported->result.n_prompt, std::ssize(prompt));
  check(batched);
}

TEST_F(SmolLm2, NPredictLimitLeavesTheLastTokenPending) {
  Session session(*model_, {.n_ctx = 128, .n_threads = 2});
  SamplerChain sampler(greedy());
  const GenerateResult r = generate(session, *tokenizer_, sampler, question(), {.n_predict = 2});
  EXPECT_EQ(r.tokens.size(), 2u);
  EXPECT_EQ(r.stop, StopReason::MaxTokens);
  EXPECT_EQ(r.pending, std::vector<TokenId>{r.tokens.back()});
  EXPECT_EQ(session.n_past(), r.n_prompt + 1);
}

// A stop string ends the text where it first appears, wherever the tokens split it; it is
// neither streamed nor in the result, and the token that completed it stays pending.
TEST_F(SmolLm2, StopStringEndsTheTextBeforeIt) {
  auto run = [&](std::vector<std::string> stop, std::string* streamed) {
    Session session(*model_, {.n_ctx = 128, .n_threads = 2});
    SamplerChain sampler(greedy());
    GenerateOptions options{.n_predict = 32};
    options.stop = std::move(stop);
    return generate(session, *tokenizer_, sampler, question(), options, [&](std::string_view t) {
      *streamed += t;
      return true;
    });
  };
  std::string full_stream;
  const GenerateResult full = run({}, &full_stream);
  const size_t at = full.text.find("aris");  // inside the token " Paris"
  ASSERT_NE(at, std::string::npos) << full.text;
  for (const std::string& stop : {std::string("aris"), full.text.substr(at, 6)}) {
    std::string streamed;
    const GenerateResult r = run({"no such text", stop}, &streamed);
    EXPECT_EQ(r.text, full.text.substr(0, at)) << stop;
    EXPECT_EQ(streamed, r.text);
    EXPECT_EQ(r.stop, StopReason::StopString);
    EXPECT_EQ(r.pending, std::vector<TokenId>{r.tokens.back()});
  }
}

TEST_F(SmolLm2, IgnoreEosRunsToTheLimitWithoutEndTokens) {
  Session session(*model_, {.n_ctx = 128, .n_threads = 2});
  SamplerChain sampler(greedy());
  const GenerateResult r =
      generate(session, *tokenizer_, sampler, question(), {.n_predict = 12, .ignore_eos = true});
  EXPECT_EQ(r.tokens.size(), 12u);  // the plain answer ends with <|im_end|> after ~8 tokens
  for (TokenId t : r.tokens) EXPECT_FALSE(tokenizer_->is_end_of_generation(t)) << t;
}

TEST_F(SmolLm2, StopsWhenTheContextIsFull) {
  const std::vector<TokenId> prompt = question();
  Session session(*model_, {.n_ctx = static_cast<int64_t>(prompt.size()) + 3, .n_threads = 2});
  SamplerChain sampler(greedy());
  const GenerateResult r =
      generate(session, *tokenizer_, sampler, prompt, {.n_predict = -1, .ignore_eos = true});
  EXPECT_EQ(r.stop, StopReason::ContextFull);
  EXPECT_EQ(r.tokens.size(), 4u);  // 3 decoded after the prompt, the 4th sampled from the last
  EXPECT_EQ(session.n_past(), session.n_ctx());
}

// With context_shift, a full context slides: the first n_keep positions stay, the oldest
// half of the rest goes, and generation runs on to its n_predict limit.
TEST_F(SmolLm2, SlidesPastAFullContextWithContextShift) {
  const std::vector<TokenId> prompt = question();
  const int64_t n_ctx = std::ssize(prompt) + 8;
  Session session(*model_, {.n_ctx = n_ctx, .n_threads = 2});
  SamplerChain sampler(greedy());
  const GenerateOptions options{
      .n_predict = 40, .ignore_eos = true, .context_shift = true, .n_keep = 5};
  const GenerateResult r = generate(session, *tokenizer_, sampler, prompt, options);
  EXPECT_EQ(r.stop, StopReason::MaxTokens);
  EXPECT_EQ(r.tokens.size(), 40u);
  EXPECT_GE(r.n_context_shifts, 2);
  EXPECT_LE(session.n_past(), n_ctx);
  const std::span<const int32_t> held = session.tokens();
  EXPECT_TRUE(std::equal(prompt.begin(), prompt.begin() + 5, held.begin()));
  // The session ends with the generated tokens but the pending last one.
  EXPECT_TRUE(std::equal(r.tokens.end() - 4, r.tokens.end() - 1, held.end() - 3));
}

// Speculative steps never pass the free positions, so a full context shifts at the same
// points with a drafter as without: greedy output is the same.
TEST_F(SmolLm2, ContextShiftWithADrafterGivesTheSameTokens) {
  const std::vector<TokenId> prompt = question();
  const int64_t n_ctx = std::ssize(prompt) + 8;
  GenerateOptions options{.n_predict = 40, .ignore_eos = true, .context_shift = true, .n_keep = 5};
  Session plain(*model_, {.n_ctx = n_ctx, .n_threads = 2});
  SamplerChain plain_sampler(greedy());
  const GenerateResult want = generate(plain, *tokenizer_, plain_sampler, prompt, options);
  NgramDrafter drafter(1, 3);
  options.drafter = &drafter;
  Session drafted(*model_, {.n_ctx = n_ctx, .n_threads = 2});
  SamplerChain drafted_sampler(greedy());
  const GenerateResult got = generate(drafted, *tokenizer_, drafted_sampler, prompt, options);
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_EQ(got.n_context_shifts, want.n_context_shifts);
  EXPECT_GT(got.n_drafted, 0);
}

// A prompt longer than the free positions makes room by a shift (not when it cannot fit).
TEST_F(SmolLm2, ContextShiftMakesRoomForAPrompt) {
  const std::vector<TokenId> prompt = question();
  Session session(*model_, {.n_ctx = std::ssize(prompt) + 4, .n_threads = 2});
  SamplerChain sampler(greedy());
  const GenerateOptions options{.n_predict = 1, .context_shift = true, .n_keep = 1};
  generate(session, *tokenizer_, sampler, prompt, options);
  const GenerateResult r = generate(session, *tokenizer_, sampler, prompt, options);
  EXPECT_EQ(r.n_context_shifts, 1);
  EXPECT_EQ(r.n_prompt, std::ssize(prompt));
  EXPECT_EQ(session.tokens().front(), prompt.front());
  const std::vector<TokenId> too_long(static_cast<size_t>(session.n_ctx()), prompt[1]);
  EXPECT_THROW(generate(session, *tokenizer_, sampler, too_long, options), ContextOverflow);
}

TEST_F(SmolLm2, PromptLongerThanTheContextIsRefusedBeforeDecoding) {
  Session session(*model_, {.n_ctx = 8, .n_threads = 2});
  SamplerChain sampler(greedy());
  try {
    generate(session, *tokenizer_, sampler, question(), {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("longer than the 8 free positions"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(session.n_past(), 0);
}

TEST_F(SmolLm2, CallbackStopsGeneration) {
  Session session(*model_, {.n_ctx = 128, .n_threads = 2});
  SamplerChain sampler(greedy());
  const GenerateResult r = generate(session, *tokenizer_, sampler, question(), {},
                                    [](std::string_view) { return false; });
  EXPECT_EQ(r.stop, StopReason::Interrupted);
  EXPECT_EQ(r.tokens.size(), 1u);
}

// An abort inside the prompt's decode stops before any token and leaves the session as it
// was; the same prompt then answers as if nothing had happened.
TEST_F(SmolLm2, AbortDuringThePromptLeavesTheSessionAsItWas) {
  Session session(*model_, {.n_ctx = 128, .n_batch = 4, .n_threads = 2});
  SamplerChain sampler(greedy());
  int asked = 0;
  const GenerateResult cut = generate(session, *tokenizer_, sampler, question(),
                                      {.n_predict = 8, .abort = [&] { return ++asked == 3; }});
  EXPECT_EQ(asked, 3);
  EXPECT_EQ(cut.stop, StopReason::Interrupted);
  EXPECT_EQ(cut.n_prompt, 0);
  EXPECT_TRUE(cut.tokens.empty());
  EXPECT_EQ(session.n_past(), 0);
  const GenerateResult r = generate(session, *tokenizer_, sampler, question(), {.n_predict = 16});
  EXPECT_NE(r.text.find("Paris"), std::string::npos) << r.text;
}

// An abort while generating stops after the token being streamed, which stays pending.
TEST_F(SmolLm2, AbortWhileGeneratingLeavesTheLastTokenPending) {
  Session session(*model_, {.n_ctx = 128, .n_threads = 2});
  SamplerChain sampler(greedy());
  int streamed = 0;
  const GenerateResult r =
      generate(session, *tokenizer_, sampler, question(), {.abort = [&] { return streamed >= 2; }},
               [&](std::string_view) {
                 ++streamed;
                 return true;
               });
  EXPECT_EQ(r.stop, StopReason::Interrupted);
  EXPECT_EQ(r.tokens.size(), 2u);
  EXPECT_EQ(r.pending, std::vector<TokenId>{r.tokens.back()});
  EXPECT_EQ(session.n_past(), r.n_prompt + 1);
}

TEST_F(SmolLm2, SameSeedSameTextOtherSeedOtherDraws) {
  const auto sample = [&](uint32_t seed) {
    Session session(*model_, {.n_ctx = 128, .n_threads = 2});
    SamplerChain sampler({.temp = 1.5f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = seed});
    const std::vector<TokenId> prompt =
        tokenizer_->tokenize("Once upon a time", {.add_eos = false});
    return generate(session, *tokenizer_, sampler, prompt, {.n_predict = 10}).tokens;
  };
  const std::vector<TokenId> a = sample(7);
  EXPECT_EQ(a, sample(7));
  // At temperature 1.5 over the whole vocabulary, ten draws from another seed all agreeing
  // has negligible probability.
  EXPECT_NE(a, sample(8));
}

TEST_F(SmolLm2, ChatTemplateComesFromTheFile) {
  const ChatTemplateChoice c = choose_chat_template(*model_);
  EXPECT_EQ(c.source, ChatTemplateSource::Metadata);
  EXPECT_EQ(c.tmpl.format, ChatFormat::ChatMl);
  EXPECT_FALSE(c.tmpl.default_system.empty());  // SmolLM2's "You are a helpful AI assistant..."
  EXPECT_TRUE(c.warning.empty());
  const ChatTemplateChoice named = choose_chat_template(*model_, "llama3");
  EXPECT_EQ(named.source, ChatTemplateSource::Named);
  EXPECT_EQ(named.tmpl.format, ChatFormat::Llama3);
  try {
    choose_chat_template(*model_, "nosuch");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'nosuch' is unknown; known: chatml"), std::string::npos)
        << e.what();
  }
}

// Two turns through Conversation leave in the session exactly the tokens of the whole
// conversation rendered at once, while the second turn decodes only its own tokens; and
// the second reply equals a fresh session's reply to the whole rendering.
TEST_F(SmolLm2, ConversationReusesTheCacheAndMatchesAFreshRendering) {
  Session session(*model_, {.n_ctx = 256, .n_threads = 2});
  SamplerChain sampler(greedy());
  const ChatTemplate tmpl = choose_chat_template(*model_).tmpl;
  // A system message of our own: SmolLM2's default one puts "The" and "L" within 0.1 logits.
  Conversation chat(session, *tokenizer_, sampler, tmpl, "You are a helpful assistant.");
  const GenerateResult first = chat.reply("What is the capital of France?", {.n_predict = 32});
  ASSERT_EQ(first.stop, StopReason::EndOfGeneration) << first.text;
  const GenerateResult second = chat.reply("And of Italy?", {.n_predict = 4});
  ASSERT_EQ(chat.history().size(), 5u);  // system, user, assistant, user, assistant

  const std::vector<ChatMessage> asked(chat.history().begin(), chat.history().end() - 1);
  const std::vector<TokenId> whole = tokenizer_->tokenize(
      apply_chat_template(tmpl, asked, true), {.add_eos = false, .parse_special = true});
  ASSERT_GE(chat.tokens().size(), whole.size());
  EXPECT_TRUE(std::equal(whole.begin(), whole.end(), chat.tokens().begin()));
  EXPECT_LT(second.n_prompt, std::ssize(whole) / 2);  // only the new turn was decoded

  Session fresh(*model_, {.n_ctx = 256, .n_threads = 2});
  SamplerChain fresh_sampler(greedy());
  const GenerateResult again = generate(fresh, *tokenizer_, fresh_sampler, whole, {.n_predict = 4});
  EXPECT_EQ(again.tokens, second.tokens) << again.text << " vs " << second.text;
}

TEST_F(SmolLm2, ConversationRefusesATurnBeyondTheContextAndResets) {
  Session session(*model_, {.n_ctx = 48, .n_threads = 2});
  SamplerChain sampler(greedy());
  Conversation chat(session, *tokenizer_, sampler, ChatFormat::ChatMl, "Be brief.");
  chat.reply("Hi", {.n_predict = 4});
  const std::string long_text(400, 'a');
  EXPECT_THROW(chat.reply(long_text, {.n_predict = 4}), ContextOverflow);
  EXPECT_EQ(chat.history().size(), 3u);  // unchanged by the refused turn
  EXPECT_TRUE(chat.fits_alone("Hi again"));
  EXPECT_FALSE(chat.fits_alone(long_text));  // no reset can make room for it
  chat.reset();
  EXPECT_EQ(chat.history().size(), 1u);  // the system message stays
  EXPECT_EQ(session.n_past(), 0);
  EXPECT_TRUE(chat.tokens().empty());
}

// With context_shift a chat slides instead of overflowing: the system turn stays at the
// start of the session, the oldest turns after it go, and every turn is answered.
TEST_F(SmolLm2, ConversationSlidesKeepingTheSystemTurn) {
  Session session(*model_, {.n_ctx = 64, .n_threads = 2});
  SamplerChain sampler(greedy());
  const ChatTemplate tmpl = choose_chat_template(*model_).tmpl;
  Conversation chat(session, *tokenizer_, sampler, tmpl, "Be brief.");
  const std::vector<TokenId> system = tokenizer_->tokenize(
      apply_chat_template(tmpl, std::vector<ChatMessage>{{"system", "Be brief."}}, false),
      {.add_eos = false, .parse_special = true});
  const GenerateOptions options{.n_predict = 24, .context_shift = true};
  int shifts = 0;
  for (const char* line : {"Name a colour.", "Name a fruit.", "Name a city.", "Name a river.",
                           "Name an animal.", "What is the capital of France?"}) {
    const GenerateResult r = chat.reply(line, options);
    shifts += r.n_context_shifts;
    ASSERT_TRUE(std::equal(system.begin(), system.end(), chat.tokens().begin()));
    EXPECT_EQ(chat.tokens().size(), static_cast<size_t>(session.n_past()));
  }
  EXPECT_GE(shifts, 1);
  EXPECT_EQ(chat.history().size(), 13u);  // the history keeps every turn's text
}

// A turn whose prompt decode is abandoned is forgotten: the next turn starts the chat.
TEST_F(SmolLm2, ConversationTurnAbortedInItsPromptIsForgotten) {
  Session session(*model_, {.n_ctx = 256, .n_batch = 4, .n_threads = 2});
  SamplerChain sampler(greedy());
  Conversation chat(session, *tokenizer_, sampler, ChatFormat::ChatMl, "Be brief.");
  const GenerateResult cut = chat.reply("Tell me a story.", {.abort = [] { return true; }});
  EXPECT_EQ(cut.stop, StopReason::Interrupted);
  EXPECT_EQ(chat.history().size(), 1u);
  EXPECT_TRUE(chat.tokens().empty());
  EXPECT_EQ(session.n_past(), 0);
  const GenerateResult r = chat.reply("What is the capital of France?", {.n_predict = 16});
  EXPECT_NE(r.text.find("Paris"), std::string::npos) << r.text;
  EXPECT_EQ(chat.history().size(), 3u);
}

TEST(ChatChoice, Gemma3BaseModelGetsGemmaFromItsArchitecture) {
  const Model model = Model::load(resolve_model_path("gemma3-270m"));
  const ChatTemplateChoice c = choose_chat_template(model);
  EXPECT_EQ(c.source, ChatTemplateSource::Architecture);
  EXPECT_EQ(c.tmpl.format, ChatFormat::Gemma);
  EXPECT_TRUE(c.warning.empty());
}

TEST(ChatChoice, LlamaWithoutTemplateFallsBackToChatMlWithAWarning) {
  const Model model = Model::load(std::string(TERN_SHARED_DIR) + "/golden/llama-f32/model.gguf");
  ASSERT_FALSE(model.meta_string("tokenizer.chat_template").has_value());
  const ChatTemplateChoice c = choose_chat_template(model);
  EXPECT_EQ(c.source, ChatTemplateSource::Fallback);
  EXPECT_EQ(c.tmpl.format, ChatFormat::ChatMl);
  EXPECT_NE(c.warning.find("no recognised chat template"), std::string::npos) << c.warning;
}

}  // namespace
}  // namespace tern

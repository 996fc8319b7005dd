// BatchGenerator: generations started at different steps (one joins while others run, one
// finishes early and its slot is reused) each give what generate() gives alone in a fresh
// session, token for token and byte for byte, greedy and with seeded samplers; its stop
// rules, aborts and refusals; and the same with speculative drafts. On the golden synthetic models (CPU).
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "golden_reference.h"
#include "tern/batch_generate.h"
#include "tern/error.h"
#include "tern/generate.h"

namespace tern {
namespace {

constexpr int64_t kCtx = 48;

// One generation of the schedule: its prompt, its options, and the step it starts at.
struct Job {
  std::vector<TokenId> prompt;
  GenerateOptions options;
  int start_step = 0;
};

// Slots: 3. Jobs 0 and 1 start together; 2 joins while they run; 1 stops early (n_predict
// 3), so 3 takes its slot; 4 waits for a slot; 5 fills its context (ContextFull).
std::vector<Job> schedule() {
  return {
      {{1, 436, 94, 16, 328}, {.n_predict = 14, .ignore_eos = true}, 0},
      {{1, 189, 240}, {.n_predict = 3}, 0},
      {{1, 43, 191, 330, 183, 426, 12, 77, 300}, {.n_predict = 10, .ignore_eos = true}, 2},
      {{1, 405, 361, 463}, {.n_predict = 12}, 3},
      {{1, 370, 93}, {.n_predict = 0}, 4},
      {std::vector<TokenId>(40, 53), {.n_predict = -1, .ignore_eos = true}, 4},
  };
}

struct Outcome {
  GenerateResult result;
  std::string streamed;
};

void expect_same(const Outcome& got, const Outcome& want, size_t job) {
  SCOPED_TRACE("job " + std::to_string(job));
  EXPECT_EQ(got.result.tokens, want.result.tokens);
  EXPECT_EQ(got.result.text, want.result.text);
  EXPECT_EQ(got.result.stop, want.result.stop);
  EXPECT_EQ(got.result.pending, want.result.pending);
  EXPECT_EQ(got.result.n_prompt, want.result.n_prompt);
  EXPECT_EQ(got.streamed, got.result.text);
}

class BatchGenerate : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    model_.emplace(Model::load(golden::kGoldenDir + GetParam() + "/model.gguf"));
  }

  // Each job alone: generate() in a fresh single-sequence session.
  std::vector<Outcome> alone(const std::vector<Job>& jobs, const SamplingParams& params) const {
    std::vector<Outcome> outcomes;
    for (size_t j = 0; j < jobs.size(); ++j) {
      Session session(*model_, {.n_ctx = kCtx, .n_threads = 2});
      SamplerChain sampler(seeded(params, j));
      Outcome o;
      o.result = generate(session, model_->tokenizer(), sampler, jobs[j].prompt, jobs[j].options,
                          [&o](std::string_view text) {
                            o.streamed += text;
                            return true;
                          });
      outcomes.push_back(std::move(o));
    }
    return outcomes;
  }

  // The jobs through one BatchGenerator of `n_slots`, each started at its step (or the
  // first step after it with a free slot).
  std::vector<Outcome> batched(const std::vector<Job>& jobs, const SamplingParams& params,
                               int n_slots) const {
    Session session(*model_, {.n_ctx = kCtx, .n_batch = 8, .n_threads = 2, .n_seq = n_slots});
    BatchGenerator generator(session, model_->tokenizer());
    std::vector<std::unique_ptr<SamplerChain>> samplers;
    std::vector<Outcome> outcomes(jobs.size());
    std::vector<int> job_in_slot(static_cast<size_t>(n_slots), -1);
    size_t next_job = 0;
    std::vector<bool> slot_used(static_cast<size_t>(n_slots), false);
    bool slot_reused = false;
    for (int step = 0; next_job < jobs.size() || !generator.idle(); ++step) {
      while (next_job < jobs.size() && jobs[next_job].start_step <= step) {
        samplers.push_back(std::make_unique<SamplerChain>(seeded(params, next_job)));
        Outcome& o = outcomes[next_job];
        const std::optional<int> slot =
            generator.start(jobs[next_job].prompt, *samplers.back(), jobs[next_job].options,
                            [&o](std::string_view text) {
                              o.streamed += text;
                              return true;
                            });
        if (!slot) {
          samplers.pop_back();
          break;
        }
        slot_reused |= slot_used[static_cast<size_t>(*slot)];
        slot_used[static_cast<size_t>(*slot)] = true;
        job_in_slot[static_cast<size_t>(*slot)] = static_cast<int>(next_job++);
      }
      for (FinishedGeneration& f : generator.step()) {
        outcomes[static_cast<size_t>(job_in_slot[static_cast<size_t>(f.slot)])].result =
            std::move(f.result);
      }
      EXPECT_LT(step, 200) << "runaway";
      if (step >= 200) break;
    }
    EXPECT_TRUE(slot_reused);
    return outcomes;
  }

  static SamplingParams seeded(SamplingParams params, size_t job) {
    params.seed += static_cast<uint32_t>(job);
    return params;
  }

  // With `drafter`, the batched jobs decode its drafts (speculative decoding) and the jobs
  // alone do not: the output is the same either way.
  void expect_batched_equals_alone(const SamplingParams& params, Drafter* drafter = nullptr) const {
    const std::vector<Job> jobs = schedule();
    const std::vector<Outcome> want = alone(jobs, params);
    std::vector<Job> drafted = jobs;
    for (Job& job : drafted) job.options.drafter = drafter;
    const std::vector<Outcome> got = batched(drafted, params, 3);
    for (size_t j = 0; j < jobs.size(); ++j) expect_same(got[j], want[j], j);
    if (drafter != nullptr) {  // job 5 repeats one token: there is something to draft
      EXPECT_GT(got[5].result.n_drafted, 0);
    }
    EXPECT_EQ(want[0].result.tokens.size(), 14u);
    EXPECT_EQ(want[1].result.tokens.size(), 3u);  // the early finisher did finish early
    EXPECT_TRUE(want[4].result.tokens.empty());
    EXPECT_EQ(want[5].result.stop, StopReason::ContextFull);
  }

  std::optional<Model> model_;
};

TEST_P(BatchGenerate, GreedyGenerationsGiveWhatEachGivesAlone) {
  expect_batched_equals_alone({.temp = 0.0f});
}

TEST_P(BatchGenerate, SeededSamplingGivesWhatEachGivesAlone) {
  expect_batched_equals_alone({.temp = 0.9f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 7});
}

TEST_P(BatchGenerate, DraftedGenerationsGiveWhatEachGivesAlone) {
  NgramDrafter ngram(1, 3);
  expect_batched_equals_alone({.temp = 0.0f}, &ngram);
  expect_batched_equals_alone({.temp = 0.9f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 7},
                              &ngram);
}

INSTANTIATE_TEST_SUITE_P(Golden, BatchGenerate,
                         ::testing::Values("llama-f32", "qwen3-f32", "llama-q4_k_m", "qwen2-q4_0"),
                         golden::model_test_name);

class BatchGeneratorRules : public ::testing::Test {
 protected:
  BatchGeneratorRules()
      : model_(Model::load(golden::kGoldenDir + "llama-f32/model.gguf")),
        session_(model_, {.n_ctx = 16, .n_threads = 2, .n_seq = 2}),
        generator_(session_, model_.tokenizer()) {}
  Model model_;
  Session session_;
  BatchGenerator generator_;
  SamplerChain sampler_{{.temp = 0.0f}};
  const std::vector<TokenId> prompt_ = {1, 436, 94};
};

TEST_F(BatchGeneratorRules, StartRefusesWhenFullAndForUnfitPrompts) {
  EXPECT_TRUE(generator_.idle());
  EXPECT_THROW(generator_.start(std::vector<TokenId>(17, 5), sampler_, {}), ContextOverflow);
  EXPECT_THROW(generator_.start({}, sampler_, {}), Error);
  EXPECT_THROW(generator_.start(std::vector<TokenId>{1, 512}, sampler_, {}), Error);
  EXPECT_EQ(generator_.start(prompt_, sampler_, {.n_predict = 2}), 0);
  EXPECT_EQ(generator_.start(prompt_, sampler_, {.n_predict = 2}), 1);
  EXPECT_EQ(generator_.start(prompt_, sampler_, {.n_predict = 2}), std::nullopt);
  EXPECT_EQ(generator_.busy(), 2);
  EXPECT_TRUE(generator_.step().empty());
  const std::vector<FinishedGeneration> done = generator_.step();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].slot, 0);
  EXPECT_EQ(done[1].slot, 1);
  EXPECT_TRUE(generator_.idle());
  EXPECT_TRUE(generator_.step().empty());
}

// A conversation's next turn in the slot that holds its first: the kept prefix is not
// decoded again, and the turn gives what generate() gives for the whole prompt alone.
TEST_F(BatchGeneratorRules, KeptPrefixContinuesAsTheWholePromptAlone) {
  const std::vector<TokenId> first = {1, 436, 94, 16};
  const std::vector<TokenId> second = {1, 436, 94, 16, 328, 189};  // starts with `first`
  ASSERT_EQ(generator_.start(first, sampler_, {.n_predict = 1}), 0);
  while (!generator_.idle()) generator_.step();
  ASSERT_EQ(session_.n_past(0), 4);  // the answer's token is pending, not decoded
  SamplerChain sampler{{.temp = 0.0f}};
  ASSERT_EQ(generator_.start(second, sampler, {.n_predict = 4}, {}, {.slot = 0, .n_keep = 4}), 0);
  std::vector<FinishedGeneration> done;
  while (!generator_.idle()) {
    for (FinishedGeneration& f : generator_.step()) done.push_back(std::move(f));
  }
  ASSERT_EQ(done.size(), 1u);
  Session alone(model_, {.n_ctx = 16, .n_threads = 2});
  SamplerChain alone_sampler{{.temp = 0.0f}};
  const GenerateResult want =
      generate(alone, model_.tokenizer(), alone_sampler, second, {.n_predict = 4});
  EXPECT_EQ(done[0].result.tokens, want.tokens);
  EXPECT_EQ(done[0].result.n_prompt, 6);
  // A slot that is busy, or a prefix past what the slot holds, is refused.
  EXPECT_THROW(generator_.start(second, sampler, {}, {}, {.slot = 0, .n_keep = 20}), Error);
  ASSERT_EQ(generator_.start(first, sampler, {.n_predict = 1}, {}, {.slot = 1}), 1);
  EXPECT_THROW(generator_.start(first, sampler, {}, {}, {.slot = 1}), Error);
  EXPECT_THROW(generator_.start(first, sampler, {}, {}, {.slot = 2}), Error);
}

TEST_F(BatchGeneratorRules, AbortBeforeThePromptAndWhileGenerating) {
  bool abort_first = true;
  bool abort_second = false;
  ASSERT_TRUE(generator_.start(prompt_, sampler_, {.abort = [&] { return abort_first; }}));
  ASSERT_TRUE(generator_.start(prompt_, sampler_, {.abort = [&] { return abort_second; }}));
  std::vector<FinishedGeneration> done = generator_.step();
  ASSERT_EQ(done.size(), 1u);  // the first never decoded its prompt
  EXPECT_EQ(done[0].result.stop, StopReason::Interrupted);
  EXPECT_EQ(done[0].result.n_prompt, 0);
  EXPECT_TRUE(done[0].result.tokens.empty());
  abort_second = true;  // seen after the token it sampled: that token stays pending
  done = generator_.step();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result.stop, StopReason::Interrupted);
  EXPECT_EQ(done[0].result.n_prompt, 3);
  ASSERT_EQ(done[0].result.tokens.size(), 1u);
  EXPECT_EQ(done[0].result.pending, done[0].result.tokens);
  EXPECT_TRUE(generator_.idle());
}

TEST_F(BatchGeneratorRules, CallbackStopsOnlyItsGeneration) {
  ASSERT_TRUE(generator_.start(prompt_, sampler_, {.n_predict = 4, .ignore_eos = true},
                               [](std::string_view) { return false; }));
  ASSERT_TRUE(generator_.start(prompt_, sampler_, {.n_predict = 4, .ignore_eos = true}));
  std::vector<FinishedGeneration> done = generator_.step();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].slot, 0);
  EXPECT_EQ(done[0].result.stop, StopReason::Interrupted);
  while (done = generator_.step(), done.empty()) {
  }
  EXPECT_EQ(done[0].slot, 1);
  EXPECT_EQ(done[0].result.stop, StopReason::MaxTokens);
  EXPECT_EQ(done[0].result.tokens.size(), 4u);
}

// With a prompt step, a long prompt takes several steps and the generation under way beside
// it gets a token at each; both give what they give alone.
TEST_F(BatchGeneratorRules, LongPromptsTakeStepsWhileOthersGenerate) {
  Session session(model_, {.n_ctx = 32, .n_threads = 2, .n_seq = 2});
  BatchGenerator generator(session, model_.tokenizer(), 4);
  EXPECT_THROW(BatchGenerator(session, model_.tokenizer(), -1), Error);
  SamplerChain first{{.temp = 0.0f}}, second{{.temp = 0.0f}};
  const GenerateOptions options{.n_predict = 8, .ignore_eos = true};
  const std::vector<TokenId> long_prompt = {1, 436, 94, 12, 300, 17, 45, 99, 123, 7, 8};
  ASSERT_EQ(generator.start(prompt_, first, options), 0);
  generator.step();  // slot 0's prompt in, its first token sampled
  ASSERT_EQ(generator.start(long_prompt, second, options), 1);
  std::vector<int64_t> n_past;  // slot 1's, step by step
  std::vector<FinishedGeneration> done;
  while (!generator.idle()) {
    const int64_t before = session.n_past(0);
    for (FinishedGeneration& f : generator.step()) done.push_back(std::move(f));
    n_past.push_back(session.n_past(1));
    if (n_past.size() <= 3) {
      EXPECT_EQ(session.n_past(0), before + 1);  // a token each step
    }
  }
  EXPECT_EQ(std::vector<int64_t>(n_past.begin(), n_past.begin() + 3),
            (std::vector<int64_t>{4, 8, 11}));  // the prompt in pieces of 4
  ASSERT_EQ(done.size(), 2u);
  for (const FinishedGeneration& f : done) {
    const std::vector<TokenId>& prompt = f.slot == 0 ? prompt_ : long_prompt;
    Session alone(model_, {.n_ctx = 32, .n_threads = 2});
    SamplerChain sampler{{.temp = 0.0f}};
    EXPECT_EQ(f.result.tokens,
              generate(alone, model_.tokenizer(), sampler, prompt, options).tokens);
    EXPECT_EQ(f.result.n_prompt, std::ssize(prompt));
  }
}

// after_prompt runs once, when the prompt is in the sequence and nothing is generated yet:
// in generate() and in the step of BatchGenerator that decoded the slot's prompt.
TEST_F(BatchGeneratorRules, AfterPromptRunsOnceBeforeTheFirstToken) {
  std::vector<int64_t> seen;  // n_past(0) and the text streamed so far, at each call
  std::string streamed;
  const GenerateOptions options{.n_predict = 3, .ignore_eos = true, .after_prompt = [&] {
                                  seen.push_back(session_.n_past(0));
                                  seen.push_back(std::ssize(streamed));
                                }};
  const auto stream = [&](std::string_view text) {
    streamed += text;
    return true;
  };
  generate(session_, model_.tokenizer(), sampler_, prompt_, options, stream);
  EXPECT_EQ(seen, (std::vector<int64_t>{3, 0}));
  session_.clear();
  seen.clear();
  streamed.clear();
  ASSERT_EQ(generator_.start(prompt_, sampler_, options, stream), 0);
  while (!generator_.idle()) generator_.step();
  EXPECT_EQ(seen, (std::vector<int64_t>{3, 0}));
}

}  // namespace
}  // namespace tern

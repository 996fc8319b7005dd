// Summarizing documents of any length: a document that fits the context is summarized in
// one prompt; a longer one is cut into overlapping chunks whose summaries are joined and
// summarized again, until the text fits. Summarizer does one document at a time;
// ParallelSummarizer runs the prompts of several at once through a BatchGenerator.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tern/batch_generate.h"
#include "tern/generate.h"

namespace tern::summarize {

struct SummarizeOptions {
  int32_t n_predict = 256;  // most tokens per summary (partial ones included)
  int32_t n_overlap = 64;   // tokens neighbouring chunks share, so no sentence is lost at a cut
  std::string instruction = "Summarize the following text in a few sentences.";
  /// The chat format to ask in; nullopt: plain completion ("Text: ... Summary:"), for base
  /// models.
  std::optional<ChatTemplate> chat;
  /// GBNF the final summary must match (tern/grammar.h; e.g. a JSON schema's): partial
  /// summaries of chunks stay free text. "": none.
  std::string grammar;
  /// Speculative decoding (GenerateOptions::drafter, n_draft) for every prompt. Prompts of
  /// several documents run at once share the drafter: it must serve interleaved sequences
  /// (NgramDrafter does; a ModelDrafter follows one sequence, so use it one document at a
  /// time). nullptr: none.
  Drafter* drafter = nullptr;
  int32_t n_draft = 6;
};

struct Summary {
  std::string text;
  int64_t n_tokens_in = 0;   // tokens of the document
  int64_t n_tokens_out = 0;  // tokens generated, partial summaries included
  int32_t n_chunks = 0;      // prompts evaluated
  int32_t n_rounds = 0;      // levels: 1 when the document fits the context
  int64_t n_drafted = 0;     // speculative decoding: tokens drafted, and accepted
  int64_t n_accepted = 0;
  double generate_seconds = 0;  // generating the summaries' tokens (prompts excluded)
};

/// Half-open token ranges [begin, end) covering [0, n_tokens) in the fewest chunks of at
/// most `max_chunk` tokens whose neighbours share `n_overlap` tokens, of nearly equal
/// length. Throws tern::Error when max_chunk <= n_overlap.
std::vector<std::pair<size_t, size_t>> chunk_ranges(size_t n_tokens, size_t max_chunk,
                                                    size_t n_overlap);

/// The prompt around a text to summarize (the instruction, in the chat format or as plain
/// completion), and how much text one prompt can hold in a context of n_ctx.
class SummaryPrompt {
 public:
  /// `tokenizer` must outlive the prompt. Throws tern::Error when the context leaves too
  /// little room for a chunk (n_ctx - prompt frame - n_predict).
  SummaryPrompt(const Tokenizer& tokenizer, SummarizeOptions options, int64_t n_ctx);

  /// The prompt tokens asking to summarize `text`.
  std::vector<TokenId> around(std::span<const TokenId> text) const;
  /// Most document tokens one prompt can hold.
  size_t capacity() const { return capacity_; }
  const SummarizeOptions& options() const { return options_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  const Tokenizer* tokenizer_;
  SummarizeOptions options_;
  std::vector<TokenId> prefix_;  // prompt tokens before the text (BOS included)
  std::vector<TokenId> suffix_;  // prompt tokens after it (up to the answer)
  size_t capacity_ = 0;
};

/// One document's summarization as rounds of prompts: a round has one prompt per chunk of
/// its text, independent of each other (they may run in any order, or at once); their
/// summaries joined are the next round's text, until the text fits one prompt. Each prompt
/// is generated in a fresh sequence with a freshly reset sampler and n_predict tokens.
class SummaryRounds {
 public:
  /// `prompt` must outlive the rounds. An empty text is done() at once.
  SummaryRounds(const SummaryPrompt& prompt, std::string_view text);

  bool done() const { return prompts_.empty(); }
  /// The prompts of the round under way; empty once done().
  const std::vector<std::vector<TokenId>>& prompts() const { return prompts_; }
  /// The round under way gives the summary itself (its text fits one prompt).
  bool final_round() const;
  /// Records what prompt `i` of the round under way generated. Returns true when that
  /// completed the round: prompts() is then the next round's, or empty when done().
  bool record(size_t i, const GenerateResult& result);
  /// The summary and its statistics; complete once done().
  const Summary& summary() const { return summary_; }

 private:
  void begin_round(std::vector<TokenId> tokens);

  const SummaryPrompt* prompt_;
  Summary summary_;
  std::vector<TokenId> tokens_;  // the round's text
  std::vector<std::vector<TokenId>> prompts_;
  std::vector<std::string> summaries_;  // per prompt of the round, once recorded
  size_t n_recorded_ = 0;
};

/// How each prompt of a summary is generated: n_predict tokens, with the drafter if any.
GenerateOptions generate_options(const SummarizeOptions& options);

/// The sampler of a final round when options().grammar is set: `params` with the grammar
/// (partial summaries stay free text); nullopt otherwise.
std::optional<SamplerChain> final_sampler(const SummaryPrompt& prompt, const SummaryRounds& rounds,
                                          SamplingParams params);

/// Summarizes documents one at a time over one session (generate()), clearing its cache
/// before every prompt. Not thread-safe (it drives the session and the sampler); one per
/// thread.
class Summarizer {
 public:
  /// The referenced objects must outlive the summarizer. Throws tern::Error when the
  /// context leaves too little room for a chunk (n_ctx - prompt frame - n_predict).
  Summarizer(Session& session, const Tokenizer& tokenizer, SamplerChain& sampler,
             SummarizeOptions options);

  Summary summarize(std::string_view text);

  /// Most document tokens one prompt can hold.
  size_t chunk_capacity() const { return prompt_.capacity(); }

 private:
  Session* session_;
  SamplerChain* sampler_;
  SummaryPrompt prompt_;
};

/// Summarizes several documents at once over one session: every prompt under way (chunks
/// of one document, or of several) is a generation in a sequence slot of a BatchGenerator,
/// so they share each decode; a long document's later rounds start as its chunks finish.
/// Each document gets what Summarizer gives it (each prompt with a sampler of `sampling`
/// freshly reset; greedy output is the same up to the batched kernels' rounding). One
/// thread drives it.
class ParallelSummarizer {
 public:
  /// One slot per sequence of `session` (n_seq). The referenced objects must outlive the
  /// summarizer. Throws tern::Error as SummaryPrompt does.
  ParallelSummarizer(Session& session, const Tokenizer& tokenizer, const SamplingParams& sampling,
                     SummarizeOptions options);
  ~ParallelSummarizer();
  ParallelSummarizer(const ParallelSummarizer&) = delete;  // documents point at prompt_
  ParallelSummarizer& operator=(const ParallelSummarizer&) = delete;

  /// Whether a slot would idle in the next step without another document: add one then.
  bool wants_document() const;
  /// Starts summarizing `text`, reported as document `id`.
  void add(size_t id, std::string_view text);

  struct Finished {
    size_t id = 0;
    Summary summary;
  };
  /// Starts what prompts have a free slot, then runs one batched step. Returns the documents
  /// that finished (in no particular order); documents that needed no prompt (an empty
  /// text) come back at once, before any step runs.
  std::vector<Finished> step();
  /// Every added document finished and was returned.
  bool idle() const;

  /// Most document tokens one prompt can hold.
  size_t chunk_capacity() const { return prompt_.capacity(); }

 private:
  struct Document;
  struct Job;

  SummaryPrompt prompt_;
  std::unique_ptr<BatchGenerator> generator_;
  std::list<Document> documents_;  // in progress, in the order added
  std::vector<Job> jobs_;          // per slot: the prompt it runs, with its sampler
  std::vector<std::unique_ptr<SamplerChain>> idle_samplers_;  // one per free slot
  std::vector<Finished> finished_;  // done before their step (empty texts)
};

}  // namespace tern::summarize

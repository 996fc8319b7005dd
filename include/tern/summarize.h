// Summarizing documents of any length: a document that fits the context is summarized in
// one prompt; a longer one is cut into overlapping chunks whose summaries are joined and
// summarized again, until the text fits.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tern/generate.h"

namespace tern::summarize {

struct SummarizeOptions {
  int32_t n_predict = 256;  // most tokens per summary (partial ones included)
  int32_t n_overlap = 64;   // tokens neighbouring chunks share, so no sentence is lost at a cut
  std::string instruction = "Summarize the following text in a few sentences.";
  /// The chat format to ask in; nullopt: plain completion ("Text: ... Summary:"), for base
  /// models.
  std::optional<ChatTemplate> chat;
};

struct Summary {
  std::string text;
  int64_t n_tokens_in = 0;   // tokens of the document
  int64_t n_tokens_out = 0;  // tokens generated, partial summaries included
  int32_t n_chunks = 0;      // prompts evaluated
  int32_t n_rounds = 0;      // levels: 1 when the document fits the context
};

/// Half-open token ranges [begin, end) covering [0, n_tokens) in the fewest chunks of at
/// most `max_chunk` tokens whose neighbours share `n_overlap` tokens, of nearly equal
/// length. Throws tern::Error when max_chunk <= n_overlap.
std::vector<std::pair<size_t, size_t>> chunk_ranges(size_t n_tokens, size_t max_chunk,
                                                    size_t n_overlap);

/// Summarizes documents over one session, clearing its cache before every prompt. Not
/// thread-safe (it drives the session and the sampler); one per thread.
class Summarizer {
 public:
  /// The referenced objects must outlive the summarizer. Throws tern::Error when the
  /// context leaves too little room for a chunk (n_ctx - prompt frame - n_predict).
  Summarizer(Session& session, const Tokenizer& tokenizer, SamplerChain& sampler,
             SummarizeOptions options);

  Summary summarize(std::string_view text);

  /// Most document tokens one prompt can hold.
  size_t chunk_capacity() const { return capacity_; }

 private:
  std::string summarize_once(std::span<const TokenId> text, Summary& stats);

  Session* session_;
  const Tokenizer* tokenizer_;
  SamplerChain* sampler_;
  SummarizeOptions options_;
  std::vector<TokenId> prefix_;  // prompt tokens before the text (BOS included)
  std::vector<TokenId> suffix_;  // prompt tokens after it (up to the answer)
  size_t capacity_ = 0;
};

}  // namespace tern::summarize

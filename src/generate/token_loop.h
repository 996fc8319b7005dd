// The per-token part of generation that generate() and BatchGenerator share: after a
// prompt is in the cache, each logits row is sampled, checked against the stop rules and
// streamed; the caller decodes the token it hands back (alone, or in a batch with other
// sequences) and brings the next row. One rule set, so a batched generation stops, streams
// and reports exactly as generate() does.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "tern/generate.h"
#include "tern/stop_strings.h"

namespace tern::detail {

/// Throws tern::ContextOverflow when `n_prompt` tokens do not fit in `n_free` positions.
void check_prompt_fits(size_t n_prompt, int64_t n_free, int64_t n_ctx);
/// Throws tern::Error for a negative options.n_draft or n_top_logprobs outside
/// 0..kMaxTopLogprobs.
void check_generate_options(const GenerateOptions& options);

/// The `n` most likely tokens of `log_probs` (one per token id), most likely first (of
/// equal log-probabilities, the lower id), into `out`.
std::span<const TokenLogProb> top_tokens(std::span<const float> log_probs, size_t n,
                                         std::vector<TokenLogProb>& out);

/// Hands options.on_prompt_token the prompt tokens that `rows` (n_vocab logits each, of
/// the positions from `first` on) predict: row r gives prompt[first + r + 1], while there
/// is one. `scratch` and `top` are reused buffers.
void report_prompt_tokens(const Tokenizer& tokenizer, const GenerateOptions& options,
                          std::span<const TokenId> prompt, size_t first,
                          std::span<const float> rows, size_t n_vocab, std::vector<float>& scratch,
                          std::vector<TokenLogProb>& top);

class TokenLoop {
 public:
  /// Starts generating after `prompt` was decoded (in `prompt_seconds`): records every
  /// prompt token in `sampler`. The referenced objects must outlive the loop.
  TokenLoop(const Tokenizer& tokenizer, SamplerChain& sampler, std::span<const TokenId> prompt,
            double prompt_seconds, const GenerateOptions& options, const TextCallback& on_text);

  /// True once a stop rule ended generation (at once for n_predict 0).
  bool finished() const { return finished_; }
  /// Tokens advance() has handed out so far (end-of-generation tokens excluded).
  int64_t n_generated() const { return std::ssize(result_.tokens); }

  /// Samples the next token from `row` (n_vocab logits), streams it and applies the stop
  /// rules; `context_full`: the sequence has no position left for it. Returns the token
  /// to decode next, or nullopt when generation stopped (finished() is true then).
  std::optional<TokenId> advance(std::span<const float> row, bool context_full);

  /// The tokens to decode next: `next` (from advance() or verify()), then what
  /// options.drafter guesses follows `held` (the sequence's tokens) and `next`: up to
  /// options.n_draft, as many as `n_free` positions and the tokens still to generate leave
  /// room for. Just `next` without a drafter.
  std::vector<TokenId> next_step(TokenId next, std::span<const TokenId> held, int64_t n_free);

  /// Samples from the logits of a decode of `step` (next_step()'s tokens, decoded at
  /// positions n_past, n_past + 1, ...; one row each): row i follows step[0..i], and its
  /// sample goes on to row i + 1 while it equals the draft step[i + 1]. Sets `n_kept` to
  /// the tokens of `step` the sequence keeps (the caller trims the rejected drafts) and
  /// returns what advance() returns for the last row it sampled from.
  std::optional<TokenId> verify(std::span<const TokenId> step, std::span<const float> logits,
                                int64_t n_past, int64_t n_ctx, int64_t& n_kept);

  /// The decode of the token advance() returned was abandoned (options.abort): it was
  /// streamed but is not in the session; generation stops as interrupted.
  void interrupt();

  /// Flushes the stream's held-back bytes and returns the result; call once.
  GenerateResult finish();

 private:
  void stop(StopReason reason, TokenId pending);

  const Tokenizer* tokenizer_;
  SamplerChain* sampler_;
  const GenerateOptions* options_;
  const TextCallback* on_text_;
  std::vector<TokenId> banned_;  // end-of-generation ids under ignore_eos
  std::vector<float> scratch_;
  std::vector<float> log_probs_;  // of the row sampled from, for options.on_token
  std::vector<TokenLogProb> top_;  // top_tokens()' result
  StreamDecoder stream_;
  StopStrings stops_;
  GenerateResult result_;
  std::chrono::steady_clock::time_point generate_start_;
  bool finished_ = false;
};

}  // namespace tern::detail

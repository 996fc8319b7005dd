// Perplexity of a model over a token stream, as llama.cpp's perplexity tool measures it:
// the stream is cut into chunks of n_ctx tokens (each starting with BOS where the
// vocabulary uses one), every chunk is evaluated from an empty cache, and only its second
// half is scored (so every scored token sees at least n_ctx/2 tokens of context).
// Optionally saves the log-probabilities (--kl-base) or compares with saved ones (KL).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "perplexity/log_probs.h"
#include "tern/model.h"
#include "tern/tokenizer.h"

namespace tern::ppl {

struct PerplexityOptions {
  int64_t n_ctx = 512;  // tokens per chunk
  int n_threads = 0;    // 0: one per physical core
  int64_t n_batch = 512;
  std::string kl_base_out;    // write the log-probabilities here
  std::string kl_compare_in;  // compare with a file written by kl_base_out
};

/// The running estimate after each chunk.
struct ChunkReport {
  int64_t chunk = 0;  // 0-based
  int64_t n_chunks = 0;
  double ppl = 0;
};

struct KlReport {
  RunningStat kl;        // per scored token, nats
  RunningStat same_top;  // 1 where both models' most likely token agree
  RunningStat base_nll;  // the base model's negative log-likelihood (its perplexity)
  double kl_median = 0, kl_p99 = 0, kl_max = 0;
};

struct PerplexityReport {
  int64_t n_chunks = 0;
  int64_t n_ctx = 0;
  RunningStat nll;  // per scored token, nats
  double ppl() const { return std::exp(nll.mean()); }
  /// Standard error of the perplexity (first-order: ppl * stderr of the mean nll).
  double ppl_error() const { return ppl() * nll.standard_error(); }
  std::optional<KlReport> kl;  // with kl_compare_in
};

/// The first `max_chunks` (0: all) whole chunks of `tokens`, concatenated, with each
/// chunk's first token replaced by `bos` unless it is kNoToken. Throws tern::Error when
/// the stream holds less than one chunk.
std::vector<TokenId> make_chunks(std::span<const TokenId> tokens, int64_t n_ctx, int64_t max_chunks,
                                 TokenId bos);

/// Evaluates `chunks` (a multiple of options.n_ctx tokens, e.g. from make_chunks or a
/// --kl-base file) and reports the perplexity; calls `on_chunk` after each chunk.
PerplexityReport evaluate_perplexity(const Model& model, std::span<const TokenId> chunks,
                                     const PerplexityOptions& options,
                                     const std::function<void(const ChunkReport&)>& on_chunk);

}  // namespace tern::ppl

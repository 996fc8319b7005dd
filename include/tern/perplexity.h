// Perplexity of a model over a token stream, as llama.cpp's perplexity tool measures it:
// the stream is cut into chunks of n_ctx tokens (each starting with BOS where the
// vocabulary uses one), every chunk is evaluated from an empty cache, and only its second
// half is scored (so every scored token sees at least n_ctx/2 tokens of context).
// Optionally saves the log-probabilities (--kl-base) or compares with saved ones (KL).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tern/model.h"
#include "tern/tokenizer.h"

namespace tern::ppl {

/// Mean of a series and the standard error of that mean.
class RunningStat {
 public:
  void add(double x) {
    ++n_;
    sum_ += x;
    sum_sq_ += x * x;
  }
  int64_t count() const { return n_; }
  double mean() const { return n_ > 0 ? sum_ / double(n_) : 0.0; }
  /// sqrt(sample variance / n); 0 with fewer than two values.
  double standard_error() const {
    if (n_ < 2) return 0.0;
    double var = (sum_sq_ - sum_ * sum_ / double(n_)) / double(n_ - 1);
    return std::sqrt(std::max(var, 0.0) / double(n_));
  }

 private:
  int64_t n_ = 0;
  double sum_ = 0, sum_sq_ = 0;
};

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

/// The chunks of `text` as llama-perplexity makes them: the text tokenized with BOS (and
/// EOS) where the vocabulary adds them, then make_chunks with BOS. Chunk c holds tokens
/// [c * n_ctx, (c + 1) * n_ctx) of that stream, so both tools score the same windows.
std::vector<TokenId> text_chunks(const Tokenizer& tokenizer, std::string_view text, int64_t n_ctx,
                                 int64_t max_chunks);

/// The chunks a --kl-base file was written for and their length: what a model compared
/// against that file evaluates. Throws tern::Error naming the file when it is not one.
struct KlBaseChunks {
  std::vector<TokenId> tokens;
  int64_t n_ctx = 0;
};
KlBaseChunks read_kl_base_chunks(const std::string& path);

/// Evaluates `chunks` (a multiple of options.n_ctx tokens, e.g. from make_chunks or a
/// --kl-base file) with a session of its own and reports the perplexity; calls `on_chunk`
/// after each chunk, on the calling thread. `model` may be shared with other threads.
PerplexityReport evaluate_perplexity(const Model& model, std::span<const TokenId> chunks,
                                     const PerplexityOptions& options,
                                     const std::function<void(const ChunkReport&)>& on_chunk);

}  // namespace tern::ppl

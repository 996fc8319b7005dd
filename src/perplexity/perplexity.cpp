#include "tern/perplexity.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "perplexity/kl_base_file.h"
#include "perplexity/log_probs.h"
#include "tern/error.h"
#include "tern/session.h"

namespace tern::ppl {

namespace {

// Where a chunk's log-probabilities go besides the perplexity: saved, compared, or nowhere.
class KlChannel {
 public:
  KlChannel(const PerplexityOptions& o, const KlBaseHeader& header,
            std::span<const TokenId> chunks) {
    if (!o.kl_base_out.empty())
      writer_ = std::make_unique<KlBaseWriter>(o.kl_base_out, header, chunks);
    if (!o.kl_compare_in.empty()) {
      reader_ = std::make_unique<KlBaseReader>(o.kl_compare_in);
      check_same(reader_->header(), header, reader_->tokens(), chunks, o.kl_compare_in);
      base_row_.resize(header.n_vocab);
      report_.emplace();
    }
  }

  // One scored position: its log-probabilities and the token that followed.
  void row(std::span<const float> log_probs, TokenId next) {
    if (writer_) writer_->write_row(log_probs);
    if (!reader_) return;
    reader_->read_row(base_row_);
    double kl = kl_divergence(base_row_, log_probs);
    kls_.push_back(kl);
    report_->kl.add(kl);
    report_->same_top.add(argmax(base_row_) == argmax(log_probs) ? 1.0 : 0.0);
    report_->base_nll.add(-double(base_row_[static_cast<size_t>(next)]));
  }

  std::optional<KlReport> finish() {
    if (writer_) writer_->finish();
    if (!report_ || kls_.empty()) return report_;
    std::sort(kls_.begin(), kls_.end());
    auto at = [&](double q) { return kls_[static_cast<size_t>(q * double(kls_.size() - 1))]; };
    report_->kl_median = at(0.5);
    report_->kl_p99 = at(0.99);
    report_->kl_max = kls_.back();
    return report_;
  }

 private:
  static void check_same(const KlBaseHeader& base, const KlBaseHeader& now,
                         const std::vector<int32_t>& base_tokens, std::span<const TokenId> tokens,
                         const std::string& path) {
    if (base.n_vocab != now.n_vocab || base.n_ctx != now.n_ctx || base.n_chunks != now.n_chunks ||
        !std::equal(base_tokens.begin(), base_tokens.end(), tokens.begin(), tokens.end())) {
      throw Error(fmt::format(
          "{}: made with other tokens or sizes (n_vocab {}, n_ctx {}, {} chunks; now {}, {}, {})",
          path, base.n_vocab, base.n_ctx, base.n_chunks, now.n_vocab, now.n_ctx, now.n_chunks));
    }
  }

  std::unique_ptr<KlBaseWriter> writer_;
  std::unique_ptr<KlBaseReader> reader_;
  std::vector<float> base_row_;
  std::vector<double> kls_;
  std::optional<KlReport> report_;
};

}  // namespace

std::vector<TokenId> make_chunks(std::span<const TokenId> tokens, int64_t n_ctx, int64_t max_chunks,
                                 TokenId bos) {
  int64_t n_chunks = static_cast<int64_t>(tokens.size()) / n_ctx;
  if (max_chunks > 0) n_chunks = std::min(n_chunks, max_chunks);
  if (n_ctx < 4 || n_chunks == 0) {
    throw Error(fmt::format(
        "the text has {} tokens: need at least one chunk of n_ctx {} tokens (n_ctx >= 4)",
        tokens.size(), n_ctx));
  }
  std::vector<TokenId> chunks(tokens.begin(), tokens.begin() + n_chunks * n_ctx);
  if (bos != kNoToken) {
    for (int64_t c = 0; c < n_chunks; ++c) chunks[static_cast<size_t>(c * n_ctx)] = bos;
  }
  return chunks;
}

std::vector<TokenId> text_chunks(const Tokenizer& tokenizer, std::string_view text, int64_t n_ctx,
                                 int64_t max_chunks) {
  std::vector<TokenId> tokens = tokenizer.tokenize(text, {});
  TokenId bos = tokenizer.add_bos() ? tokenizer.special().bos : kNoToken;
  return make_chunks(tokens, n_ctx, max_chunks, bos);
}

KlBaseChunks read_kl_base_chunks(const std::string& path) {
  KlBaseReader base(path);
  return {base.tokens(), base.header().n_ctx};
}

PerplexityReport evaluate_perplexity(const Model& model, std::span<const TokenId> chunks,
                                     const PerplexityOptions& options,
                                     const std::function<void(const ChunkReport&)>& on_chunk) {
  const int64_t n_ctx = options.n_ctx;
  const auto n_vocab = static_cast<size_t>(model.n_vocab());
  if (n_ctx < 4 || chunks.empty() || static_cast<int64_t>(chunks.size()) % n_ctx != 0) {
    throw Error(
        fmt::format("perplexity: {} tokens are not whole chunks of {}", chunks.size(), n_ctx));
  }
  PerplexityReport report;
  report.n_ctx = n_ctx;
  report.n_chunks = static_cast<int64_t>(chunks.size()) / n_ctx;
  const int64_t first = n_ctx / 2;  // scored: predictions made at positions [first, n_ctx - 1)
  KlBaseHeader header{static_cast<uint32_t>(n_vocab), static_cast<uint32_t>(n_ctx),
                      static_cast<uint32_t>(report.n_chunks),
                      static_cast<uint32_t>(n_ctx - 1 - first)};
  KlChannel kl(options, header, chunks);

  Session session(model, {n_ctx, options.n_batch, options.n_threads, KvType::F32});
  std::vector<float> log_probs(n_vocab);
  for (int64_t c = 0; c < report.n_chunks; ++c) {
    std::span<const TokenId> tokens =
        chunks.subspan(static_cast<size_t>(c * n_ctx), static_cast<size_t>(n_ctx));
    session.clear();
    std::span<const float> logits = session.decode(tokens, Outputs::All);  // [n_ctx, n_vocab]
    for (int64_t j = first; j < n_ctx - 1; ++j) {
      log_softmax(logits.subspan(static_cast<size_t>(j) * n_vocab, n_vocab), log_probs);
      TokenId next = tokens[static_cast<size_t>(j + 1)];
      report.nll.add(-double(log_probs[static_cast<size_t>(next)]));
      kl.row(log_probs, next);
    }
    if (on_chunk) on_chunk({c, report.n_chunks, report.ppl()});
  }
  report.kl = kl.finish();
  return report;
}

}  // namespace tern::ppl

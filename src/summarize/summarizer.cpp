// Prompt frame, chunking and the summarize-then-summarize-the-summaries recursion.
#include <fmt/format.h>

#include <algorithm>

#include "tern/error.h"
#include "tern/summarize.h"

namespace tern::summarize {

namespace {

// Where the document goes in the rendered prompt; split there into prefix and suffix.
constexpr std::string_view kTextSlot = "\x01TEXT\x01";

std::pair<std::string, std::string> prompt_frame(const SummarizeOptions& options) {
  std::string prompt;
  if (options.chat) {
    const ChatMessage user{"user", options.instruction + "\n\n" + std::string(kTextSlot)};
    prompt = apply_chat_template(*options.chat, std::span(&user, 1), true);
  } else {
    prompt = "Text:\n" + std::string(kTextSlot) + "\n\nSummary of the text above:";
  }
  const size_t at = prompt.find(kTextSlot);
  if (at == std::string::npos) throw Error("summarize: the chat template dropped the text");
  return {prompt.substr(0, at), prompt.substr(at + kTextSlot.size())};
}

std::string_view trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(" \t\r\n") - begin + 1);
}

}  // namespace

std::vector<std::pair<size_t, size_t>> chunk_ranges(size_t n_tokens, size_t max_chunk,
                                                    size_t n_overlap) {
  if (max_chunk <= n_overlap) {
    throw Error(
        fmt::format("summarize: chunks of {} tokens cannot overlap by {}", max_chunk, n_overlap));
  }
  if (n_tokens <= max_chunk) return {{0, n_tokens}};
  // k chunks of length L cover n when k*L - (k-1)*overlap >= n; the fewest k with L <= max.
  const size_t step_max = max_chunk - n_overlap;
  const size_t k = (n_tokens - n_overlap + step_max - 1) / step_max;
  const size_t length = (n_tokens + (k - 1) * n_overlap + k - 1) / k;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (size_t i = 0; i < k; ++i) {
    const size_t begin = i * (length - n_overlap);
    ranges.emplace_back(begin, std::min(n_tokens, begin + length));
  }
  return ranges;
}

Summarizer::Summarizer(Session& session, const Tokenizer& tokenizer, SamplerChain& sampler,
                       SummarizeOptions options)
    : session_(&session), tokenizer_(&tokenizer), sampler_(&sampler), options_(std::move(options)) {
  const auto [prefix, suffix] = prompt_frame(options_);
  prefix_ = tokenizer.tokenize(prefix, {.add_eos = false, .parse_special = true});
  suffix_ = tokenizer.tokenize(suffix, {.add_bos = false, .add_eos = false, .parse_special = true});
  const int64_t room = session.n_ctx() - std::ssize(prefix_) - std::ssize(suffix_) -
                       std::max<int64_t>(options_.n_predict, 1);
  if (room <= 2 * static_cast<int64_t>(options_.n_overlap)) {
    throw Error(fmt::format(
        "summarize: a context of {} tokens leaves {} for the text after the prompt ({} tokens) "
        "and the summary ({} tokens); use a larger context or fewer summary tokens",
        session.n_ctx(), room, prefix_.size() + suffix_.size(), options_.n_predict));
  }
  capacity_ = static_cast<size_t>(room);
}

std::string Summarizer::summarize_once(std::span<const TokenId> text, Summary& stats) {
  std::vector<TokenId> prompt = prefix_;
  prompt.insert(prompt.end(), text.begin(), text.end());
  prompt.insert(prompt.end(), suffix_.begin(), suffix_.end());
  session_->clear();
  sampler_->reset();
  const GenerateResult result =
      generate(*session_, *tokenizer_, *sampler_, prompt, {.n_predict = options_.n_predict});
  stats.n_tokens_out += std::ssize(result.tokens);
  stats.n_chunks += 1;
  return std::string(trim(result.text));
}

Summary Summarizer::summarize(std::string_view text) {
  Summary stats;
  const TokenizeOptions plain{.add_bos = false, .add_eos = false};
  std::vector<TokenId> tokens = tokenizer_->tokenize(text, plain);
  stats.n_tokens_in = std::ssize(tokens);
  if (tokens.empty()) return stats;
  while (true) {
    stats.n_rounds += 1;
    if (tokens.size() <= capacity_) {
      stats.text = summarize_once(tokens, stats);
      return stats;
    }
    std::string joined;
    for (auto [begin, end] : chunk_ranges(tokens.size(), capacity_, options_.n_overlap)) {
      const std::span<const TokenId> chunk(tokens.data() + begin, end - begin);
      if (!joined.empty()) joined += "\n\n";
      joined += summarize_once(chunk, stats);
    }
    std::vector<TokenId> next = tokenizer_->tokenize(joined, plain);
    // Summaries longer than their text would never converge: keep what fits.
    if (next.size() >= tokens.size()) next.resize(capacity_);
    tokens = std::move(next);
  }
}

}  // namespace tern::summarize

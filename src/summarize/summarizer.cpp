// Prompt frame, chunking, the rounds of summarize-then-summarize-the-summaries, and the
// one-document-at-a-time Summarizer over them.
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

constexpr TokenizeOptions kPlain{.add_bos = false, .add_eos = false};

std::string trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  return std::string(text.substr(begin, text.find_last_not_of(" \t\r\n") - begin + 1));
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

SummaryPrompt::SummaryPrompt(const Tokenizer& tokenizer, SummarizeOptions options, int64_t n_ctx)
    : tokenizer_(&tokenizer), options_(std::move(options)) {
  const auto [prefix, suffix] = prompt_frame(options_);
  prefix_ = tokenizer.tokenize(prefix, {.add_eos = false, .parse_special = true});
  suffix_ = tokenizer.tokenize(suffix, {.add_bos = false, .add_eos = false, .parse_special = true});
  const int64_t room =
      n_ctx - std::ssize(prefix_) - std::ssize(suffix_) - std::max<int64_t>(options_.n_predict, 1);
  if (room <= 2 * static_cast<int64_t>(options_.n_overlap)) {
    throw Error(fmt::format(
        "summarize: a context of {} tokens leaves {} for the text after the prompt ({} tokens) "
        "and the summary ({} tokens); use a larger context or fewer summary tokens",
        n_ctx, room, prefix_.size() + suffix_.size(), options_.n_predict));
  }
  capacity_ = static_cast<size_t>(room);
}

std::vector<TokenId> SummaryPrompt::around(std::span<const TokenId> text) const {
  std::vector<TokenId> prompt = prefix_;
  prompt.insert(prompt.end(), text.begin(), text.end());
  prompt.insert(prompt.end(), suffix_.begin(), suffix_.end());
  return prompt;
}

SummaryRounds::SummaryRounds(const SummaryPrompt& prompt, std::string_view text)
    : prompt_(&prompt) {
  std::vector<TokenId> tokens = prompt.tokenizer().tokenize(text, kPlain);
  summary_.n_tokens_in = std::ssize(tokens);
  if (!tokens.empty()) begin_round(std::move(tokens));
}

void SummaryRounds::begin_round(std::vector<TokenId> tokens) {
  summary_.n_rounds += 1;
  tokens_ = std::move(tokens);
  prompts_.clear();
  for (auto [begin, end] :
       chunk_ranges(tokens_.size(), prompt_->capacity(), prompt_->options().n_overlap)) {
    prompts_.push_back(prompt_->around(std::span(tokens_).subspan(begin, end - begin)));
  }
  summaries_.assign(prompts_.size(), {});
  n_recorded_ = 0;
}

bool SummaryRounds::final_round() const {
  return !done() && tokens_.size() <= prompt_->capacity();
}

bool SummaryRounds::record(size_t i, const GenerateResult& result) {
  summary_.n_tokens_out += std::ssize(result.tokens);
  summary_.n_drafted += result.n_drafted;
  summary_.n_accepted += result.n_accepted;
  summary_.generate_seconds += result.generate_seconds;
  summary_.n_chunks += 1;
  summaries_.at(i) = trim(result.text);
  if (++n_recorded_ < prompts_.size()) return false;
  if (tokens_.size() <= prompt_->capacity()) {  // the text fit one prompt: its summary is final
    summary_.text = std::move(summaries_[0]);
    prompts_.clear();
    return true;
  }
  std::string joined;
  for (const std::string& s : summaries_) {
    if (!joined.empty()) joined += "\n\n";
    joined += s;
  }
  std::vector<TokenId> next = prompt_->tokenizer().tokenize(joined, kPlain);
  // Summaries longer than their text would never converge: keep what fits.
  if (next.size() >= tokens_.size()) next.resize(prompt_->capacity());
  begin_round(std::move(next));
  return true;
}

GenerateOptions generate_options(const SummarizeOptions& options) {
  return {.n_predict = options.n_predict, .drafter = options.drafter, .n_draft = options.n_draft};
}

std::optional<SamplerChain> final_sampler(const SummaryPrompt& prompt, const SummaryRounds& rounds,
                                          SamplingParams params) {
  if (prompt.options().grammar.empty() || !rounds.final_round()) return std::nullopt;
  params.grammar = prompt.options().grammar;
  return std::optional<SamplerChain>(std::in_place, params, prompt.tokenizer());
}

Summarizer::Summarizer(Session& session, const Tokenizer& tokenizer, SamplerChain& sampler,
                       SummarizeOptions options)
    : session_(&session),
      sampler_(&sampler),
      prompt_(tokenizer, std::move(options), session.n_ctx()) {}

Summary Summarizer::summarize(std::string_view text) {
  SummaryRounds rounds(prompt_, text);
  while (!rounds.done()) {
    const size_t n_prompts = rounds.prompts().size();
    std::optional<SamplerChain> constrained = final_sampler(prompt_, rounds, sampler_->params());
    SamplerChain& sampler = constrained ? *constrained : *sampler_;
    for (size_t i = 0; i < n_prompts; ++i) {
      session_->clear();
      sampler.reset();
      rounds.record(i, generate(*session_, prompt_.tokenizer(), sampler, rounds.prompts()[i],
                                generate_options(prompt_.options())));
    }
  }
  return rounds.summary();
}

}  // namespace tern::summarize

// Sample -> stop? -> stream, one token at a time, for generate() and BatchGenerator.
#include "generate/token_loop.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <string>

#include "perplexity/log_probs.h"
#include "tern/error.h"

namespace tern::detail {

namespace {

using Clock = std::chrono::steady_clock;

// Every end-of-generation id of the vocabulary (EOS, EOT, end-of-turn markers).
std::vector<TokenId> end_of_generation_ids(const Tokenizer& tokenizer) {
  std::vector<TokenId> ids;
  for (TokenId id = 0; id < tokenizer.n_vocab(); ++id) {
    if (tokenizer.is_end_of_generation(id)) ids.push_back(id);
  }
  return ids;
}

// Samples the next token; with `banned` non-empty those ids get -inf first (--ignore-eos).
TokenId sample_next(SamplerChain& sampler, std::span<const float> row,
                    std::span<const TokenId> banned, std::vector<float>& scratch) {
  if (banned.empty()) return sampler.sample(row);
  scratch.assign(row.begin(), row.end());
  for (TokenId id : banned) {
    if (static_cast<size_t>(id) < scratch.size()) {
      scratch[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
    }
  }
  return sampler.sample(scratch);
}

}  // namespace

void check_prompt_fits(size_t n_prompt, int64_t n_free, int64_t n_ctx) {
  if (static_cast<int64_t>(n_prompt) > n_free) {
    throw ContextOverflow(fmt::format(
        "the prompt is {} tokens, longer than the {} free positions of the context (n_ctx {})",
        n_prompt, n_free, n_ctx));
  }
}

void check_generate_options(const GenerateOptions& options) {
  if (options.n_draft < 0) throw Error(fmt::format("draft size {} is negative", options.n_draft));
  if (options.n_top_logprobs < 0 || options.n_top_logprobs > kMaxTopLogprobs) {
    throw Error(fmt::format("top log-probabilities {} is not in 0..{}", options.n_top_logprobs,
                            kMaxTopLogprobs));
  }
}

std::span<const TokenLogProb> top_tokens(std::span<const float> log_probs, size_t n,
                                         std::vector<TokenLogProb>& out) {
  n = std::min(n, log_probs.size());
  out.clear();
  if (n == 0) return {};
  // A heap of the best n so far with the worst on top (of equal log-probabilities, the
  // higher id counts as worse).
  auto worse = [](const TokenLogProb& a, const TokenLogProb& b) {
    return a.logprob != b.logprob ? a.logprob > b.logprob : a.token < b.token;
  };
  for (size_t id = 0; id < log_probs.size(); ++id) {
    const TokenLogProb candidate{static_cast<TokenId>(id), log_probs[id]};
    if (out.size() < n) {
      out.push_back(candidate);
      std::push_heap(out.begin(), out.end(), worse);
    } else if (worse(candidate, out.front())) {
      std::pop_heap(out.begin(), out.end(), worse);
      out.back() = candidate;
      std::push_heap(out.begin(), out.end(), worse);
    }
  }
  std::sort_heap(out.begin(), out.end(), worse);
  return out;
}

void report_prompt_tokens(const Tokenizer& tokenizer, const GenerateOptions& options,
                          std::span<const TokenId> prompt, size_t first,
                          std::span<const float> rows, size_t n_vocab, std::vector<float>& scratch,
                          std::vector<TokenLogProb>& top) {
  for (size_t r = 0; r * n_vocab < rows.size() && first + r + 1 < prompt.size(); ++r) {
    scratch.resize(n_vocab);
    ppl::log_softmax(rows.subspan(r * n_vocab, n_vocab), scratch);
    const TokenId token = prompt[first + r + 1];
    const std::string piece = tokenizer.token_to_piece(token, true);
    options.on_prompt_token(
        {token, piece, scratch[static_cast<size_t>(token)],
         top_tokens(scratch, static_cast<size_t>(options.n_top_logprobs), top)});
  }
}

TokenLoop::TokenLoop(const Tokenizer& tokenizer, SamplerChain& sampler,
                     std::span<const TokenId> prompt, double prompt_seconds,
                     const GenerateOptions& options, const TextCallback& on_text)
    : tokenizer_(&tokenizer),
      sampler_(&sampler),
      options_(&options),
      on_text_(&on_text),
      banned_(options.ignore_eos ? end_of_generation_ids(tokenizer) : std::vector<TokenId>{}),
      stream_(tokenizer),
      stops_(options.stop),
      generate_start_(Clock::now()) {
  for (TokenId token : prompt) sampler.accept_prompt(token);
  result_.n_prompt = std::ssize(prompt);
  result_.prompt_seconds = prompt_seconds;
  finished_ = options.n_predict == 0;
}

std::optional<TokenId> TokenLoop::advance(std::span<const float> row, bool context_full) {
  const TokenId next = sample_next(*sampler_, row, banned_, scratch_);
  sampler_->accept(next);
  // Under ignore_eos an end-of-generation token is sampled only when a grammar allows
  // nothing else, so it ends generation then too.
  if (tokenizer_->is_end_of_generation(next)) {
    stop(StopReason::EndOfGeneration, next);
    return std::nullopt;
  }
  result_.tokens.push_back(next);
  const std::string piece = stops_.feed(stream_.push(next));
  result_.text += piece;
  bool go_on = !*on_text_ || (*on_text_)(piece);
  if (options_->on_token) {
    log_probs_.resize(row.size());
    ppl::log_softmax(row, log_probs_);
    const auto n_top = static_cast<size_t>(options_->n_top_logprobs);
    go_on = options_->on_token({next, piece, log_probs_[static_cast<size_t>(next)],
                                top_tokens(log_probs_, n_top, top_)}) &&
            go_on;
  }
  go_on = go_on && !(options_->abort && options_->abort());
  const bool limit_reached =
      options_->n_predict >= 0 && std::ssize(result_.tokens) >= options_->n_predict;
  if (!go_on || stops_.stopped() || limit_reached || context_full) {
    stop(!go_on              ? StopReason::Interrupted
         : stops_.stopped() ? StopReason::StopString
         : context_full     ? StopReason::ContextFull
                            : StopReason::MaxTokens,
         next);
    return std::nullopt;
  }
  return next;
}

std::vector<TokenId> TokenLoop::next_step(TokenId next, std::span<const TokenId> held,
                                          int64_t n_free) {
  std::vector<TokenId> step = {next};
  if (options_->drafter == nullptr) return step;
  int64_t room = std::min<int64_t>(options_->n_draft, n_free - 1);
  if (options_->n_predict >= 0) room = std::min(room, options_->n_predict - n_generated());
  if (room <= 0) return step;
  std::vector<TokenId> context(held.begin(), held.end());
  context.push_back(next);
  std::vector<TokenId> drafts = options_->drafter->draft(context, static_cast<int>(room));
  if (std::ssize(drafts) > room) drafts.resize(static_cast<size_t>(room));
  // Generation ends at an end-of-generation token, so nothing after one is worth verifying,
  // and the token itself ends the text without a row of its own.
  const auto end = std::ranges::find_if(drafts, [&](TokenId t) {
    return t < 0 || t >= tokenizer_->n_vocab() || tokenizer_->is_end_of_generation(t);
  });
  step.insert(step.end(), drafts.begin(), end);
  result_.n_drafted += std::ssize(step) - 1;
  return step;
}

std::optional<TokenId> TokenLoop::verify(std::span<const TokenId> step,
                                         std::span<const float> logits, int64_t n_past,
                                         int64_t n_ctx, int64_t& n_kept) {
  const size_t n_vocab = logits.size() / step.size();
  ++result_.n_steps;
  std::optional<TokenId> next;
  for (size_t i = 0; i < step.size(); ++i) {
    n_kept = static_cast<int64_t>(i) + 1;
    next = advance(logits.subspan(i * n_vocab, n_vocab), n_past + n_kept >= n_ctx);
    if (!next || i + 1 == step.size() || *next != step[i + 1]) break;
    ++result_.n_accepted;
  }
  return next;
}

void TokenLoop::interrupt() { stop(StopReason::Interrupted, result_.tokens.back()); }

void TokenLoop::stop(StopReason reason, TokenId pending) {
  result_.stop = reason;
  result_.pending = {pending};
  finished_ = true;
}

GenerateResult TokenLoop::finish() {
  // The stream's held-back bytes, then the text held back for the stop strings.
  std::string rest = stops_.feed(stream_.finish());
  rest += stops_.flush();
  result_.text += rest;
  if (!rest.empty() && *on_text_) (*on_text_)(rest);
  if (!rest.empty() && options_->on_token) options_->on_token({kNoToken, rest, 0.0f, {}});
  result_.generate_seconds = std::chrono::duration<double>(Clock::now() - generate_start_).count();
  return std::move(result_);
}

}  // namespace tern::detail

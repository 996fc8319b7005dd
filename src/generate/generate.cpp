// The token loop: prompt -> (sample -> stop? -> stream -> decode)* with timings; the
// per-token rules are TokenLoop's (token_loop.h), shared with BatchGenerator.
#include "tern/generate.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>

#include "generate/token_loop.h"
#include "tern/error.h"

namespace tern {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The last row of a decode's logits.
std::span<const float> last_row(std::span<const float> logits, int64_t n_vocab) {
  const auto n = static_cast<size_t>(n_vocab);
  if (logits.size() < n) throw Error("generate: the session has no logits to sample from");
  return logits.subspan(logits.size() - n);
}

// session.decode(tokens, outputs), or an empty span when `abort` abandoned it (nothing
// kept).
std::span<const float> decode_unless_aborted(Session& session, std::span<const TokenId> tokens,
                                             Outputs outputs, const AbortCheck& abort,
                                             bool& aborted) {
  try {
    return session.decode(tokens, outputs, abort);
  } catch (const Cancelled&) {
    aborted = true;
    return {};
  }
}

// Decodes `prompt` in pieces of prompt_logprob_rows() tokens with every position's logits,
// handing options.on_prompt_token the tokens they predict; returns the last piece's logits,
// or an empty span when `abort` abandoned it (the session trimmed back: nothing kept).
std::span<const float> decode_reporting_prompt(Session& session, const Tokenizer& tokenizer,
                                               std::span<const TokenId> prompt,
                                               const GenerateOptions& options, bool& aborted) {
  const int64_t n_past = session.n_past();
  const auto piece = static_cast<size_t>(prompt_logprob_rows(session.n_vocab()));
  std::vector<float> scratch;
  std::vector<TokenLogProb> top;
  std::span<const float> logits;
  for (size_t first = 0; first < prompt.size(); first += piece) {
    const auto tokens = prompt.subspan(first, std::min(piece, prompt.size() - first));
    logits = decode_unless_aborted(session, tokens, Outputs::All, options.abort, aborted);
    if (aborted) {
      session.trim(n_past);
      return {};
    }
    detail::report_prompt_tokens(tokenizer, options, prompt, first, logits,
                                 static_cast<size_t>(session.n_vocab()), scratch, top);
  }
  return logits;
}

// Makes room for n_needed more positions by a context shift when the options allow one:
// drops half of the positions after n_keep, or more when that is not enough. False when no
// room was missing, shifting is off, or n_keep and n_needed alone overflow the context.
bool shift_context(Session& session, const GenerateOptions& options, int64_t n_needed) {
  const int64_t n_past = session.n_past();
  const int64_t n_short = n_needed - (session.n_ctx() - n_past);
  if (!options.context_shift || n_short <= 0) return false;
  const int64_t n_keep = std::clamp<int64_t>(options.n_keep, 0, n_past);
  const int64_t n_drop = std::max((n_past - n_keep) / 2, n_short);
  if (n_drop > n_past - n_keep) return false;
  session.shift(n_keep, n_drop);
  return true;
}

}  // namespace

int64_t prompt_logprob_rows(int64_t n_vocab) {
  return std::max<int64_t>(1, (int64_t{1} << 24) / std::max<int64_t>(n_vocab, 1));
}

double GenerateResult::prompt_tokens_per_second() const {
  return prompt_seconds > 0 ? static_cast<double>(n_prompt) / prompt_seconds : 0.0;
}

double GenerateResult::generated_tokens_per_second() const {
  return generate_seconds > 0 ? static_cast<double>(tokens.size()) / generate_seconds : 0.0;
}

double GenerateResult::acceptance_rate() const {
  return n_drafted > 0 ? static_cast<double>(n_accepted) / static_cast<double>(n_drafted) : 0.0;
}

std::string_view stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::EndOfGeneration:
      return "eos";
    case StopReason::MaxTokens:
      return "length";
    case StopReason::ContextFull:
      return "context";
    case StopReason::Interrupted:
      return "interrupted";
    case StopReason::StopString:
      return "stop";
  }
  return "unknown";
}

GenerateResult generate(Session& session, const Tokenizer& tokenizer, SamplerChain& sampler,
                        std::span<const TokenId> prompt, const GenerateOptions& options,
                        const TextCallback& on_text) {
  int64_t n_shifts = shift_context(session, options, std::ssize(prompt)) ? 1 : 0;
  detail::check_prompt_fits(prompt.size(), session.n_ctx() - session.n_past(), session.n_ctx());
  detail::check_generate_options(options);
  const Clock::time_point prompt_start = Clock::now();
  bool aborted = false;
  std::span<const float> logits =
      prompt.empty() ? session.logits()
      : options.on_prompt_token
          ? decode_reporting_prompt(session, tokenizer, prompt, options, aborted)
          : decode_unless_aborted(session, prompt, Outputs::Last, options.abort, aborted);
  if (aborted) {
    GenerateResult result;
    result.prompt_seconds = seconds_since(prompt_start);
    result.stop = StopReason::Interrupted;
    result.n_context_shifts = n_shifts;
    return result;
  }
  const double prompt_seconds = seconds_since(prompt_start);
  if (options.after_prompt) options.after_prompt();
  detail::TokenLoop loop(tokenizer, sampler, prompt, prompt_seconds, options, on_text);
  // With a context shift a full context makes room for the next token instead of ending
  // generation (a shift is possible whenever n_keep leaves a position to drop).
  const bool slides = options.context_shift && options.n_keep < session.n_ctx();
  const int64_t n_ctx_limit = slides ? std::numeric_limits<int64_t>::max() : session.n_ctx();
  std::optional<TokenId> next;
  if (!loop.finished()) {
    next = loop.advance(last_row(logits, session.n_vocab()), session.n_past() >= n_ctx_limit);
  }
  while (next) {
    if (shift_context(session, options, 1)) ++n_shifts;  // only when full
    const std::vector<TokenId> step =
        loop.next_step(*next, session.tokens(), session.n_ctx() - session.n_past());
    const int64_t n_past = session.n_past();
    logits = decode_unless_aborted(session, step, Outputs::All, options.abort, aborted);
    if (aborted) {
      loop.interrupt();  // `next` was streamed but is not in the session
      break;
    }
    int64_t n_kept = 0;
    next = loop.verify(step, logits, n_past, n_ctx_limit, n_kept);
    session.trim(n_past + n_kept);  // the rejected drafts leave the cache
  }
  GenerateResult result = loop.finish();
  result.n_context_shifts = n_shifts;
  return result;
}

}  // namespace tern

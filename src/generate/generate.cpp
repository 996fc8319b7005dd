// The token loop: prompt -> (sample -> stop? -> stream -> decode)* with timings.
#include "tern/generate.h"

#include <fmt/format.h>

#include <chrono>
#include <limits>

#include "tern/error.h"

namespace tern {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The last row of a decode's logits: [n_rows, n_vocab] -> [n_vocab].
std::span<const float> last_row(std::span<const float> logits, int64_t n_vocab) {
  const auto n = static_cast<size_t>(n_vocab);
  if (logits.size() < n) throw Error("generate: the session has no logits to sample from");
  return logits.subspan(logits.size() - n);
}

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

void check_fits(const Session& session, size_t n_prompt) {
  const int64_t n_free = session.n_ctx() - session.n_past();
  if (static_cast<int64_t>(n_prompt) > n_free) {
    throw ContextOverflow(fmt::format(
        "the prompt is {} tokens, longer than the {} free positions of the context (n_ctx {})",
        n_prompt, n_free, session.n_ctx()));
  }
}

// session.decode(tokens), or an empty span when `abort` abandoned it (nothing kept).
std::span<const float> decode_unless_aborted(Session& session, std::span<const TokenId> tokens,
                                             const AbortCheck& abort, bool& aborted) {
  try {
    return session.decode(tokens, Outputs::Last, abort);
  } catch (const Cancelled&) {
    aborted = true;
    return {};
  }
}

}  // namespace

double GenerateResult::prompt_tokens_per_second() const {
  return prompt_seconds > 0 ? static_cast<double>(n_prompt) / prompt_seconds : 0.0;
}

double GenerateResult::generated_tokens_per_second() const {
  return generate_seconds > 0 ? static_cast<double>(tokens.size()) / generate_seconds : 0.0;
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
  }
  return "unknown";
}

GenerateResult generate(Session& session, const Tokenizer& tokenizer, SamplerChain& sampler,
                        std::span<const TokenId> prompt, const GenerateOptions& options,
                        const TextCallback& on_text) {
  check_fits(session, prompt.size());
  GenerateResult result;
  const Clock::time_point prompt_start = Clock::now();
  bool aborted = false;
  std::span<const float> logits =
      prompt.empty() ? session.logits()
                     : decode_unless_aborted(session, prompt, options.abort, aborted);
  result.prompt_seconds = seconds_since(prompt_start);
  if (aborted) {
    result.stop = StopReason::Interrupted;
    return result;
  }
  for (TokenId token : prompt) sampler.accept(token);
  result.n_prompt = static_cast<int64_t>(prompt.size());

  const Clock::time_point generate_start = Clock::now();
  const std::vector<TokenId> banned =
      options.ignore_eos ? end_of_generation_ids(tokenizer) : std::vector<TokenId>{};
  std::vector<float> scratch;
  StreamDecoder stream(tokenizer);
  const auto limit_reached = [&] {
    return options.n_predict >= 0 && std::ssize(result.tokens) >= options.n_predict;
  };
  // Each pass: sample, stop on end-of-generation, stream, then decode unless a limit stops.
  while (!limit_reached()) {
    const TokenId next = sample_next(sampler, last_row(logits, session.n_vocab()), banned, scratch);
    sampler.accept(next);
    if (tokenizer.is_end_of_generation(next) && banned.empty()) {
      result.stop = StopReason::EndOfGeneration;
      result.pending = {next};
      break;
    }
    result.tokens.push_back(next);
    const std::string piece = stream.push(next);
    result.text += piece;
    const bool go_on = (!on_text || on_text(piece)) && !(options.abort && options.abort());
    const bool context_full = session.n_past() >= session.n_ctx();
    if (!go_on || limit_reached() || context_full) {
      result.stop = !go_on         ? StopReason::Interrupted
                    : context_full ? StopReason::ContextFull
                                   : StopReason::MaxTokens;
      result.pending = {next};
      break;
    }
    logits = decode_unless_aborted(session, std::span(&next, 1), options.abort, aborted);
    if (aborted) {  // `next` was streamed but is not in the session
      result.stop = StopReason::Interrupted;
      result.pending = {next};
      break;
    }
  }
  const std::string rest = stream.finish();
  result.text += rest;
  if (!rest.empty() && on_text) on_text(rest);
  result.generate_seconds = seconds_since(generate_start);
  return result;
}

}  // namespace tern

// A chat that keeps its KV cache across turns: each turn feeds only the text that the
// template adds after what is already in the session.
#include <algorithm>

#include "tern/generate.h"

namespace tern {

Conversation::Conversation(Session& session, const Tokenizer& tokenizer, SamplerChain& sampler,
                           ChatTemplate tmpl, std::string system)
    : session_(&session), tokenizer_(&tokenizer), sampler_(&sampler), tmpl_(std::move(tmpl)) {
  if (!system.empty()) {
    history_.push_back({"system", std::move(system)});
    n_system_ = 1;
  }
  session_->clear();
}

// Tokens of the text the template adds for `next` (and the assistant's opening); `first`:
// for an empty session, with BOS (the tokenizer adds it, the template never writes it).
std::vector<TokenId> Conversation::turn_tokens(const ChatMessage& next, bool first) const {
  std::string text;
  if (first) {  // nothing in the session yet: the system message (if any) and `next`
    std::vector<ChatMessage> messages(history_.begin(),
                                      history_.begin() + static_cast<std::ptrdiff_t>(n_system_));
    messages.push_back(next);
    text = apply_chat_template(tmpl_, messages, true);
  } else {
    text = apply_chat_continuation(tmpl_, history_, next, true);
  }
  return tokenizer_->tokenize(text, {.add_bos = first, .add_eos = false, .parse_special = true});
}

// The system turn's tokens in `first_turn` (the first prompt, BOS first): its common prefix
// with the system message rendered alone (the template's default one when there is none;
// gemma-style formats fold it into the user turn, so the prefix ends inside that).
int64_t Conversation::system_turn_length(std::span<const TokenId> first_turn) const {
  std::vector<ChatMessage> system(history_.begin(),
                                  history_.begin() + static_cast<std::ptrdiff_t>(n_system_));
  if (system.empty() && !tmpl_.default_system.empty()) {
    system.push_back({"system", tmpl_.default_system});
  }
  const std::string text = system.empty() ? "" : apply_chat_template(tmpl_, system, false);
  const std::vector<TokenId> alone =
      tokenizer_->tokenize(text, {.add_bos = true, .add_eos = false, .parse_special = true});
  const auto [end, unused] = std::ranges::mismatch(first_turn, alone);
  return end - first_turn.begin();
}

GenerateResult Conversation::reply(std::string_view user_text, const GenerateOptions& options,
                                   const TextCallback& on_text) {
  ChatMessage user{"user", std::string(user_text)};
  const bool first = session_->n_past() == 0 && pending_.empty();
  const std::vector<TokenId> prompt = prompt_tokens(user_text);
  GenerateOptions sliding = options;
  sliding.n_keep = first ? system_turn_length(prompt) : n_keep_;
  GenerateResult result = generate(*session_, *tokenizer_, *sampler_, prompt, sliding, on_text);
  if (result.n_prompt == 0) return result;  // aborted before the turn was in the session

  // The session now holds the prompt and every generated token but the pending ones
  // (less what context shifts dropped, after the system turn).
  n_keep_ = sliding.n_keep;
  const bool ended = result.stop == StopReason::EndOfGeneration;
  pending_ = result.pending;
  if (!ended) {
    // Cut short: close the turn as the template would, so the next turn's text follows.
    const std::vector<TokenId> close =
        tokenizer_->tokenize(chat_end_of_turn(tmpl_.format),
                             {.add_bos = false, .add_eos = false, .parse_special = true});
    pending_.insert(pending_.end(), close.begin(), close.end());
  }
  history_.push_back(std::move(user));
  history_.push_back({"assistant", result.text});
  return result;
}

std::vector<TokenId> Conversation::prompt_tokens(std::string_view user_text) const {
  std::vector<TokenId> prompt = pending_;
  const std::vector<TokenId> turn =
      turn_tokens({"user", std::string(user_text)}, session_->n_past() == 0 && pending_.empty());
  prompt.insert(prompt.end(), turn.begin(), turn.end());
  return prompt;
}

bool Conversation::fits_alone(std::string_view user_text) const {
  const std::vector<TokenId> turn = turn_tokens({"user", std::string(user_text)}, true);
  return std::ssize(turn) < session_->n_ctx();
}

void Conversation::reset() {
  history_.resize(n_system_);
  n_keep_ = 0;
  pending_.clear();
  session_->clear();
  sampler_->reset();
}

}  // namespace tern

// Text generation over a Session: feeding a prompt, the token loop (sample, stop, stream)
// with its timings, choosing a model's chat format, and a multi-turn conversation that
// keeps its KV cache across turns. Used alike by `tern run`, chat and `tern summarize`.
//
// Threads: generate() and a Conversation use their session and sampler from one thread at a
// time (the tokenizer and model may be shared); choose_chat_template() reads the model only
// and may run in any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tern/chat.h"
#include "tern/model.h"
#include "tern/sampler.h"
#include "tern/session.h"
#include "tern/speculative.h"
#include "tern/tokenizer.h"

namespace tern {

/// A token and its log-probability under the model.
struct TokenLogProb {
  TokenId token = kNoToken;
  float logprob = 0.0f;
};

/// Most alternatives GenerateOptions::n_top_logprobs may ask for (OpenAI's limit).
inline constexpr int32_t kMaxTopLogprobs = 20;

/// What TokenCallback receives for each generated token (end-of-generation tokens
/// excluded): the token, the text that became complete with it (what TextCallback receives
/// for it; possibly empty) and its log-probability under the model: the log-softmax of the
/// logits it was sampled from, before the sampler's penalties, temperature and filters.
/// `top` holds the GenerateOptions::n_top_logprobs most likely tokens of that distribution,
/// most likely first (ties: lower id first); it is valid during the call only. Sent once
/// more at the end with kNoToken, log-probability 0 and no `top`, when text was still held
/// back (an unfinished character, a possible stop string) and is released.
struct GeneratedToken {
  TokenId token = kNoToken;
  std::string_view text;
  float logprob = 0.0f;
  std::span<const TokenLogProb> top;
};

/// Return false to stop generation.
using TokenCallback = std::function<bool(const GeneratedToken& token)>;

struct GenerateOptions {
  /// Most tokens to generate; < 0: until end of generation or the context is full.
  int32_t n_predict = -1;
  /// Keep going past end-of-generation tokens (EOS, EOT); they are sampled out then, unless
  /// a grammar (SamplingParams::grammar) allows nothing else: that still ends generation.
  bool ignore_eos = false;
  /// Asked inside every decode (prompt and tokens, see Session::decode) and after each
  /// generated token; true stops generation with StopReason::Interrupted. A prompt whose
  /// decode is abandoned leaves the session as it was (GenerateResult::n_prompt is 0).
  AbortCheck abort;
  /// Stop strings: generation ends at the first one in the text, which is neither streamed
  /// nor in the result (text that could still become one is held back until it cannot).
  std::vector<std::string> stop;
  /// Speculative decoding (tern/speculative.h): each decode takes the sampled token and up
  /// to n_draft tokens the drafter guesses after it, and keeps the guesses the samples
  /// confirm. The output is what it would be without a drafter. nullptr: one token per
  /// decode. The drafter must outlive the call. The default n_draft makes steps of at most
  /// 7 tokens, which the CPU computes row by row exactly as lone tokens (from 8 rows on,
  /// some matrix products take the prompt's GEMM kernels, whose rounding can flip a
  /// near-tie between two tokens).
  Drafter* drafter = nullptr;
  int32_t n_draft = 6;
  /// Called once the prompt is in the session, before the first token is sampled (e.g. to
  /// keep the prompt's state: Session::save); its time counts in neither timing. It may
  /// read the session, not change it. BatchGenerator calls it too, after the step that
  /// decoded the slot's prompt.
  std::function<void()> after_prompt;
  /// Context shift: when the context is full, keep the first n_keep positions of the
  /// session, drop the oldest half of the rest (Session::shift: the kept keys are rotated,
  /// nothing is decoded again) and go on, instead of stopping with StopReason::ContextFull.
  /// A prompt longer than the free positions makes room the same way (at least half, more
  /// if it needs more; that shift stays even if the prompt's decode is then abandoned).
  /// Generation with n_predict < 0 then ends only at end of generation, a stop string or
  /// an abort. Conversation keeps its system turn instead of n_keep. BatchGenerator does
  /// not shift.
  bool context_shift = false;
  int64_t n_keep = 0;  // positions a shift keeps at the start of the session
  /// Called with each generated token beside the TextCallback (see TokenCallback), e.g. by
  /// the C API; BatchGenerator calls it too.
  TokenCallback on_token;
  /// The most likely tokens on_token receives with each token (GeneratedToken::top),
  /// 0..kMaxTopLogprobs; generate() throws tern::Error for other values.
  int32_t n_top_logprobs = 0;
  /// Called once for each prompt token after the first, in order, before the first
  /// generated token: its log-probability given the tokens before it, and the
  /// n_top_logprobs most likely tokens there (what an OpenAI completion with echo and
  /// logprobs reports; GeneratedToken::text is the token's piece, special tokens spelt
  /// out). Its return value is ignored. The prompt is then decoded with every position's
  /// logits, in pieces of at most prompt_logprob_rows() tokens so that they take bounded
  /// memory (BatchGenerator: one piece a step), and whole: BatchGenerator keeps no prefix in
  /// the slot (SlotChoice::n_keep is taken as 0).
  TokenCallback on_prompt_token;
};

/// Prompt tokens decoded at once when GenerateOptions::on_prompt_token is set: as many as
/// 2^24 logits (64 MiB) hold, at least one.
int64_t prompt_logprob_rows(int64_t n_vocab);

/// Why generation stopped.
enum class StopReason { EndOfGeneration, MaxTokens, ContextFull, Interrupted, StopString };

/// Receives the text that became complete with each generated token (possibly empty; whole
/// UTF-8 characters only). Return false to stop generation (e.g. on Ctrl-C).
using TextCallback = std::function<bool(std::string_view text)>;

/// What one generate() call did, with wall-clock timings in seconds.
struct GenerateResult {
  std::string text;             // everything streamed, end-of-generation token excluded
  std::vector<TokenId> tokens;  // the generated tokens, end-of-generation token excluded
  StopReason stop = StopReason::MaxTokens;
  /// Sampled tokens not yet in the session: the end-of-generation token, or the last token
  /// when a limit or the callback stopped generation. Feed them before continuing the text.
  std::vector<TokenId> pending;
  int64_t n_prompt = 0;  // prompt tokens decoded
  int64_t n_drafted = 0;   // tokens the drafter guessed (speculative decoding)
  int64_t n_accepted = 0;  // of them, the ones the samples confirmed
  int64_t n_steps = 0;     // decodes of generated tokens (fewer than tokens with drafts)
  int64_t n_context_shifts = 0;  // context shifts made (GenerateOptions::context_shift)
  double prompt_seconds = 0;
  double generate_seconds = 0;  // sampling and decoding of the generated tokens

  double prompt_tokens_per_second() const;
  double generated_tokens_per_second() const;
  /// n_accepted / n_drafted; 0 without drafts.
  double acceptance_rate() const;
};

/// The name of a stop reason ("eos", "length", "context", "interrupted", "stop"), as JSON
/// shows it.
std::string_view stop_reason_name(StopReason reason);

/// Appends `prompt` to `session` (at n_past()), records every prompt token in `sampler`,
/// then samples, streams and decodes tokens until a stop condition. An empty prompt
/// continues from the session's last logits (which must exist). Throws tern::ContextOverflow,
/// before decoding anything, when the prompt does not fit in the context.
GenerateResult generate(Session& session, const Tokenizer& tokenizer, SamplerChain& sampler,
                        std::span<const TokenId> prompt, const GenerateOptions& options,
                        const TextCallback& on_text = {});

/// Where a model's chat format came from.
enum class ChatTemplateSource {
  Named,         // chosen by name (--chat-template)
  Metadata,      // recognised in the file's tokenizer.chat_template
  Architecture,  // no usable template; general.architecture implies one format (gemma3)
  Fallback,      // nothing to go on: ChatML
};

struct ChatTemplateChoice {
  ChatTemplate tmpl;
  ChatTemplateSource source = ChatTemplateSource::Fallback;
  /// One line for the user when the choice is a guess (Fallback); empty otherwise.
  std::string warning;
};

/// The chat format for `model`: `name` when not empty (throws tern::Error listing the known
/// names for an unknown one), else the file's tokenizer.chat_template when recognised, else
/// the one format its architecture implies, else ChatML with a warning.
ChatTemplateChoice choose_chat_template(const Model& model, std::string_view name = {});

/// A multi-turn chat over one session. Each turn decodes only the new tokens (the KV cache
/// keeps the earlier turns), so a reply costs its own turn, not the whole conversation.
class Conversation {
 public:
  /// `session`, `tokenizer` and `sampler` must outlive the conversation. `system` (may be
  /// empty) becomes the first message.
  Conversation(Session& session, const Tokenizer& tokenizer, SamplerChain& sampler,
               ChatTemplate tmpl, std::string system = {});

  /// Adds a user message and generates the assistant's reply, streaming it to `on_text`.
  /// With options.context_shift, a full context slides: the system turn stays, the oldest
  /// half of what follows it goes (options.n_keep is replaced by the system turn's length).
  /// Throws tern::ContextOverflow, with the conversation unchanged, when the new turn does
  /// not fit in the context (reset() starts over). When options.abort stops the turn's
  /// prompt, the conversation is unchanged too (the result has n_prompt 0, no text).
  GenerateResult reply(std::string_view user_text, const GenerateOptions& options,
                       const TextCallback& on_text = {});

  /// The tokens reply(user_text) would decode: the pending tokens of the last reply and
  /// the text the template adds for the turn (BOS first in an empty conversation).
  std::vector<TokenId> prompt_tokens(std::string_view user_text) const;

  /// The positions of the system turn in `first_turn` (a new conversation's prompt_tokens):
  /// what a context shift keeps.
  int64_t system_turn_length(std::span<const TokenId> first_turn) const;

  /// Whether a turn of `user_text` fits in a new conversation (after reset()) with room
  /// for at least one generated token: false means no reset can make it fit.
  bool fits_alone(std::string_view user_text) const;

  /// Forgets every turn but the system message and empties the session.
  void reset();

  std::span<const ChatMessage> history() const { return history_; }
  /// Every token in the session, in order (the prompt text of all turns and the replies,
  /// less what context shifts dropped).
  std::span<const TokenId> tokens() const { return session_->tokens(); }

 private:
  std::vector<TokenId> turn_tokens(const ChatMessage& next, bool first) const;

  Session* session_;
  const Tokenizer* tokenizer_;
  SamplerChain* sampler_;
  ChatTemplate tmpl_;
  std::vector<ChatMessage> history_;  // messages in the cache (plus pending_ tokens)
  std::vector<TokenId> pending_;      // from the last reply, fed with the next turn
  size_t n_system_ = 0;               // 1 with a system message
  int64_t n_keep_ = 0;                // tokens of the system turn: what a context shift keeps
};

}  // namespace tern

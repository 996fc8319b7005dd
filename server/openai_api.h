// The OpenAI API as tern serve speaks it: request bodies of /v1/chat/completions and
// /v1/completions parsed and checked into CompletionRequest, and the JSON of responses,
// stream chunks and errors. No HTTP and no model here: server.cpp routes, engine.cpp
// generates.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tern/chat.h"
#include "tern/sampler.h"
#include "tern/tokenizer.h"

namespace tern::server {

/// An error as the API reports it: the HTTP status and OpenAI's {"error": {"message",
/// "type", "code"}}.
struct ApiError : std::runtime_error {
  ApiError(int http_status, std::string error_type, std::string error_code,
           const std::string& message)
      : std::runtime_error(message),
        status(http_status),
        type(std::move(error_type)),
        code(std::move(error_code)) {}
  int status;
  std::string type;  // "invalid_request_error", "authentication_error", "server_error", ...
  std::string code;  // "invalid_json", "invalid_type", "context_length_exceeded", ...
};

/// 400 invalid_request_error with `code`.
ApiError invalid_request(const std::string& code, const std::string& message);

/// The error's JSON body.
std::string error_body(const ApiError& e);

/// A request body parsed as a JSON object; 400 invalid_json when it is not one.
nlohmann::json parse_json_object(std::string_view body);

/// A text, or token ids given directly: a completions prompt, an embeddings input.
struct TextOrTokens {
  std::string text;
  std::vector<TokenId> tokens;  // non-empty: use these instead of tokenizing `text`
};

/// `value`, the request's field `name`, as OpenAI takes a prompt or an input: a string, an
/// array of strings, an array of token ids or an array of such arrays. 400 for another
/// shape, a negative id, an empty text or array, or more than `max_items` items.
std::vector<TextOrTokens> parse_texts_or_tokens(const nlohmann::json& value, const char* name,
                                                size_t max_items);

struct RequestLimits {
  int32_t max_tokens = 4096;  // the most a request may ask for (and the default)
  size_t max_stops = 4;       // OpenAI allows up to 4 stop strings
};

/// One completion request. Sampling fields the request leaves out keep tern's (and
/// llama-server's) defaults; `temperature` 0 is greedy.
struct CompletionRequest {
  bool chat = false;
  std::vector<ChatMessage> messages;  // chat
  std::vector<TextOrTokens> prompts;  // completions: one choice (or n) per prompt
  int32_t n = 1;                      // choices per prompt (or per chat)
  std::string model;                  // echoed back
  int32_t max_tokens = 0;             // after limits: 1..RequestLimits::max_tokens
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with usage
  bool logprobs = false;       // report each token's log-probability (chat: logprobs: true;
                               // completions: logprobs: N)
  int32_t top_logprobs = 0;    // and this many most likely alternatives (0..20)
  bool echo = false;           // completions: the text (and logprobs) begin with the prompt's
};

/// A generated token's log-probability and its most likely alternatives, as a response's
/// `logprobs` reports them (texts are the tokens' bytes: a token may hold part of a
/// character; the JSON replaces what is not UTF-8 and `bytes` keeps it exact).
struct TokenLogprobs {
  std::string token;
  float logprob = 0.0f;  // NaN: none (an echoed prompt's first token), reported as null
  std::vector<std::pair<std::string, float>> top;
};

/// The most choices one request may ask for: its prompts times n.
inline constexpr size_t kMaxChoices = 64;

/// Parses and checks a request body. Throws ApiError (400) for malformed JSON, a body that
/// is not an object, a known field of the wrong type or out of range, a missing prompt or
/// messages, more than kMaxChoices choices, a response_format schema tern cannot turn into
/// a grammar.
/// response_format json_object / json_schema becomes sampling.grammar. Unknown fields are ignored
/// (clients send extras such as `user`).
CompletionRequest parse_completion_request(std::string_view body, bool chat,
                                           const RequestLimits& limits);

/// Why a completion ended, as OpenAI names it.
enum class FinishReason { Stop, Length };
std::string_view finish_reason_name(FinishReason r);

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

/// What every response of one request shares.
struct ResponseHeader {
  std::string id;  // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;
  std::string model;
  bool chat = false;
  bool logprobs = false;  // the request asked for them: `logprobs` is reported, else null
};

/// One choice of a whole response: its text, why it ended, its tokens' log-probabilities.
struct Choice {
  std::string text;
  FinishReason finish = FinishReason::Stop;
  std::vector<TokenLogprobs> logprobs;
};

/// The whole (non-streamed) response; choice i has index i.
nlohmann::json completion_response(const ResponseHeader& h, std::span<const Choice> choices,
                                   const Usage& usage);

/// One stream chunk of choice `index`: `text` so far unsent (chat: the choice's first chunk
/// also carries the role), or with `finish` the choice's last one (empty delta); with the
/// log-probabilities of the tokens generated since its last chunk when the request asked.
nlohmann::json stream_chunk(const ResponseHeader& h, int index, const std::string& text, bool first,
                            std::optional<FinishReason> finish,
                            std::span<const TokenLogprobs> logprobs = {});

/// A JSON text of `j` in which strings that are not UTF-8 (token pieces) have U+FFFD.
std::string dump_json(const nlohmann::json& j);

/// The usage chunk after the last one (stream_options.include_usage): no choices.
nlohmann::json usage_chunk(const ResponseHeader& h, const Usage& usage);

/// `data: <json>\n\n`, the Server-Sent Events framing OpenAI clients parse; the stream
/// ends with `data: [DONE]\n\n`.
std::string sse_event(const nlohmann::json& data);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace tern::server

#include "server/openai_api.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "tern/error.h"
#include "tern/generate.h"
#include "tern/grammar.h"

namespace tern::server {

using nlohmann::json;

ApiError invalid_request(const std::string& code, const std::string& message) {
  return ApiError(400, "invalid_request_error", code, message);
}

std::string error_body(const ApiError& e) {
  return json{{"error", {{"message", e.what()}, {"type", e.type}, {"code", e.code}}}}.dump();
}

nlohmann::json parse_json_object(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) throw invalid_request("invalid_json", "the body is not valid JSON");
  if (!j.is_object()) throw invalid_request("invalid_json", "the body must be a JSON object");
  return j;
}

namespace {

[[noreturn]] void wrong_type(const char* name, const char* want) {
  throw invalid_request("invalid_type", fmt::format("'{}' must be {}", name, want));
}

// The field `name` when present and not null.
const json* present(const json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::optional<double> number(const json& body, const char* name, double lo, double hi) {
  const json* v = present(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) wrong_type(name, "a number");
  double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    throw invalid_request("invalid_value", fmt::format("'{}' must be in [{}, {}]", name, lo, hi));
  }
  return x;
}

std::optional<int64_t> integer(const json& body, const char* name, int64_t lo, int64_t hi) {
  const json* v = present(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number_integer()) wrong_type(name, "an integer");
  // Unsigned values past int64 are out of range too.
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)) {
    throw invalid_request("invalid_value", fmt::format("'{}' must be in [{}, {}]", name, lo, hi));
  }
  int64_t x = v->get<int64_t>();
  if (x < lo || x > hi) {
    throw invalid_request("invalid_value", fmt::format("'{}' must be in [{}, {}]", name, lo, hi));
  }
  return x;
}

std::optional<bool> boolean(const json& body, const char* name) {
  const json* v = present(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) wrong_type(name, "a boolean");
  return v->get<bool>();
}

// A message's content: a string, or text parts [{"type": "text", "text": ...}].
std::string message_content(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) wrong_type("content", "a string or an array of text parts");
  std::string text;
  for (const json& part : content) {
    const json* type = part.is_object() ? present(part, "type") : nullptr;
    const json* t = part.is_object() ? present(part, "text") : nullptr;
    if (type == nullptr || *type != "text" || t == nullptr || !t->is_string()) {
      throw invalid_request("invalid_value", "only text content parts are supported");
    }
    text += t->get<std::string>();
  }
  return text;
}

std::vector<ChatMessage> parse_messages(const json& body) {
  const json* v = present(body, "messages");
  if (v == nullptr) throw invalid_request("missing_field", "'messages' is required");
  if (!v->is_array() || v->empty()) wrong_type("messages", "a non-empty array");
  std::vector<ChatMessage> messages;
  for (const json& m : *v) {
    if (!m.is_object()) wrong_type("messages", "an array of objects");
    const json* role = present(m, "role");
    if (role == nullptr || !role->is_string()) wrong_type("role", "a string");
    const json* content = present(m, "content");
    messages.push_back({role->get<std::string>(), content ? message_content(*content) : ""});
  }
  return messages;
}

std::vector<TokenId> token_ids(const json& array, const char* name) {
  std::vector<TokenId> ids;
  for (const json& id : array) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() > std::numeric_limits<TokenId>::max()) {
      throw invalid_request("invalid_type",
                            fmt::format("{}: token ids must be non-negative integers", name));
    }
    ids.push_back(id.get<TokenId>());
  }
  return ids;
}

// One item: a string or an array of token ids.
TextOrTokens text_or_tokens(const json& item, const char* name) {
  if (item.is_string()) {
    if (item.get_ref<const std::string&>().empty()) {
      throw invalid_request("invalid_value", fmt::format("{}: a text is empty", name));
    }
    return {.text = item.get<std::string>(), .tokens = {}};
  }
  if (item.is_array() && !item.empty()) return {.text = {}, .tokens = token_ids(item, name)};
  throw invalid_request(
      "invalid_type",
      fmt::format("{} must be a string, an array of strings, or arrays of token ids", name));
}

std::vector<std::string> parse_stop(const json& body, size_t max_stops) {
  const json* v = present(body, "stop");
  if (v == nullptr) return {};
  if (v->is_string()) return {v->get<std::string>()};
  if (!v->is_array()) wrong_type("stop", "a string or an array of strings");
  if (v->size() > max_stops) {
    throw invalid_request("invalid_value", fmt::format("at most {} stop strings", max_stops));
  }
  std::vector<std::string> stops;
  for (const json& s : *v) {
    if (!s.is_string()) wrong_type("stop", "a string or an array of strings");
    stops.push_back(s.get<std::string>());
  }
  return stops;
}

// response_format: "text", "json_object" (any JSON object) or "json_schema" (its
// json_schema.schema) become the sampler's grammar. The schema is taken from `raw` parsed
// again keeping key order: its properties' order is the order the grammar writes them in.
std::string parse_response_format(const json& body, std::string_view raw) {
  const json* v = present(body, "response_format");
  if (v == nullptr) return {};
  const json* type = v->is_object() ? present(*v, "type") : nullptr;
  if (type == nullptr || !type->is_string()) wrong_type("response_format", "an object with a 'type'");
  try {
    if (*type == "text") return {};
    if (*type == "json_object") return json_schema_to_grammar(R"({"type": "object"})");
    if (*type == "json_schema") {
      const json* spec = present(*v, "json_schema");
      const json* schema = spec && spec->is_object() ? present(*spec, "schema") : nullptr;
      if (schema == nullptr) {
        throw invalid_request("missing_field", "'response_format.json_schema.schema' is required");
      }
      const auto ordered = nlohmann::ordered_json::parse(raw);
      return json_schema_to_grammar(ordered["response_format"]["json_schema"]["schema"].dump());
    }
  } catch (const Error& e) {
    throw invalid_request("invalid_value", e.what());
  }
  throw invalid_request("invalid_value", "response_format.type must be text, json_object or json_schema");
}

// logit_bias: {"token id": bias in [-100, 100]}, as OpenAI's (whose -100 amounts to a ban);
// the ids are checked against the vocabulary when the request's sampler is built.
constexpr size_t kMaxLogitBiases = 1024;

std::vector<std::pair<int32_t, float>> parse_logit_bias(const json& j) {
  std::vector<std::pair<int32_t, float>> biases;
  const json* map = present(j, "logit_bias");
  if (map == nullptr) return biases;
  if (!map->is_object()) wrong_type("logit_bias", "an object of token ids and biases");
  if (map->size() > kMaxLogitBiases) {
    throw invalid_request("invalid_value",
                          fmt::format("logit_bias has more than {} tokens", kMaxLogitBiases));
  }
  for (const auto& [key, value] : map->items()) {
    int32_t token = 0;
    const char* end = key.data() + key.size();
    auto [ptr, ec] = std::from_chars(key.data(), end, token);
    if (key.empty() || ptr != end || ec != std::errc() || token < 0) {
      throw invalid_request("invalid_value",
                            fmt::format("logit_bias keys must be token ids, not '{}'", key));
    }
    if (!value.is_number() || !(value.get<double>() >= -100 && value.get<double>() <= 100)) {
      throw invalid_request(
          "invalid_value",
          fmt::format("logit_bias for token {} must be a number in [-100, 100]", key));
    }
    biases.emplace_back(token, value.get<float>());
  }
  return biases;
}

// chat: logprobs (a boolean) and top_logprobs (0..20, only with logprobs); completions:
// logprobs, the number of alternatives (0..20; OpenAI's legacy API allows up to 5).
void parse_logprobs(const json& j, CompletionRequest& r) {
  if (r.chat) {
    r.logprobs = boolean(j, "logprobs").value_or(false);
    std::optional<int64_t> top = integer(j, "top_logprobs", 0, kMaxTopLogprobs);
    if (top && !r.logprobs) {
      throw invalid_request("invalid_value", "top_logprobs needs logprobs: true");
    }
    r.top_logprobs = static_cast<int32_t>(top.value_or(0));
  } else if (std::optional<int64_t> n = integer(j, "logprobs", 0, kMaxTopLogprobs)) {
    r.logprobs = true;
    r.top_logprobs = static_cast<int32_t>(*n);
  }
}

}  // namespace

std::vector<TextOrTokens> parse_texts_or_tokens(const json& value, const char* name,
                                                size_t max_items) {
  if (value.is_array() && !value.empty() && value.front().is_number_integer()) {
    return {{.text = {}, .tokens = token_ids(value, name)}};  // one list of ids
  }
  if (!value.is_array()) return {text_or_tokens(value, name)};
  if (value.empty())
    throw invalid_request("invalid_value", fmt::format("{} is an empty array", name));
  if (value.size() > max_items) {
    throw invalid_request(
        "invalid_value", fmt::format("{} has {} items; at most {}", name, value.size(), max_items));
  }
  std::vector<TextOrTokens> items;
  for (const json& item : value) items.push_back(text_or_tokens(item, name));
  return items;
}

CompletionRequest parse_completion_request(std::string_view body, bool chat,
                                           const RequestLimits& limits) {
  const json j = parse_json_object(body);
  CompletionRequest r;
  r.chat = chat;
  if (chat) {
    r.messages = parse_messages(j);
  } else {
    const json* prompt = present(j, "prompt");
    if (prompt == nullptr) throw invalid_request("missing_field", "'prompt' is required");
    r.prompts = parse_texts_or_tokens(*prompt, "prompt", kMaxChoices);
  }
  if (const json* m = present(j, "model")) {
    if (!m->is_string()) wrong_type("model", "a string");
    r.model = m->get<std::string>();
  }
  r.n = static_cast<int32_t>(integer(j, "n", 1, kMaxChoices).value_or(1));
  const size_t prompts = chat ? 1 : r.prompts.size();
  if (prompts * static_cast<size_t>(r.n) > kMaxChoices) {
    throw invalid_request(
        "invalid_value",
        fmt::format("{} prompts times n = {} is more than {} choices", prompts, r.n, kMaxChoices));
  }
  parse_logprobs(j, r);
  // Completions' echo: the prompt, then the completion; max_tokens may be 0 then.
  if (!chat) r.echo = boolean(j, "echo").value_or(false);
  // max_completion_tokens is the newer name of max_tokens; 0 only with echo.
  const int64_t least = r.echo ? 0 : 1;
  std::optional<int64_t> max_tokens = integer(j, "max_completion_tokens", least, limits.max_tokens);
  if (!max_tokens) max_tokens = integer(j, "max_tokens", least, limits.max_tokens);
  r.max_tokens = static_cast<int32_t>(max_tokens.value_or(limits.max_tokens));
  SamplingParams& s = r.sampling;
  if (auto t = number(j, "temperature", 0.0, 2.0)) s.temp = static_cast<float>(*t);
  if (auto p = number(j, "top_p", 0.0, 1.0)) s.top_p = static_cast<float>(*p);
  if (auto k = integer(j, "top_k", 0, std::numeric_limits<int32_t>::max())) {
    s.top_k = static_cast<int32_t>(*k);
  }
  if (auto p = number(j, "min_p", 0.0, 1.0)) s.min_p = static_cast<float>(*p);
  if (auto p = number(j, "presence_penalty", -2.0, 2.0)) s.presence_penalty = static_cast<float>(*p);
  if (auto p = number(j, "frequency_penalty", -2.0, 2.0)) s.frequency_penalty = static_cast<float>(*p);
  if (auto seed = integer(j, "seed", std::numeric_limits<int64_t>::min(),
                          std::numeric_limits<int64_t>::max())) {
    // Any 64-bit seed; the low 32 bits seed the chain (all ones would ask for a random one).
    s.seed = static_cast<uint32_t>(*seed);
    if (s.seed == kRandomSeed) s.seed = 0;
  }
  r.stop = parse_stop(j, limits.max_stops);
  r.sampling.grammar = parse_response_format(j, body);
  r.sampling.logit_bias = parse_logit_bias(j);
  r.stream = boolean(j, "stream").value_or(false);
  if (const json* o = present(j, "stream_options")) {
    if (!o->is_object()) wrong_type("stream_options", "an object");
    r.include_usage = boolean(*o, "include_usage").value_or(false);
  }
  return r;
}

std::string_view finish_reason_name(FinishReason r) { return r == FinishReason::Stop ? "stop" : "length"; }

namespace {

json header_json(const ResponseHeader& h, bool chunk) {
  std::string object = h.chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return {{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}};
}

json bytes_json(const std::string& text) {
  json bytes = json::array();
  for (char c : text) bytes.push_back(static_cast<unsigned char>(c));
  return bytes;
}

// Chat: {"content": [{token, logprob, bytes, top_logprobs}]}; completions: the legacy
// {"tokens", "token_logprobs", "top_logprobs": [{token: logprob}]}.
json logprobs_json(bool chat, std::span<const TokenLogprobs> tokens) {
  if (chat) {
    json content = json::array();
    for (const TokenLogprobs& t : tokens) {
      json top = json::array();
      for (const auto& [text, logprob] : t.top) {
        top.push_back({{"token", text}, {"logprob", logprob}, {"bytes", bytes_json(text)}});
      }
      content.push_back({{"token", t.token},
                         {"logprob", t.logprob},
                         {"bytes", bytes_json(t.token)},
                         {"top_logprobs", std::move(top)}});
    }
    return {{"content", std::move(content)}};
  }
  json texts = json::array(), logprobs = json::array(), tops = json::array();
  for (const TokenLogprobs& t : tokens) {
    texts.push_back(t.token);
    if (std::isnan(t.logprob)) {  // an echoed prompt's first token
      logprobs.push_back(nullptr);
      tops.push_back(nullptr);
      continue;
    }
    logprobs.push_back(t.logprob);
    json top = json::object();
    for (const auto& [text, logprob] : t.top) top[text] = logprob;
    tops.push_back(std::move(top));
  }
  return {{"tokens", std::move(texts)},
          {"token_logprobs", std::move(logprobs)},
          {"top_logprobs", std::move(tops)}};
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

}  // namespace

json completion_response(const ResponseHeader& h, std::span<const Choice> choices,
                         const Usage& usage) {
  json r = header_json(h, false);
  r["choices"] = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const Choice& c = choices[i];
    json choice = {{"index", i}, {"finish_reason", finish_reason_name(c.finish)}};
    if (h.chat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    } else {
      choice["text"] = c.text;
    }
    choice["logprobs"] = h.logprobs ? logprobs_json(h.chat, c.logprobs) : json(nullptr);
    r["choices"].push_back(std::move(choice));
  }
  r["usage"] = usage_json(usage);
  return r;
}

json stream_chunk(const ResponseHeader& h, int index, const std::string& text, bool first,
                  std::optional<FinishReason> finish, std::span<const TokenLogprobs> logprobs) {
  json r = header_json(h, true);
  json choice = {{"index", index}};
  choice["finish_reason"] = finish ? json(finish_reason_name(*finish)) : json(nullptr);
  if (h.chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!finish) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = h.logprobs ? logprobs_json(h.chat, logprobs) : json(nullptr);
  r["choices"] = json::array({choice});
  return r;
}

json usage_chunk(const ResponseHeader& h, const Usage& usage) {
  json r = header_json(h, true);
  r["choices"] = json::array();
  r["usage"] = usage_json(usage);
  return r;
}

std::string dump_json(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string sse_event(const json& data) { return "data: " + dump_json(data) + "\n\n"; }

}  // namespace tern::server

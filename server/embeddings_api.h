// POST /v1/embeddings as tern serve speaks it: the request body parsed and checked, and the
// response's JSON (floats, or base64 of little-endian float32 as the openai client asks by
// default). No HTTP and no model here: server.cpp routes and computes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/openai_api.h"
#include "tern/tokenizer.h"

namespace tern::server {

/// Most inputs one request may carry (OpenAI's limit).
inline constexpr size_t kMaxEmbeddingInputs = 2048;

struct EmbeddingRequest {
  std::string model;  // echoed back
  std::vector<TextOrTokens> inputs;
  bool base64 = false;  // encoding_format "base64" (else "float")
};

/// Parses `input` (a string, an array of strings, an array of token ids or an array of such
/// arrays), `model` and `encoding_format`. Throws ApiError (400) for malformed JSON, a
/// missing, empty or wrongly typed input, more than kMaxEmbeddingInputs inputs, an unknown
/// encoding format, or `dimensions` other than `n_embd` (tern does not shorten vectors).
EmbeddingRequest parse_embedding_request(std::string_view body, int64_t n_embd);

/// {"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model",
/// "usage": {"prompt_tokens", "total_tokens"}}.
nlohmann::json embedding_response(const EmbeddingRequest& r,
                                  const std::vector<std::vector<float>>& vectors,
                                  int64_t prompt_tokens);

/// Base64 (RFC 4648, padded) of the floats' little-endian bytes.
std::string base64_floats(std::span<const float> values);

}  // namespace tern::server

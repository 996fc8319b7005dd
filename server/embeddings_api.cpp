#include "server/embeddings_api.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <limits>

#include "server/openai_api.h"

namespace tern::server {

using nlohmann::json;

EmbeddingRequest parse_embedding_request(std::string_view body, int64_t n_embd) {
  const json j = parse_json_object(body);
  EmbeddingRequest r;
  if (auto m = j.find("model"); m != j.end() && !m->is_null()) {
    if (!m->is_string()) throw invalid_request("invalid_type", "model must be a string");
    r.model = m->get<std::string>();
  }
  auto input = j.find("input");
  if (input == j.end() || input->is_null())
    throw invalid_request("missing_field", "input is missing");
  r.inputs = parse_texts_or_tokens(*input, "input", kMaxEmbeddingInputs);
  if (auto f = j.find("encoding_format"); f != j.end() && !f->is_null()) {
    if (*f == "base64") {
      r.base64 = true;
    } else if (*f != "float") {
      throw invalid_request("invalid_value", "encoding_format must be \"float\" or \"base64\"");
    }
  }
  if (auto d = j.find("dimensions"); d != j.end() && !d->is_null()) {
    if (!d->is_number_integer() || d->get<int64_t>() != n_embd) {
      throw invalid_request("invalid_value",
                            fmt::format("dimensions: this model's embeddings have {}", n_embd));
    }
  }
  return r;
}

json embedding_response(const EmbeddingRequest& r, const std::vector<std::vector<float>>& vectors,
                        int64_t prompt_tokens) {
  json data = json::array();
  for (size_t i = 0; i < vectors.size(); ++i) {
    json embedding = r.base64 ? json(base64_floats(vectors[i])) : json(vectors[i]);
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", r.model},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

std::string base64_floats(std::span<const float> values) {
  static_assert(std::endian::native == std::endian::little, "float32 bytes are sent as they lie");
  constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<unsigned char> bytes(values.size_bytes());
  if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t group = uint32_t{bytes[i]} << 16;
    if (n > 1) group |= uint32_t{bytes[i + 1]} << 8;
    if (n > 2) group |= bytes[i + 2];
    for (size_t k = 0; k < 4; ++k) {
      out += k <= n ? kAlphabet[(group >> (18 - 6 * k)) & 63] : '=';
    }
  }
  return out;
}

}  // namespace tern::server

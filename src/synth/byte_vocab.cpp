#include "synth/byte_vocab.h"

#include <fmt/format.h>

#include <string>
#include <vector>

#include "tern/error.h"

namespace tern::synth {

namespace {

// GGUF token types (tokenizer.ggml.token_type).
constexpr int32_t kUnknown = 2, kControl = 3, kUnused = 5, kByte = 6;

}  // namespace

void add_byte_vocab(gguf::Writer& w, int64_t n_vocab) {
  if (n_vocab < kByteVocabMin) {
    throw Error(
        fmt::format("a byte vocabulary needs at least {} tokens, not {}", kByteVocabMin, n_vocab));
  }
  std::vector<std::string> texts = {"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 256; ++b) texts.push_back(fmt::format("<0x{:02X}>", b));
  while (static_cast<int64_t>(texts.size()) < n_vocab) {
    texts.push_back(fmt::format("<unused{}>", texts.size()));
  }
  gguf::Array tokens{gguf::ValueType::String, {}};
  gguf::Array scores{gguf::ValueType::F32, {}};
  gguf::Array types{gguf::ValueType::I32, {}};
  for (size_t i = 0; i < texts.size(); ++i) {
    tokens.items.push_back({std::string_view(texts[i])});
    scores.items.push_back({0.0f});
    int32_t type = i == 0 ? kUnknown : i < 3 ? kControl : i < 259 ? kByte : kUnused;
    types.items.push_back({type});
  }
  w.add("tokenizer.ggml.model", {std::string_view("llama")});
  w.add("tokenizer.ggml.tokens", {std::move(tokens)});  // the writer copies the strings
  w.add("tokenizer.ggml.scores", {std::move(scores)});
  w.add("tokenizer.ggml.token_type", {std::move(types)});
  w.add("tokenizer.ggml.unknown_token_id", {uint32_t{0}});
  w.add("tokenizer.ggml.bos_token_id", {uint32_t{1}});
  w.add("tokenizer.ggml.eos_token_id", {uint32_t{2}});
  w.add("tokenizer.ggml.add_bos_token", {true});
}

}  // namespace tern::synth

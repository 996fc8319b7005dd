#include "tokenizer/vocab.h"

#include <fmt/format.h>

#include <charconv>

#include "gguf/file.h"
#include "tern/error.h"

namespace tern::tokenizer {

namespace {

// Texts of end-of-turn markers of common chat formats, used when the file names no EOT.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>",    "<|im_end|>", "<|end|>",         "<end_of_turn>",
    "<|endoftext|>", "<EOT>",      "<|end_of_text|>", "<｜end▁of▁sentence｜>",
};

bool parse_byte_token(std::string_view text, uint8_t& value) {
  if (text.size() != 6 || !text.starts_with("<0x") || text.back() != '>') return false;
  const char* first = text.data() + 3;
  auto [ptr, ec] = std::from_chars(first, first + 2, value, 16);
  return ec == std::errc() && ptr == first + 2;
}

void load_tokens(const gguf::File& file, Vocab& vocab) {
  const auto& tokens = file.get_array("tokenizer.ggml.tokens", gguf::ValueType::String).items;
  if (tokens.empty()) throw Error(fmt::format("{}: tokenizer.ggml.tokens is empty", file.name()));
  if (tokens.size() > static_cast<size_t>(INT32_MAX)) {
    throw Error(fmt::format("{}: tokenizer.ggml.tokens has too many entries", file.name()));
  }
  vocab.texts.reserve(tokens.size());
  for (const gguf::Value& v : tokens) vocab.texts.emplace_back(v.as_string());
  vocab.ids.reserve(tokens.size());
  for (size_t i = 0; i < vocab.texts.size(); ++i) {
    vocab.ids.insert_or_assign(std::string_view(vocab.texts[i]), static_cast<TokenId>(i));
  }
}

// An optional per-token array: absent -> empty; present -> exactly one entry per token.
const gguf::Array* per_token_array(const gguf::File& file, std::string_view key,
                                   gguf::ValueType type, size_t n_vocab) {
  if (file.find(key) == nullptr) return nullptr;
  const gguf::Array& array = file.get_array(key, type);
  if (array.items.size() != n_vocab) {
    throw Error(fmt::format("{}: {} has {} entries, expected {} (one per token)", file.name(), key,
                            array.items.size(), n_vocab));
  }
  return &array;
}

void load_scores_and_types(const gguf::File& file, Vocab& vocab) {
  const size_t n = vocab.texts.size();
  vocab.scores.assign(n, 0.0f);
  vocab.types.assign(n, TokenType::Normal);
  if (const auto* scores =
          per_token_array(file, "tokenizer.ggml.scores", gguf::ValueType::F32, n)) {
    for (size_t i = 0; i < n; ++i)
      vocab.scores[i] = static_cast<float>(scores->items[i].as_float());
  }
  if (const auto* types =
          per_token_array(file, "tokenizer.ggml.token_type", gguf::ValueType::I32, n)) {
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = types->items[i].as_int();
      if (t < 0 || t > static_cast<int64_t>(TokenType::Byte)) {
        throw Error(fmt::format("{}: tokenizer.ggml.token_type[{}] = {} is not a token type (0..6)",
                                file.name(), i, t));
      }
      vocab.types[i] = static_cast<TokenType>(t);
    }
  }
  vocab.byte_tokens.fill(kNoToken);
  for (size_t i = 0; i < n; ++i) {
    uint8_t value = 0;
    const bool is_byte = parse_byte_token(vocab.texts[i], value);
    if (vocab.types[i] == TokenType::Byte && !is_byte) {
      throw Error(fmt::format("{}: token {} '{}' has type byte but is not of the form <0xNN>",
                              file.name(), i, vocab.texts[i]));
    }
    if (is_byte && vocab.types[i] == TokenType::Byte)
      vocab.byte_tokens[value] = static_cast<TokenId>(i);
  }
}

TokenId special_id(const gguf::File& file, std::string_view key, int32_t n_vocab) {
  if (file.find(key) == nullptr) return kNoToken;
  const int64_t id = file.get_int(key);
  // -1 is how some converters write "none".
  if (id == -1) return kNoToken;
  if (id < 0 || id >= n_vocab) {
    throw Error(fmt::format("{}: {} = {} is out of range (the vocabulary has {} tokens)",
                            file.name(), key, id, n_vocab));
  }
  return static_cast<TokenId>(id);
}

std::optional<bool> optional_flag(const gguf::File& file, std::string_view key) {
  if (file.find(key) == nullptr) return std::nullopt;
  return file.get_bool(key);
}

void load_special(const gguf::File& file, Vocab& vocab) {
  const int32_t n = vocab.size();
  SpecialTokens& s = vocab.special;
  s.bos = special_id(file, "tokenizer.ggml.bos_token_id", n);
  s.eos = special_id(file, "tokenizer.ggml.eos_token_id", n);
  s.eot = special_id(file, "tokenizer.ggml.eot_token_id", n);
  s.unk = special_id(file, "tokenizer.ggml.unknown_token_id", n);
  s.pad = special_id(file, "tokenizer.ggml.padding_token_id", n);
  s.sep = special_id(file, "tokenizer.ggml.seperator_token_id", n);
  if (vocab.kind == VocabKind::WordPiece) {  // a text is "[CLS] ... [SEP]"
    const TokenId cls = special_id(file, "tokenizer.ggml.cls_token_id", n);
    if (s.bos == kNoToken) s.bos = cls;
    if (s.eos == kNoToken) s.eos = s.sep;
  }
  if (s.eot == kNoToken) {
    for (std::string_view text : kEndOfTurnTexts) {
      if (TokenId id = vocab.find(text); id != kNoToken && id != s.eos) {
        s.eot = id;
        break;
      }
    }
  }
  for (TokenId id : {s.eos, s.eot}) {
    if (id != kNoToken) vocab.end_of_generation.push_back(id);
  }
  for (std::string_view text : kEndOfTurnTexts) {
    const TokenId id = vocab.find(text);
    if (id != kNoToken && vocab.types[id] == TokenType::Control)
      vocab.end_of_generation.push_back(id);
  }
  vocab.add_bos = optional_flag(file, "tokenizer.ggml.add_bos_token");
  vocab.add_eos = optional_flag(file, "tokenizer.ggml.add_eos_token");
  vocab.add_space_prefix = optional_flag(file, "tokenizer.ggml.add_space_prefix");
}

}  // namespace

TokenId Vocab::find(std::string_view text) const {
  auto it = ids.find(text);
  return it == ids.end() ? kNoToken : it->second;
}

void Vocab::check(TokenId token) const {
  if (token < 0 || token >= size()) {
    throw Error(
        fmt::format("token id {} is out of range (the vocabulary has {} tokens)", token, size()));
  }
}

uint8_t Vocab::byte_value(TokenId token) const {
  uint8_t value = 0;
  parse_byte_token(texts[token], value);  // validated at load time
  return value;
}

Vocab load_vocab(const gguf::File& file) {
  Vocab vocab;
  vocab.file_name = file.name();
  vocab.model_name = file.get_string("tokenizer.ggml.model");
  if (vocab.model_name == "llama") {
    vocab.kind = VocabKind::Spm;
  } else if (vocab.model_name == "gpt2") {
    vocab.kind = VocabKind::Bpe;
  } else if (vocab.model_name == "bert") {
    vocab.kind = VocabKind::WordPiece;
  } else {
    throw Error(
        fmt::format("{}: tokenizer.ggml.model '{}' is not supported (supported: llama, gpt2, bert)",
                    file.name(), vocab.model_name));
  }
  if (file.find("tokenizer.ggml.pre") != nullptr)
    vocab.pre_name = file.get_string("tokenizer.ggml.pre");
  load_tokens(file, vocab);
  load_scores_and_types(file, vocab);
  load_special(file, vocab);
  return vocab;
}

}  // namespace tern::tokenizer

// The vocabulary a GGUF file describes (tokenizer.ggml.*), copied out of the file and
// validated: token strings, scores, types, special ids and flags.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tern/tokenizer.h"

namespace tern::gguf {
class File;
}

namespace tern::tokenizer {

enum class VocabKind { Spm, Bpe, WordPiece };

struct Vocab {
  VocabKind kind = VocabKind::Spm;
  std::string file_name;   // for error messages
  std::string model_name;  // tokenizer.ggml.model
  std::string pre_name;    // tokenizer.ggml.pre ("" when absent)

  std::vector<std::string> texts;  // [n_vocab]; never resized after loading (ids_ views them)
  std::vector<float> scores;       // [n_vocab]; 0 when the file has none
  std::vector<TokenType> types;    // [n_vocab]; Normal when the file has none
  SpecialTokens special;
  std::vector<TokenId> end_of_generation;  // EOS, EOT and known end-of-turn markers

  // Flags as the file states them; defaults depend on the model and are applied by the caller.
  std::optional<bool> add_bos;
  std::optional<bool> add_eos;
  std::optional<bool> add_space_prefix;

  /// SentencePiece byte fallback: the <0xNN> token of each byte value, or kNoToken.
  std::array<TokenId, 256> byte_tokens{};

  int32_t size() const { return static_cast<int32_t>(texts.size()); }
  /// Id whose text is exactly `text` (the last one when the file repeats a string), or kNoToken.
  TokenId find(std::string_view text) const;
  /// Throws tern::Error unless 0 <= token < size().
  void check(TokenId token) const;
  /// The byte a Byte-type token stands for ("<0x0A>" -> 10).
  uint8_t byte_value(TokenId token) const;

  std::unordered_map<std::string_view, TokenId> ids;  // views into texts
};

/// Reads the tokenizer keys of `file`; throws tern::Error naming the key on malformed
/// metadata (missing tokens, arrays of the wrong length or type, ids out of range).
Vocab load_vocab(const gguf::File& file);

}  // namespace tern::tokenizer

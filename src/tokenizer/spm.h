// SentencePiece (BPE flavour, as `tokenizer.ggml.model = llama`): start from characters and
// repeatedly merge the adjacent pair whose concatenation is the highest-scoring token; what
// is left unknown falls back to <0xNN> byte tokens.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "tokenizer/vocab.h"

namespace tern::tokenizer {

class SpmEncoder {
 public:
  explicit SpmEncoder(const Vocab& vocab);

  /// Appends the tokens of `text` (spaces already escaped as "▁") to `out`.
  void encode(const Vocab& vocab, std::string_view text, std::vector<TokenId>& out) const;

 private:
  // Merges only ever join pieces whose concatenation is a token. If no token contains the
  // character X followed by "▁", no merge can cross the boundary in "X▁" of the text, so the
  // text is encoded word by word at such boundaries: the result is the same as encoding it
  // whole, and the merge queue stays small and in cache.
  bool may_join_space(std::string_view before) const;

  std::unordered_set<std::string> joins_space_;  // characters X such that "X▁" is in a token
};

}  // namespace tern::tokenizer

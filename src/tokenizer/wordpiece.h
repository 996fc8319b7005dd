// WordPiece (`tokenizer.ggml.model = bert`), as BERT's uncased tokenizer reads text: control
// characters dropped, CJK ideographs made words of their own, accents stripped (NFD, then
// no non-spacing marks), lowercase; words split at whitespace and punctuation; each word
// then taken greedily as its longest vocabulary prefix, then longest continuations, and
// wholly [UNK] when some part of it matches nothing (or it is over 100 characters).
//
// The vocabulary is llama.cpp's form of BERT's: a word's first piece carries the "▁"
// prefix, a continuation piece (BERT's "##ing") is bare.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace tern::tokenizer {

class WordPieceEncoder {
 public:
  /// Throws tern::Error when the vocabulary has no unknown token (id or "[UNK]").
  explicit WordPieceEncoder(const Vocab& vocab);

  /// Appends the tokens of `text` to `out`.
  void encode(const Vocab& vocab, std::string_view text, std::vector<TokenId>& out) const;

 private:
  // One word's pieces, or unk_ when it cannot be covered.
  void encode_word(const Vocab& vocab, std::u32string_view word, std::vector<TokenId>& out) const;

  TokenId unk_ = kNoToken;
};

}  // namespace tern::tokenizer

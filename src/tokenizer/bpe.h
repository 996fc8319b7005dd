// Byte-level BPE (`tokenizer.ggml.model = gpt2`): inside each pre-tokenized word, repeatedly
// merge the adjacent pair with the lowest merge rank (`tokenizer.ggml.merges` order).
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace tern::gguf {
class File;
}

namespace tern::tokenizer {

class BpeMerges {
 public:
  /// Reads `tokenizer.ggml.merges` ("left right" strings, best first). Throws tern::Error when
  /// the key is missing or an entry is malformed or names a string that is not a token.
  BpeMerges(const gguf::File& file, const Vocab& vocab);

  /// Appends the tokens of one byte-level-encoded word to `out`. With `ignore_merges`, a word
  /// that is itself a token is emitted whole.
  void encode_word(const Vocab& vocab, std::string_view word, bool ignore_merges,
                   std::vector<TokenId>& out) const;

  struct Merge {
    int32_t rank;
    TokenId result;  // token of left+right, or kNoToken when the file lacks it
  };
  /// The merge of tokens `left` and `right`, or nullptr.
  const Merge* find(TokenId left, TokenId right) const;

 private:
  static uint64_t key(TokenId left, TokenId right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  std::unordered_map<uint64_t, Merge> merges_;
};

}  // namespace tern::tokenizer

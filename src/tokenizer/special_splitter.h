// Cuts input text at the literal text of special tokens before the model's own algorithm
// runs: user-defined tokens always, control and unknown tokens when parsing is asked for.
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace tern::tokenizer {

/// A piece of the input: either raw text for the model's algorithm, or one special token.
struct Fragment {
  std::string_view text;
  TokenId token = kNoToken;  // kNoToken for raw text
};

class SpecialSplitter {
 public:
  explicit SpecialSplitter(const Vocab& vocab);

  /// Fragments of `text` in order. Longer special tokens are cut out first (over the whole
  /// text), then shorter ones from what remains; each token's occurrences are taken left to
  /// right without overlap. Empty input gives no fragments.
  std::vector<Fragment> split(std::string_view text, bool parse_special) const;

 private:
  struct Candidate {
    std::string_view text;
    TokenId token;
    bool needs_parse_special;  // control/unknown tokens
  };
  // A byte trie over the candidates' texts, used to find which of them occur at all.
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t candidate = -1;                             // index into candidates_
  };

  std::vector<int32_t> occurring(std::string_view text, bool parse_special) const;
  int32_t child(int32_t node, uint8_t byte) const;

  std::vector<Candidate> candidates_;  // longest first, then by id: the order of cutting
  std::vector<Node> trie_;             // trie_[0] is the root
};

}  // namespace tern::tokenizer

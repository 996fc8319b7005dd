// tern::grammar::Matcher: where a text stands in a grammar, as a set of parse stacks (a
// pushdown automaton over code points). Each stack holds element positions: the top is
// the next character to match, the ones below are where enclosing rules continue. Text
// arrives as bytes (token pieces), so an unfinished UTF-8 character is kept between calls.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "grammar/compiled.h"

namespace tern::grammar {

/// Texts decoded into code points: whole characters, then the range an unfinished last
/// character can still become.
struct DecodedTexts {
  struct Text {
    uint32_t begin = 0, size = 0;  // in code_points
    bool valid = true;             // false: bytes no UTF-8 text can have
    bool has_partial = false;
    CodeRange partial{0, 0};
    uint32_t partial_bytes = 0;  // bytes of the unfinished character so far
  };
  std::vector<uint32_t> code_points;
  std::vector<Text> texts;

  /// Appends `text`, read as the continuation of `prefix` (a valid unfinished character).
  void add(std::string_view prefix, std::string_view text);
};

/// Many texts (a vocabulary's tokens) decoded once and indexed by first character, so that
/// Matcher::can_accept_all finds the texts a stack can start without looking at the others.
class TextIndex {
 public:
  /// `texts` must outlive the index.
  explicit TextIndex(std::vector<std::string_view> texts);
  size_t size() const { return views_.size(); }

 private:
  friend class Matcher;
  std::vector<std::string_view> views_;
  DecodedTexts decoded_;                // read with no unfinished character before
  std::vector<uint32_t> by_first_;      // ids with a whole first character, sorted by it
  std::vector<uint32_t> first_;         // that first character, for by_first_[i]
  std::vector<uint32_t> partial_only_;  // ids that are one unfinished character
  std::vector<uint32_t> empty_;         // ids of empty texts (which every state accepts)
};

class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const CompiledGrammar> grammar);

  /// Advances over `bytes`; false, with the state unchanged, when no parse can take them.
  bool accept(std::string_view bytes);
  /// Whether accept(bytes) would succeed.
  bool can_accept(std::string_view bytes) const;
  /// ok[i] = can_accept(texts[i]) for every i. Texts whose first characters match the same
  /// stack element share the work of advancing that stack, and most fail on their first
  /// character, so this costs far less than one can_accept() per text.
  void can_accept_each(std::span<const std::string_view> texts, std::vector<uint8_t>& ok) const;
  /// allowed[i] = can_accept(text i of `index`), for every text of the index. Much cheaper
  /// than can_accept_each over a whole vocabulary: a stack only visits the texts whose first
  /// character it matches.
  void can_accept_all(const TextIndex& index, std::vector<uint8_t>& allowed) const;
  /// The text so far is a complete sentence of the grammar (no unfinished character).
  bool can_end() const;
  /// Back to the empty text.
  void reset();

 private:
  using Stack = std::vector<uint32_t>;
  void expand(Stack stack, std::vector<Stack>& out) const;
  std::vector<Stack> advance(const Stack& stack) const;
  void check(const std::vector<Stack>& stacks, std::span<const uint32_t> ids, size_t depth,
             const DecodedTexts& decoded, std::vector<uint8_t>& ok) const;

  std::shared_ptr<const CompiledGrammar> grammar_;
  std::vector<Stack> stacks_;
  std::string partial_;  // the bytes of an unfinished UTF-8 character
};

}  // namespace tern::grammar

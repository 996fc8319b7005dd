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
  /// The text so far is a complete sentence of the grammar (no unfinished character).
  bool can_end() const;
  /// Back to the empty text.
  void reset();

  size_t n_stacks() const { return stacks_.size(); }

 private:
  using Stack = std::vector<uint32_t>;
  struct Probe;
  struct Probes;

  void expand(Stack stack, std::vector<Stack>& out) const;
  std::vector<Stack> advance(const Stack& stack) const;
  void decode(std::string_view text, Probes& probes) const;
  void check(const std::vector<Stack>& stacks, std::span<const uint32_t> ids, size_t depth,
             const Probes& probes, std::vector<uint8_t>& ok) const;

  std::shared_ptr<const CompiledGrammar> grammar_;
  std::vector<Stack> stacks_;
  std::string partial_;  // the bytes of an unfinished UTF-8 character
};

}  // namespace tern::grammar

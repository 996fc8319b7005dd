// A GBNF grammar compiled for matching: every rule is a list of alternatives, every
// alternative a run of elements over Unicode code points ending in an End marker, all in one
// flat array so that a parse position is a single index. Repetitions and groups became
// helper rules during compilation, so an element is only a character set or a rule reference.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tern::grammar {

struct CodeRange {
  uint32_t lo, hi;  // inclusive
};

enum class ElementKind : uint8_t {
  End,       // closes an alternative
  RuleRef,   // value: rule index
  Chars,     // one code point in ranges[value, value + count)
  NotChars,  // one code point outside ranges[value, value + count) ("." has count 0)
};

struct Element {
  ElementKind kind;
  uint32_t value;
  uint32_t count;
  bool is_char() const { return kind == ElementKind::Chars || kind == ElementKind::NotChars; }
};

struct Rule {
  std::string name;                    // helper rules: "<parent>-<n>"
  std::vector<uint32_t> alternatives;  // index in elements of each alternative's first element
};

struct CompiledGrammar {
  std::vector<Element> elements;
  std::vector<CodeRange> ranges;
  std::vector<Rule> rules;
  uint32_t root = 0;

  /// Whether char element `e` matches code point `cp`.
  bool matches(const Element& e, uint32_t cp) const;
  /// Whether char element `e` matches some code point in [r.lo, r.hi] (a partial character).
  bool matches_some(const Element& e, CodeRange r) const;
};

/// Parses and compiles GBNF text. Throws tern::Error("grammar: LINE:COL: what is wrong").
CompiledGrammar compile(std::string_view gbnf);

}  // namespace tern::grammar

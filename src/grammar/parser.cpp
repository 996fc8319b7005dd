// GBNF text -> CompiledGrammar. Newlines are plain whitespace: a rule ends where the next
// `name ::=` begins. Groups with several alternatives and every repetition become helper
// rules, so the matcher only ever sees character sets and rule references.
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <unordered_map>

#include "grammar/compiled.h"
#include "tern/error.h"
#include "tokenizer/utf8.h"

namespace tern::grammar {

namespace {

// A bounded repetition expands into that many elements; this keeps a typo such as {1,99999}
// from building a huge grammar.
constexpr uint32_t kMaxRepetition = 1000;
constexpr size_t kUnbounded = SIZE_MAX;

using Sequence = std::vector<Element>;
using Alternatives = std::vector<Sequence>;

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  CompiledGrammar run() {
    skip_space();
    while (!at_end()) {
      parse_rule();
      skip_space();
    }
    for (uint32_t id = 0; id < bodies_.size(); ++id) {
      if (!defined_[id]) fail(first_use_[id], fmt::format("undefined rule '{}'", names_[id]));
    }
    const auto root = ids_.find("root");
    if (root == ids_.end()) fail(0, "no rule named 'root' (the start rule)");
    CompiledGrammar g = emit();
    g.root = root->second;
    check_left_recursion(g);
    return g;
  }

 private:
  [[noreturn]] void fail(size_t at, std::string_view what) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < at && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else if ((static_cast<uint8_t>(text_[i]) & 0xC0) != 0x80) {  // count characters
        ++column;
      }
    }
    throw Error(fmt::format("grammar: {}:{}: {}", line, column, what));
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_space() {
    while (!at_end()) {
      const char c = text_[pos_];
      if (c == '#') {
        while (!at_end() && text_[pos_] != '\n') ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else {
        return;
      }
    }
  }

  std::string_view parse_name() {
    const size_t start = pos_;
    while (!at_end() && is_name_char(text_[pos_])) ++pos_;
    if (start == pos_) fail(start, "expected a rule name");
    return text_.substr(start, pos_ - start);
  }

  // At `name ::=`: the current rule ends here and the next begins.
  bool at_rule_start() {
    const size_t saved = pos_;
    while (!at_end() && is_name_char(text_[pos_])) ++pos_;
    skip_space();
    const bool yes = text_.substr(pos_, 3) == "::=";
    pos_ = saved;
    return yes;
  }

  uint32_t rule_id(std::string_view name, size_t at) {
    const auto [it, added] = ids_.try_emplace(std::string(name), uint32_t(bodies_.size()));
    if (added) new_rule(std::string(name), at);
    return it->second;
  }

  uint32_t new_rule(std::string name, size_t at) {
    bodies_.emplace_back();
    names_.push_back(std::move(name));
    defined_.push_back(false);
    first_use_.push_back(at);
    return uint32_t(bodies_.size() - 1);
  }

  // A rule for a group or a repetition inside the rule being parsed.
  uint32_t helper_rule(Alternatives body, size_t at) {
    const uint32_t id = new_rule(fmt::format("{}-{}", current_rule_, ++n_helpers_), at);
    define(id, std::move(body));
    return id;
  }

  void define(uint32_t id, Alternatives body) {
    bodies_[id] = std::move(body);
    defined_[id] = true;
  }

  void parse_rule() {
    const size_t name_pos = pos_;
    const std::string_view name = parse_name();
    skip_space();
    if (text_.substr(pos_, 3) != "::=") fail(pos_, fmt::format("expected '::=' after '{}'", name));
    pos_ += 3;
    const uint32_t id = rule_id(name, name_pos);
    if (defined_[id]) fail(name_pos, fmt::format("rule '{}' is defined twice", name));
    first_use_[id] = name_pos;  // a left-recursion error points at the definition
    current_rule_ = std::string(name);
    n_helpers_ = 0;
    Alternatives body = parse_alternatives();
    if (peek() == ')') fail(pos_, "unbalanced ')'");
    define(id, std::move(body));
  }

  Alternatives parse_alternatives() {
    Alternatives alternatives{parse_sequence()};
    while (peek() == '|') {
      ++pos_;
      alternatives.push_back(parse_sequence());
    }
    return alternatives;
  }

  Sequence parse_sequence() {
    Sequence seq;
    size_t last_item = SIZE_MAX;  // where the last item (what a repetition applies to) begins
    for (;;) {
      skip_space();
      if (at_end()) break;
      const char c = peek();
      const size_t at = pos_;
      if (c == '|' || c == ')') break;
      if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (last_item == SIZE_MAX || last_item == seq.size()) {
          fail(at, fmt::format("'{}' has nothing to repeat", c));
        }
        const auto [min, max] = parse_repetition();
        Sequence item(seq.begin() + std::ptrdiff_t(last_item), seq.end());
        seq.resize(last_item);
        append_repetition(seq, std::move(item), min, max, at);
        continue;
      }
      last_item = seq.size();
      if (is_name_char(c)) {
        if (at_rule_start()) break;
        const std::string_view name = parse_name();
        seq.push_back({ElementKind::RuleRef, rule_id(name, at), 0});
      } else if (c == '"') {
        parse_literal(seq);
      } else if (c == '[') {
        seq.push_back(parse_class());
      } else if (c == '.') {
        ++pos_;
        seq.push_back({ElementKind::NotChars, 0, 0});
      } else if (c == '(') {
        ++pos_;
        Alternatives group = parse_alternatives();
        skip_space();
        if (peek() != ')') fail(at, "unbalanced '(': no matching ')'");
        ++pos_;
        if (group.size() == 1) {
          seq.insert(seq.end(), group[0].begin(), group[0].end());
        } else {
          seq.push_back({ElementKind::RuleRef, helper_rule(std::move(group), at), 0});
        }
      } else {
        fail(at, fmt::format("unexpected character '{}'", c));
      }
    }
    return seq;
  }

  std::pair<size_t, size_t> parse_repetition() {
    const char c = text_[pos_++];
    if (c == '*') return {0, kUnbounded};
    if (c == '+') return {1, kUnbounded};
    if (c == '?') return {0, 1};
    const size_t open = pos_ - 1;
    skip_space();
    const std::optional<size_t> min = parse_count();
    skip_space();
    size_t max;
    if (peek() == ',') {
      ++pos_;
      skip_space();
      max = parse_count().value_or(kUnbounded);
      skip_space();
    } else {
      if (!min) fail(pos_, "expected a number in '{m,n}'");
      max = *min;
    }
    if (peek() != '}') fail(pos_, "expected '}' to close the repetition");
    ++pos_;
    if (max != kUnbounded && max < min.value_or(0)) {
      fail(open, fmt::format("repetition {{{},{}}} has max < min", *min, max));
    }
    return {min.value_or(0), max};
  }

  std::optional<size_t> parse_count() {
    const size_t start = pos_;
    size_t value = 0;
    while (!at_end() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      value = value * 10 + size_t(text_[pos_++] - '0');
      if (value > kMaxRepetition)
        fail(start, fmt::format("repetition count above {}", kMaxRepetition));
    }
    if (start == pos_) return std::nullopt;
    return value;
  }

  // item{min,max}: min copies of the item, then either `item*` (a right-recursive helper)
  // or max - min nested optionals (item (item (...)?)?)?.
  void append_repetition(Sequence& seq, Sequence item, size_t min, size_t max, size_t at) {
    if (item.size() != 1) {
      item = {{ElementKind::RuleRef, helper_rule({std::move(item)}, at), 0}};
    }
    const Element unit = item[0];
    for (size_t i = 0; i < min; ++i) seq.push_back(unit);
    if (max == kUnbounded) {
      const uint32_t star = new_rule(fmt::format("{}-{}", current_rule_, ++n_helpers_), at);
      define(star, {{unit, {ElementKind::RuleRef, star, 0}}, {}});
      seq.push_back({ElementKind::RuleRef, star, 0});
      return;
    }
    std::optional<Element> tail;
    for (size_t i = min; i < max; ++i) {
      Sequence more{unit};
      if (tail) more.push_back(*tail);
      tail = Element{ElementKind::RuleRef, helper_rule({std::move(more), {}}, at), 0};
    }
    if (tail) seq.push_back(*tail);
  }

  // One character of a literal or class: an escape or a UTF-8 character of the source.
  uint32_t parse_char() {
    const size_t at = pos_;
    if (text_[pos_] != '\\') {
      const size_t len = tokenizer::utf8_valid_length(text_.substr(pos_));
      if (len == 0) fail(at, "invalid UTF-8 in the grammar");
      const uint32_t cp = tokenizer::utf8_decode(text_.substr(pos_), len);
      pos_ += len;
      return cp;
    }
    ++pos_;
    if (at_end()) fail(at, "'\\' at the end of the grammar");
    const char e = text_[pos_++];
    switch (e) {
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case 'r':
        return '\r';
      case '\\':
      case '"':
      case '\'':
      case '[':
      case ']':
      case '-':
      case '^':
      case '/':
        return uint32_t(e);
      case 'x':
        return parse_hex(at, 2);
      case 'u':
        return parse_hex(at, 4);
      case 'U':
        return parse_hex(at, 8);
      default:
        fail(at, fmt::format("bad escape '\\{}'", e));
    }
  }

  uint32_t parse_hex(size_t at, int digits) {
    uint32_t value = 0;
    for (int i = 0; i < digits; ++i) {
      const int d = at_end() ? -1 : hex_value(text_[pos_]);
      if (d < 0)
        fail(at, fmt::format("bad escape: '\\{}' needs {} hex digits", text_[at + 1], digits));
      value = value * 16 + uint32_t(d);
      ++pos_;
    }
    if (value > 0x10FFFF) fail(at, fmt::format("bad escape: U+{:X} is above U+10FFFF", value));
    return value;
  }

  void parse_literal(Sequence& seq) {
    const size_t open = pos_++;
    for (;;) {
      if (at_end() || peek() == '\n') fail(open, "unterminated string literal");
      if (peek() == '"') break;
      const uint32_t cp = parse_char();
      seq.push_back({ElementKind::Chars, add_range({cp, cp}), 1});
    }
    ++pos_;
  }

  Element parse_class() {
    const size_t open = pos_++;
    Element e{ElementKind::Chars, uint32_t(ranges_.size()), 0};
    if (peek() == '^') {
      e.kind = ElementKind::NotChars;
      ++pos_;
    }
    for (;;) {
      if (at_end()) fail(open, "unterminated character class: no ']'");
      if (peek() == ']') break;
      const size_t at = pos_;
      const uint32_t lo = parse_char();
      uint32_t hi = lo;
      if (peek() == '-' && pos_ + 1 < text_.size() && text_[pos_ + 1] != ']') {
        ++pos_;
        hi = parse_char();
        if (hi < lo) fail(at, fmt::format("range U+{:04X}-U+{:04X} is reversed", lo, hi));
      }
      add_range({lo, hi});
      ++e.count;
    }
    ++pos_;
    if (e.count == 0) fail(open, "empty character class");
    return e;
  }

  uint32_t add_range(CodeRange r) {
    ranges_.push_back(r);
    return uint32_t(ranges_.size() - 1);
  }

  CompiledGrammar emit() {
    CompiledGrammar g;
    g.ranges = std::move(ranges_);
    for (uint32_t id = 0; id < bodies_.size(); ++id) {
      Rule rule{names_[id], {}};
      for (const Sequence& alt : bodies_[id]) {
        rule.alternatives.push_back(uint32_t(g.elements.size()));
        g.elements.insert(g.elements.end(), alt.begin(), alt.end());
        g.elements.push_back({ElementKind::End, 0, 0});
      }
      g.rules.push_back(std::move(rule));
    }
    return g;
  }

  // The matcher expands rule references until a character is on top; a rule that can reach
  // itself without consuming one would expand forever, so it is refused here.
  void check_left_recursion(const CompiledGrammar& g) const {
    const size_t n = g.rules.size();
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (uint32_t start : g.rules[r].alternatives) {
          bool all = true;
          for (uint32_t i = start; g.elements[i].kind != ElementKind::End; ++i) {
            const Element& e = g.elements[i];
            all = all && e.kind == ElementKind::RuleRef && nullable[e.value];
          }
          if (all) {
            nullable[r] = changed = true;
            break;
          }
        }
      }
    }
    // Depth-first search over "can begin with" edges; 1: on the path, 2: done.
    std::vector<uint8_t> state(n, 0);
    const std::function<void(uint32_t)> visit = [&](uint32_t r) {
      state[r] = 1;
      for (uint32_t start : g.rules[r].alternatives) {
        for (uint32_t i = start; g.elements[i].kind == ElementKind::RuleRef; ++i) {
          const uint32_t next = g.elements[i].value;
          if (state[next] == 1) {
            fail(first_use_[next], fmt::format("rule '{}' is left-recursive (it can reach itself "
                                               "before matching a character)",
                                               g.rules[next].name));
          }
          if (state[next] == 0) visit(next);
          if (!nullable[next]) break;
        }
      }
      state[r] = 2;
    };
    for (uint32_t r = 0; r < n; ++r) {
      if (state[r] == 0) visit(r);
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::vector<CodeRange> ranges_;
  std::vector<Alternatives> bodies_;  // per rule id
  std::vector<std::string> names_;
  std::vector<bool> defined_;
  std::vector<size_t> first_use_;  // definition, else first reference: where errors point
  std::unordered_map<std::string, uint32_t> ids_;
  std::string current_rule_;
  int n_helpers_ = 0;
};

}  // namespace

bool CompiledGrammar::matches(const Element& e, uint32_t cp) const {
  bool in = false;
  for (uint32_t i = e.value; i < e.value + e.count && !in; ++i) {
    in = cp >= ranges[i].lo && cp <= ranges[i].hi;
  }
  return in == (e.kind == ElementKind::Chars);
}

bool CompiledGrammar::matches_some(const Element& e, CodeRange r) const {
  if (e.kind == ElementKind::Chars) {
    for (uint32_t i = e.value; i < e.value + e.count; ++i) {
      if (ranges[i].lo <= r.hi && r.lo <= ranges[i].hi) return true;
    }
    return false;
  }
  // NotChars: some code point of r lies outside every excluded range. Walk r upwards,
  // jumping over excluded ranges until a gap appears.
  uint32_t cp = r.lo;
  for (bool moved = true; moved && cp <= r.hi;) {
    moved = false;
    for (uint32_t i = e.value; i < e.value + e.count; ++i) {
      if (cp >= ranges[i].lo && cp <= ranges[i].hi) {
        if (ranges[i].hi >= r.hi) return false;
        cp = ranges[i].hi + 1;
        moved = true;
      }
    }
  }
  return cp <= r.hi;
}

CompiledGrammar compile(std::string_view gbnf) { return Parser(gbnf).run(); }

}  // namespace tern::grammar

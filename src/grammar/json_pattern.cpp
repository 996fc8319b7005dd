#include "grammar/json_pattern.h"

#include <fmt/format.h>

#include <vector>

#include "grammar/gbnf_text.h"
#include "tern/error.h"
#include "tokenizer/utf8.h"

namespace tern::grammar {

namespace {

struct Range {
  uint32_t lo, hi;
};

bool is_ascii_punctuation(uint32_t c) {
  return c < 0x80 && c > 0x20 && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
         !(c >= 'A' && c <= 'Z');
}

class PatternParser {
 public:
  PatternParser(std::string_view pattern, std::string_view json_char) : json_char_(json_char) {
    for (size_t i = 0; i < pattern.size();) {
      const size_t len = tokenizer::utf8_valid_length(pattern.substr(i));
      if (len == 0) fail("invalid UTF-8");
      p_.push_back(tokenizer::utf8_decode(pattern.substr(i), len));
      i += len;
    }
  }

  std::string run() {
    if (peek() == '^') ++i_;
    std::string out = alternatives();
    if (peek() == '$' && i_ + 1 == p_.size()) ++i_;
    if (i_ < p_.size()) fail(p_[i_] == ')' ? "unbalanced ')'" : "unexpected character");
    return out;
  }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    throw Error(fmt::format("pattern: offset {}: {}", i_, what));
  }

  uint32_t peek() const { return i_ < p_.size() ? p_[i_] : 0; }
  bool at_end() const { return i_ >= p_.size(); }

  std::string alternatives() {
    std::vector<std::string> alts{sequence()};
    while (!at_end() && peek() == '|') {
      ++i_;
      alts.push_back(sequence());
    }
    if (alts.size() == 1) return alts[0];
    return fmt::format("({})", fmt::join(alts, " | "));
  }

  std::string sequence() {
    std::vector<std::string> items;
    while (!at_end() && peek() != '|' && peek() != ')' && !(peek() == '$' && i_ + 1 == p_.size())) {
      std::string item = atom();
      items.push_back(fmt::format("{}{}", item, quantifier()));
    }
    if (items.empty()) return "\"\"";
    return fmt::format("{}", fmt::join(items, " "));
  }

  std::string atom() {
    const uint32_t c = p_[i_++];
    switch (c) {
      case '(': {
        if (peek() == '?') {
          if (i_ + 1 < p_.size() && p_[i_ + 1] == ':') {
            i_ += 2;
          } else {
            fail("groups other than ( ) and (?: ) are not supported");
          }
        }
        std::string inner = alternatives();
        if (peek() != ')') fail("unbalanced '('");
        ++i_;
        return fmt::format("({})", inner);
      }
      case '[':
        return char_class();
      case '.':
        return std::string(json_char_);
      case '\\':
        return escape();
      case '^':
      case '$':
        --i_;
        fail("anchors are supported only at the start (^) and the end ($)");
      case '*':
      case '+':
      case '?':
      case '{':
        --i_;
        fail("a quantifier with nothing to repeat");
      default:
        return literal(c);
    }
  }

  static std::string literal(uint32_t c) {
    std::string utf8;
    tokenizer::utf8_append(c, utf8);
    return gbnf_literal(json_escape(utf8));
  }

  std::string escape() {
    if (at_end()) fail("'\\' at the end");
    const uint32_t e = p_[i_++];
    switch (e) {
      case 'd':
        return "[0-9]";
      case 'w':
        return "[0-9A-Za-z_]";
      case 's':
        return R"(( " " | "\\t" | "\\n" | "\\r" ))";
      case 'n':
        return literal('\n');
      case 't':
        return literal('\t');
      case 'r':
        return literal('\r');
      default:
        if (is_ascii_punctuation(e)) return literal(e);
        --i_;
        fail(fmt::format("the escape '\\{}' is not supported", char(e)));
    }
  }

  // One member of a class: a character or an escape; \d and \w add their ranges directly.
  void class_member(std::vector<Range>& ranges) {
    uint32_t c = p_[i_++];
    if (c == '\\') {
      if (at_end()) fail("'\\' at the end");
      const uint32_t e = p_[i_++];
      if (e == 'd') return ranges.push_back({'0', '9'});
      if (e == 'w') {
        for (Range r : {Range{'0', '9'}, Range{'A', 'Z'}, Range{'a', 'z'}, Range{'_', '_'}}) {
          ranges.push_back(r);
        }
        return;
      }
      if (e == 'n' || e == 't' || e == 'r' || !is_ascii_punctuation(e)) {
        --i_;
        fail(fmt::format("the escape '\\{}' in a class is not supported", char(e)));
      }
      c = e;
    }
    uint32_t hi = c;
    if (peek() == '-' && i_ + 1 < p_.size() && p_[i_ + 1] != ']') {
      ++i_;
      hi = p_[i_++];
      if (hi == '\\') fail("an escape as the end of a range is not supported");
      if (hi < c) fail("a reversed range");
    }
    ranges.push_back({c, hi});
  }

  std::string char_class() {
    const bool negated = peek() == '^';
    if (negated) ++i_;
    std::vector<Range> ranges;
    while (!at_end() && peek() != ']') class_member(ranges);
    if (at_end()) fail("unterminated class: no ']'");
    ++i_;
    if (ranges.empty()) fail("an empty class");
    std::string out = negated ? "[^" : "[";
    for (Range r : ranges) {
      // Inside a JSON string these would need an escape; only negated classes may leave
      // them out, which they do below.
      if (!negated &&
          (r.lo < 0x20 || (r.lo <= '"' && r.hi >= '"') || (r.lo <= '\\' && r.hi >= '\\'))) {
        fail("a class holding '\"', '\\' or control characters is not supported");
      }
      out += gbnf_class_char(r.lo);
      if (r.hi != r.lo) out += fmt::format("-{}", gbnf_class_char(r.hi));
    }
    if (negated) out += "\"\\\\\\x00-\\x1F";  // never raw in a JSON string
    out += ']';
    return out;
  }

  std::string quantifier() {
    if (at_end()) return "";
    const uint32_t c = peek();
    std::string q;
    if (c == '*' || c == '+' || c == '?') {
      ++i_;
      q = std::string(1, char(c));
    } else if (c == '{') {
      const size_t open = i_++;
      while (!at_end() && peek() != '}') {
        const uint32_t d = p_[i_++];
        if (!(d >= '0' && d <= '9') && d != ',') {
          i_ = open;
          fail("a malformed {m,n} quantifier");
        }
        q += char(d);
      }
      if (at_end()) fail("a '{' without '}'");
      ++i_;
      q = fmt::format("{{{}}}", q);
    } else {
      return "";
    }
    if (peek() == '?' || peek() == '+') fail("lazy and possessive quantifiers are not supported");
    return q;
  }

  std::vector<uint32_t> p_;
  size_t i_ = 0;
  std::string_view json_char_;
};

}  // namespace

std::string pattern_to_gbnf(std::string_view pattern, std::string_view json_char) {
  return PatternParser(pattern, json_char).run();
}

}  // namespace tern::grammar

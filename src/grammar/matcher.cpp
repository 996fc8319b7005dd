#include "grammar/matcher.h"

#include <algorithm>

namespace tern::grammar {

namespace {

void sort_unique(std::vector<std::vector<uint32_t>>& stacks) {
  std::sort(stacks.begin(), stacks.end());
  stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
}

// Incremental UTF-8 decoding that can start inside a character and end inside one.
struct Utf8Reader {
  uint32_t cp = 0;
  int need = 0;  // continuation bytes still missing
  int length = 0;

  // Returns false on a byte that no well-formed text can have here; sets `done` when a
  // character completes.
  bool feed(uint8_t b, bool& done) {
    done = false;
    if (need == 0) {
      if (b < 0x80) {
        cp = b;
        length = 1;
        done = true;
        return true;
      }
      if ((b & 0xE0) == 0xC0) {
        length = 2, cp = b & 0x1Fu;
      } else if ((b & 0xF0) == 0xE0) {
        length = 3, cp = b & 0x0Fu;
      } else if ((b & 0xF8) == 0xF0) {
        length = 4, cp = b & 0x07u;
      } else {
        return false;
      }
      need = length - 1;
    } else {
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3Fu);
      if (--need == 0) {
        done = true;
        return cp >= min_for(length) && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
      }
    }
    const CodeRange r = unfinished_range();  // overlong or too-large prefixes fail early
    return r.lo <= r.hi;
  }

  static uint32_t min_for(int len) { return len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000; }

  // The code points an unfinished character can still become.
  CodeRange unfinished_range() const {
    const uint32_t lo = cp << (6 * need);
    const uint32_t hi = lo | ((1u << (6 * need)) - 1);
    return {std::max(lo, min_for(length)), std::min(hi, 0x10FFFFu)};
  }
};

}  // namespace

void DecodedTexts::add(std::string_view prefix, std::string_view bytes) {
  Text text;
  text.begin = uint32_t(code_points.size());
  Utf8Reader reader;
  bool done = false;
  for (char c : prefix) reader.feed(static_cast<uint8_t>(c), done);
  uint32_t pending = uint32_t(prefix.size());
  for (char c : bytes) {
    if (!reader.feed(static_cast<uint8_t>(c), done)) {
      text.valid = false;
      break;
    }
    ++pending;
    if (done) {
      code_points.push_back(reader.cp);
      pending = 0;
    }
  }
  text.size = uint32_t(code_points.size()) - text.begin;
  if (text.valid && reader.need > 0) {
    text.has_partial = true;
    text.partial = reader.unfinished_range();
    text.partial_bytes = pending;
  }
  texts.push_back(text);
}

TextIndex::TextIndex(std::vector<std::string_view> texts) : views_(std::move(texts)) {
  std::vector<std::pair<uint32_t, uint32_t>> firsts;  // (first character, id)
  for (uint32_t id = 0; id < views_.size(); ++id) {
    decoded_.add({}, views_[id]);
    const DecodedTexts::Text& t = decoded_.texts.back();
    if (!t.valid) continue;
    if (t.size > 0) {
      firsts.emplace_back(decoded_.code_points[t.begin], id);
    } else if (t.has_partial) {
      partial_only_.push_back(id);
    } else {
      empty_.push_back(id);
    }
  }
  std::sort(firsts.begin(), firsts.end());
  for (const auto& [cp, id] : firsts) {
    first_.push_back(cp);
    by_first_.push_back(id);
  }
}

Matcher::Matcher(std::shared_ptr<const CompiledGrammar> grammar) : grammar_(std::move(grammar)) {
  reset();
}

void Matcher::reset() {
  stacks_.clear();
  partial_.clear();
  const CompiledGrammar& g = *grammar_;
  for (uint32_t start : g.rules[g.root].alternatives) {
    Stack stack;
    if (g.elements[start].kind != ElementKind::End) stack.push_back(start);
    expand(std::move(stack), stacks_);
  }
  sort_unique(stacks_);
}

// Replaces rule references on top by each of their alternatives until a character element
// (or nothing: the text may end) is on top. Terminates because left recursion is refused.
void Matcher::expand(Stack stack, std::vector<Stack>& out) const {
  const CompiledGrammar& g = *grammar_;
  if (stack.empty() || g.elements[stack.back()].is_char()) {
    out.push_back(std::move(stack));
    return;
  }
  const uint32_t at = stack.back();
  stack.pop_back();
  if (g.elements[at + 1].kind != ElementKind::End) stack.push_back(at + 1);
  for (uint32_t start : g.rules[g.elements[at].value].alternatives) {
    Stack next = stack;
    if (g.elements[start].kind != ElementKind::End) next.push_back(start);
    expand(std::move(next), out);
  }
}

// The stacks after the character on top of `stack` matched.
std::vector<Matcher::Stack> Matcher::advance(const Stack& stack) const {
  Stack rest(stack.begin(), stack.end() - 1);
  const uint32_t next = stack.back() + 1;
  if (grammar_->elements[next].kind != ElementKind::End) rest.push_back(next);
  std::vector<Stack> out;
  expand(std::move(rest), out);
  sort_unique(out);
  return out;
}

// Marks ok[id] for each text in `ids` that some stack of `stacks` can take, given that the
// texts' first `depth` code points are already matched.
void Matcher::check(const std::vector<Stack>& stacks, std::span<const uint32_t> ids, size_t depth,
                    const DecodedTexts& decoded, std::vector<uint8_t>& ok) const {
  const CompiledGrammar& g = *grammar_;
  for (uint32_t id : ids) {
    const DecodedTexts::Text& p = decoded.texts[id];
    if (depth == p.size && !p.has_partial) ok[id] = 1;
  }
  std::vector<uint32_t> group;
  for (const Stack& stack : stacks) {
    if (stack.empty()) continue;
    const Element& top = g.elements[stack.back()];
    group.clear();
    for (uint32_t id : ids) {
      if (ok[id]) continue;
      const DecodedTexts::Text& p = decoded.texts[id];
      if (depth < p.size) {
        if (g.matches(top, decoded.code_points[p.begin + depth])) group.push_back(id);
      } else if (g.matches_some(top, p.partial)) {
        ok[id] = 1;
      }
    }
    if (!group.empty()) check(advance(stack), group, depth + 1, decoded, ok);
  }
}

void Matcher::can_accept_each(std::span<const std::string_view> texts,
                              std::vector<uint8_t>& ok) const {
  DecodedTexts decoded;
  std::vector<uint32_t> ids;
  ok.assign(texts.size(), 0);
  for (size_t i = 0; i < texts.size(); ++i) {
    decoded.add(partial_, texts[i]);
    if (decoded.texts.back().valid) ids.push_back(uint32_t(i));
  }
  check(stacks_, ids, 0, decoded, ok);
}

void Matcher::can_accept_all(const TextIndex& index, std::vector<uint8_t>& allowed) const {
  if (!partial_.empty()) {  // the texts read differently after an unfinished character
    can_accept_each(index.views_, allowed);
    return;
  }
  const CompiledGrammar& g = *grammar_;
  allowed.assign(index.size(), 0);
  for (uint32_t id : index.empty_) allowed[id] = 1;
  std::vector<uint32_t> group;
  // Appends the ids whose first character lies in [lo, hi].
  const auto add_first_in = [&](uint32_t lo, uint32_t hi) {
    const auto begin = std::lower_bound(index.first_.begin(), index.first_.end(), lo);
    const auto end = std::upper_bound(begin, index.first_.end(), hi);
    for (auto it = begin; it != end; ++it) {
      const uint32_t id = index.by_first_[size_t(it - index.first_.begin())];
      if (!allowed[id]) group.push_back(id);
    }
  };
  std::vector<CodeRange> ranges;
  for (const Stack& stack : stacks_) {
    if (stack.empty()) continue;
    const Element& top = g.elements[stack.back()];
    ranges.assign(g.ranges.begin() + top.value, g.ranges.begin() + top.value + top.count);
    group.clear();
    if (top.kind == ElementKind::Chars) {
      for (CodeRange r : ranges) add_first_in(r.lo, r.hi);
    } else {  // the gaps between the excluded ranges
      std::sort(ranges.begin(), ranges.end(), [](CodeRange a, CodeRange b) { return a.lo < b.lo; });
      uint32_t next = 0;
      for (CodeRange r : ranges) {
        if (r.lo > next) add_first_in(next, r.lo - 1);
        next = std::max(next, r.hi + 1);
      }
      if (next <= 0x10FFFF) add_first_in(next, 0x10FFFF);
    }
    for (uint32_t id : index.partial_only_) {
      if (g.matches_some(top, index.decoded_.texts[id].partial)) allowed[id] = 1;
    }
    if (!group.empty()) check(advance(stack), group, 1, index.decoded_, allowed);
  }
}

bool Matcher::can_accept(std::string_view bytes) const {
  std::vector<uint8_t> ok;
  can_accept_each(std::span(&bytes, 1), ok);
  return ok[0] != 0;
}

bool Matcher::accept(std::string_view bytes) {
  DecodedTexts decoded;
  decoded.add(partial_, bytes);
  const DecodedTexts::Text& p = decoded.texts[0];
  if (!p.valid) return false;
  std::vector<Stack> stacks = stacks_;
  for (uint32_t i = 0; i < p.size; ++i) {
    std::vector<Stack> next;
    for (const Stack& stack : stacks) {
      if (stack.empty() ||
          !grammar_->matches(grammar_->elements[stack.back()], decoded.code_points[p.begin + i])) {
        continue;
      }
      for (Stack& s : advance(stack)) next.push_back(std::move(s));
    }
    sort_unique(next);
    if (next.empty()) return false;
    stacks = std::move(next);
  }
  if (p.has_partial && std::none_of(stacks.begin(), stacks.end(), [&](const Stack& s) {
        return !s.empty() && grammar_->matches_some(grammar_->elements[s.back()], p.partial);
      })) {
    return false;
  }
  const std::string all = partial_ + std::string(bytes);
  partial_ = all.substr(all.size() - p.partial_bytes);
  stacks_ = std::move(stacks);
  return true;
}

bool Matcher::can_end() const {
  return partial_.empty() &&
         std::any_of(stacks_.begin(), stacks_.end(), [](const Stack& s) { return s.empty(); });
}

}  // namespace tern::grammar

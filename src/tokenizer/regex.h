// A compiled PCRE2 pattern (UTF + UCP, JIT when available): the engine behind the
// pre-tokenizers, so Unicode classes such as \p{L} come from PCRE2's own tables.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tern::tokenizer {

/// One piece of text: [offset, offset + length) in the caller's string.
struct Span {
  size_t offset = 0;
  size_t length = 0;
};

class Regex {
 public:
  /// Compiles `pattern`; throws tern::Error with PCRE2's message and position on failure.
  explicit Regex(std::string_view pattern);
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  ~Regex();

  /// Splits each span of `spans` (spans of `text`, which must be valid UTF-8) at this
  /// pattern's matches: every non-empty match becomes a span, and so does every non-empty
  /// stretch between matches. Each span is matched as a subject of its own, so its ends act
  /// as the start and end of the text for anchors and look-arounds.
  std::vector<Span> split(std::string_view text, const std::vector<Span>& spans) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
  std::string pattern_;
};

}  // namespace tern::tokenizer

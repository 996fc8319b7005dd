// Pre-tokenizers of byte-level BPE vocabularies, chosen by `tokenizer.ggml.pre`: the regex
// cascade that cuts text into words before merges run inside each word.
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace tern::tokenizer {

class PreTokenizer {
 public:
  /// Builds the pre-tokenizer named `name` ("" means "default"). Throws tern::Error listing
  /// the known names when `name` is unknown.
  explicit PreTokenizer(std::string_view name);

  /// Cuts valid UTF-8 `text` into words: each pattern in turn splits every piece left by the
  /// previous one (matches and the stretches between them both become pieces).
  std::vector<Span> split(std::string_view text) const;

  /// Whether a word that is itself a token is emitted whole, without running merges
  /// (llama3-style vocabularies, whose merges cannot rebuild every token).
  bool ignore_merges() const { return ignore_merges_; }
  /// Whether this family adds BOS when the file does not say (tokenizer.ggml.add_bos_token).
  bool default_add_bos() const { return default_add_bos_; }

 private:
  std::vector<Regex> regexes_;
  bool ignore_merges_ = false;
  bool default_add_bos_ = false;
};

}  // namespace tern::tokenizer

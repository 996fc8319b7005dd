// tern::StopStrings: ends generated text at the first of a set of strings (OpenAI's `stop`,
// llama.cpp's reverse prompts). Text arrives in pieces (a token's worth at a time); a piece
// whose end could be the start of a stop string is held back until the next piece shows
// whether it is, so no part of a stop string is ever emitted.
//
// Threads: a StopStrings belongs to one generation, used from one thread at a time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tern {

class StopStrings {
 public:
  /// Empty strings are ignored.
  explicit StopStrings(std::vector<std::string> stops = {});

  /// What can be emitted once `piece` is appended: the text before a stop string (and
  /// stopped() turns true), or all text that cannot be the start of one.
  std::string feed(std::string_view piece);
  /// The held-back text, at the end of generation (no stop string followed).
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;  // text not emitted yet
  bool stopped_ = false;
};

}  // namespace tern

// Writing GBNF text: literals and character-class members that the parser reads back as
// exactly the given characters, whatever bytes they hold.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tern::grammar {

/// `text` (UTF-8) as a GBNF string literal, quotes included.
std::string gbnf_literal(std::string_view text);

/// Code point `cp` as an escape usable inside a GBNF character class ("\x41", "\u00E9").
std::string gbnf_class_char(uint32_t cp);

/// `text` as it appears inside a JSON string: '"', '\' and control characters escaped.
std::string json_escape(std::string_view text);

}  // namespace tern::grammar

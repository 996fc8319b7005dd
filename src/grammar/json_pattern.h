// JSON Schema `pattern` -> GBNF, for simple regular expressions: literals, ".", classes
// ([a-z], [^...], \d, \w, \s), groups ((...), (?:...)), "|", and the quantifiers * + ?
// {m} {m,} {m,n}. The pattern must match the whole string (as if it began with ^ and ended
// with $, which may be written). Anything else is refused, naming the construct.
#pragma once

#include <string>
#include <string_view>

namespace tern::grammar {

/// A GBNF expression for the contents (between the quotes) of the JSON strings `pattern`
/// matches; `json_char` names a rule for any one character of a JSON string. Throws
/// tern::Error("pattern: offset N: what is not supported").
std::string pattern_to_gbnf(std::string_view pattern, std::string_view json_char);

}  // namespace tern::grammar

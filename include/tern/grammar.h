// Constrained output: GBNF grammars, and JSON Schema turned into one. A grammar is given to
// generation as text in SamplingParams::grammar; docs/grammars.md lists what is supported.
#pragma once

#include <string>
#include <string_view>

namespace tern {

/// Parses GBNF text without using it, so a command can report a bad grammar before loading
/// a model. Throws tern::Error("grammar: LINE:COLUMN: what is wrong") for the first problem:
/// a syntax error, an undefined rule, a missing `root`, left recursion.
void check_grammar(std::string_view gbnf);

}  // namespace tern

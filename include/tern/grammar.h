// Constrained output: GBNF grammars, and JSON Schema turned into one. A grammar is given to
// generation as text in SamplingParams::grammar; docs/grammars.md lists what is supported.
//
// Threads: both functions are pure (no shared state) and may run in any thread.
#pragma once

#include <string>
#include <string_view>

namespace tern {

/// Parses GBNF text without using it, so a command can report a bad grammar before loading
/// a model. Throws tern::Error("grammar: LINE:COLUMN: what is wrong") for the first problem:
/// a syntax error, an undefined rule, a missing `root`, left recursion.
void check_grammar(std::string_view gbnf);

/// A GBNF grammar whose sentences are the JSON texts valid under `schema_json` (a JSON
/// Schema document; `{}` or `true` allows any JSON value). Objects list their properties in
/// the schema's order; between tokens the JSON may have one space, or a newline and up to 20
/// spaces or tabs. docs/grammars.md lists the supported subset; anything else is a
/// tern::Error("json schema: PATH: ...") naming the keyword, never silently ignored.
std::string json_schema_to_grammar(std::string_view schema_json);

}  // namespace tern

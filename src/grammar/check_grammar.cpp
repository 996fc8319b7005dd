#include "grammar/compiled.h"
#include "tern/grammar.h"

namespace tern {

void check_grammar(std::string_view gbnf) { grammar::compile(gbnf); }

}  // namespace tern

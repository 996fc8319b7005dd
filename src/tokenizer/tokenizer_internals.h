// The library's own way to build a Tokenizer from a file it has already parsed (a loaded
// model's, an in-memory one); users open a path or ask Model::tokenizer().
#pragma once

#include "gguf/file.h"
#include "tern/tokenizer.h"

namespace tern {

struct TokenizerInternals {
  /// Reads and validates the tokenizer keys of `file` and copies what it needs: `file` may be
  /// destroyed afterwards. Throws tern::Error naming the key at fault.
  static Tokenizer from_file(const gguf::File& file);
};

}  // namespace tern

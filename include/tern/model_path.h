// Resolving a model argument: an existing file, or a name under the models folder, where
// `scripts/pull NAME` stores the models tern knows by name.
//
// Threads: safe from any thread, provided nothing sets environment variables meanwhile.
#pragma once

#include <string>

namespace tern {

/// `name_or_path` itself when it is an existing file; otherwise $TERN_MODELS/NAME.gguf
/// (default ~/.cache/tern/models/NAME.gguf) when that exists. Throws tern::Error naming
/// both places when neither exists, or saying what `name_or_path` is when it exists but is
/// not a regular file (a directory, /dev/null). Reads the environment, so call it where
/// nothing sets environment variables concurrently.
std::string resolve_model_path(const std::string& name_or_path);

}  // namespace tern

// --prompt-cache FILE: a prompt's KV cache kept in a file (Session::save) so that a later
// run whose prompt starts the same way decodes only the rest, as llama.cpp's flag does.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "tern/session.h"
#include "tern/tokenizer.h"

namespace tern::cli {

/// What a run took from its prompt cache.
struct CachedPrompt {
  int64_t n_tokens = 0;       // prompt positions loaded instead of decoded
  double seconds = 0;         // reading the file into the session
  double save_seconds = 0;    // writing this prompt's state (0: not written)
  bool holds_prompt = false;  // the file's tokens start with the whole prompt: no need to save
};

/// Loads `path` into `session` (empty, sequence 0) when it exists and keeps the positions
/// its tokens share with `prompt`, at most prompt.size() - 1 so that the last prompt token
/// is decoded again for the logits of the first generated one. A file that cannot be
/// loaded (another model, another KV type, too long for the context, corrupt) is reported
/// on stderr as a warning and the run starts cold (nothing cached).
CachedPrompt reuse_prompt_cache(const std::string& path, Session& session,
                                std::span<const TokenId> prompt);

}  // namespace tern::cli

// A built-in SentencePiece vocabulary for synthetic models: <unk>, <s>, </s>, the 256
// byte tokens <0x00>..<0xFF> (any text encodes through byte fallback), and unused
// placeholders up to the requested size.
#pragma once

#include <cstdint>

#include "gguf/writer.h"

namespace tern::synth {

inline constexpr int64_t kByteVocabMin = 259;  // specials + bytes

/// Adds the tokenizer.ggml.* keys of an n_vocab-token byte vocabulary to `w`.
void add_byte_vocab(gguf::Writer& w, int64_t n_vocab);

}  // namespace tern::synth

// SentencePiece (BPE flavour, as `tokenizer.ggml.model = llama`): start from characters and
// repeatedly merge the adjacent pair whose concatenation is the highest-scoring token; what
// is left unknown falls back to <0xNN> byte tokens.
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace tern::tokenizer {

/// Appends the tokens of `text` (spaces already escaped as "▁") to `out`.
void spm_encode(const Vocab& vocab, std::string_view text, std::vector<TokenId>& out);

}  // namespace tern::tokenizer

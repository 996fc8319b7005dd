// The state behind tern::Tokenizer, shared by tokenizer.cpp and stream_decoder.cpp.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tern/tokenizer.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/special_splitter.h"
#include "tokenizer/spm.h"
#include "tokenizer/vocab.h"
#include "tokenizer/wordpiece.h"

namespace tern {

struct Tokenizer::Impl {
  explicit Impl(const gguf::File& file);

  /// Appends the tokens of raw-text fragment `text`; `at_text_start` when it begins the
  /// input or follows a special token (where SentencePiece adds its space prefix).
  void encode_fragment(std::string_view text, bool at_text_start, std::vector<TokenId>& out) const;

  /// Appends the text of `token` to `out`. `at_text_start` is the detokenizing mirror of the
  /// flag above: the space prefix added there is removed here; it is updated for the next token.
  void append_piece(TokenId token, bool render_special, bool& at_text_start,
                    std::string& out) const;

  tokenizer::Vocab vocab;
  std::optional<tokenizer::PreTokenizer> pre;  // byte-level BPE only
  std::optional<tokenizer::BpeMerges> merges;  // byte-level BPE only
  std::optional<tokenizer::SpmEncoder> spm;    // SentencePiece only
  std::optional<tokenizer::WordPieceEncoder> wordpiece;  // WordPiece only
  tokenizer::SpecialSplitter splitter;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // SentencePiece and WordPiece (its "▁" word starts)

  // Every token's piece back to back (Tokenizer::token_bytes), filled on first use.
  mutable std::once_flag pieces_once;
  mutable std::string pieces;
  mutable std::vector<uint32_t> piece_offsets;  // n_vocab + 1
};

}  // namespace tern

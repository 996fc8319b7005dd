// tern::Tokenizer: text <-> token ids, as described by a GGUF file's `tokenizer.ggml.*` keys.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tern {

using TokenId = int32_t;
/// "No such token" (a special id the file does not define).
inline constexpr TokenId kNoToken = -1;

/// Token types as GGUF stores them in `tokenizer.ggml.token_type`.
enum class TokenType : uint8_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,      // the <unk> token
  Control = 3,      // BOS, EOS, chat markers: text only shown on request
  UserDefined = 4,  // always matched literally in input text, shown verbatim
  Unused = 5,
  Byte = 6,  // <0xNN>: one raw byte (SentencePiece byte fallback)
};

/// Ids of the special tokens; kNoToken where the file defines none.
struct SpecialTokens {
  TokenId bos = kNoToken;
  TokenId eos = kNoToken;
  TokenId eot = kNoToken;  // end of turn (chat models); from metadata or a known token text
  TokenId unk = kNoToken;
  TokenId pad = kNoToken;
  TokenId sep = kNoToken;
};

struct TokenizeOptions {
  /// Prepend BOS / append EOS when the vocabulary asks for it (add_bos_token/add_eos_token).
  bool add_bos = true;
  bool add_eos = true;
  /// Recognise the text of control tokens ("<|im_start|>") inside the input as those tokens.
  /// User-defined tokens are always recognised.
  bool parse_special = false;
};

/// A tokenizer built from GGUF metadata: SentencePiece (`llama`), byte-level BPE (`gpt2`)
/// with the pre-tokenizer named by `tokenizer.ggml.pre`, or WordPiece (`bert`). Immutable after
/// construction, so one instance may be shared by threads. A loaded model's is Model::tokenizer().
class Tokenizer {
 public:
  /// Opens the GGUF file at `path` (a vocab-only file is enough), reads and validates its
  /// tokenizer keys and copies what it needs. Throws tern::Error naming the key at fault.
  static Tokenizer open(const std::string& path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  /// Token ids of `text` (any bytes; invalid UTF-8 is handled the way the vocabulary can).
  std::vector<TokenId> tokenize(std::string_view text, const TokenizeOptions& options = {}) const;

  /// Text of a sequence of tokens; the inverse of tokenize() for every text the vocabulary
  /// can represent. Control/unknown/unused tokens appear only with `render_special`. The
  /// result is raw bytes: a sequence cut inside a character ends with a partial one.
  std::string detokenize(std::span<const TokenId> tokens, bool render_special = false) const;

  /// Text of one token on its own (no leading-space removal). Throws on an invalid id.
  std::string token_to_piece(TokenId token, bool render_special = false) const;

  /// token_to_piece(token) from a table of every token's bytes, built on first use (once per
  /// tokenizer, thread-safe) for code that looks at the whole vocabulary on every step, such
  /// as a grammar. The view lives as long as the tokenizer. Throws on an invalid id.
  std::string_view token_bytes(TokenId token) const;

  int32_t n_vocab() const;
  /// The token's string as stored in the vocabulary (e.g. "▁the", "Ġthe", "<0x0A>").
  std::string_view token_text(TokenId token) const;
  TokenType token_type(TokenId token) const;
  float token_score(TokenId token) const;
  /// Id of the token whose stored string is exactly `text`, or kNoToken.
  TokenId find_token(std::string_view text) const;

  const SpecialTokens& special() const;
  bool add_bos() const;
  bool add_eos() const;
  /// True for tokens that end generation (EOS, EOT and the known end-of-turn markers).
  bool is_end_of_generation(TokenId token) const;

  /// `tokenizer.ggml.model` ("llama", "gpt2") and `tokenizer.ggml.pre` ("" when absent).
  std::string_view model_name() const;
  std::string_view pre_name() const;

 private:
  struct Impl;
  friend class StreamDecoder;
  friend struct TokenizerInternals;  // builds tokenizers from parsed files (src/tokenizer/)
  explicit Tokenizer(std::unique_ptr<const Impl> impl);
  std::unique_ptr<const Impl> impl_;
};

/// Turns generated tokens into text as they arrive, holding back the bytes of a character
/// that is split across tokens so every returned string is whole, valid UTF-8. Bytes that
/// can never form a character come out as U+FFFD. Keeps a reference to the tokenizer.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool render_special = false);

  /// Text that became complete with `token` (possibly empty).
  std::string push(TokenId token);
  /// Whatever is still held back (an unfinished character becomes U+FFFD); resets the stream.
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  bool render_special_;
  bool at_text_start_ = true;  // the next text piece starts a text fragment
  std::string pending_;        // bytes of an unfinished character
};

}  // namespace tern

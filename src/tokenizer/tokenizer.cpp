#include "tern/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>

#include "gguf/file.h"
#include "tern/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/tokenizer_internals.h"
#include "tokenizer/utf8.h"

namespace tern {

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // "▁" U+2581, SentencePiece's space

std::string spm_escape(std::string_view text, bool space_prefix) {
  std::string out;
  out.reserve(text.size() + text.size() / 2 + 3);
  if (space_prefix) out += kSpmSpace;
  for (char c : text) {
    if (c == ' ') {
      out += kSpmSpace;
    } else {
      out += c;
    }
  }
  return out;
}

void spm_unescape(std::string_view text, std::string& out) {
  for (size_t i = 0; i < text.size();) {
    if (text.substr(i, kSpmSpace.size()) == kSpmSpace) {
      out += ' ';
      i += kSpmSpace.size();
    } else {
      out += text[i++];
    }
  }
}

}  // namespace

Tokenizer::Impl::Impl(const gguf::File& file)
    : vocab(tokenizer::load_vocab(file)), splitter(vocab) {
  const bool is_spm = vocab.kind == tokenizer::VocabKind::Spm;
  const bool is_wordpiece = vocab.kind == tokenizer::VocabKind::WordPiece;
  if (is_spm) {
    spm.emplace(vocab);
  } else if (is_wordpiece) {
    wordpiece.emplace(vocab);
  } else {
    pre.emplace(vocab.pre_name);
    merges.emplace(file, vocab);
  }
  // BERT's "[CLS] text [SEP]": its bos and eos (vocab.cpp).
  add_bos = vocab.add_bos.value_or(is_spm || is_wordpiece || pre->default_add_bos());
  add_eos = vocab.add_eos.value_or(is_wordpiece);
  add_space_prefix = (is_spm && vocab.add_space_prefix.value_or(true)) || is_wordpiece;
  if (add_bos && vocab.special.bos == kNoToken) {
    throw Error(fmt::format("{}: the tokenizer adds BOS but tokenizer.ggml.bos_token_id is missing",
                            file.name()));
  }
  if (add_eos && vocab.special.eos == kNoToken) {
    throw Error(
        fmt::format("{}: tokenizer.ggml.add_eos_token is set but tokenizer.ggml.eos_token_id "
                    "is missing",
                    file.name()));
  }
}

void Tokenizer::Impl::encode_fragment(std::string_view text, bool at_text_start,
                                      std::vector<TokenId>& out) const {
  if (vocab.kind == tokenizer::VocabKind::Spm) {
    spm->encode(vocab, spm_escape(text, add_space_prefix && at_text_start), out);
    return;
  }
  if (wordpiece) {
    wordpiece->encode(vocab, text, out);
    return;
  }
  // The regexes need valid UTF-8: invalid bytes become U+FFFD, as llama.cpp does.
  std::string sanitized;
  if (!tokenizer::utf8_is_valid(text)) {
    sanitized = tokenizer::utf8_sanitize(text);
    text = sanitized;
  }
  std::string word;
  for (const tokenizer::Span& span : pre->split(text)) {
    word.clear();
    tokenizer::byte_level_encode(text.substr(span.offset, span.length), word);
    merges->encode_word(vocab, word, pre->ignore_merges(), out);
  }
}

void Tokenizer::Impl::append_piece(TokenId token, bool render_special, bool& at_text_start,
                                   std::string& out) const {
  vocab.check(token);
  const std::string& text = vocab.texts[token];
  switch (vocab.types[token]) {
    case TokenType::Normal: {
      if (vocab.kind == tokenizer::VocabKind::Bpe) {
        tokenizer::byte_level_decode(text, out);
      } else {
        const size_t start = out.size();
        spm_unescape(text, out);
        if (add_space_prefix && at_text_start && out.size() > start && out[start] == ' ') {
          out.erase(start, 1);
        }
      }
      at_text_start = false;
      return;
    }
    case TokenType::Byte:
      out += static_cast<char>(vocab.byte_value(token));
      at_text_start = false;
      return;
    case TokenType::UserDefined:
      out += text;
      break;
    default:  // control, unknown, unused, undefined
      if (render_special) out += text;
      break;
  }
  at_text_start = true;  // the input had a special-token fragment here
}

Tokenizer::Tokenizer(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Tokenizer TokenizerInternals::from_file(const gguf::File& file) {
  return Tokenizer(std::make_unique<const Tokenizer::Impl>(file));
}

Tokenizer Tokenizer::open(const std::string& path) {
  return TokenizerInternals::from_file(gguf::File::open(path));
}

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<TokenId> Tokenizer::tokenize(std::string_view text,
                                         const TokenizeOptions& options) const {
  const Impl& im = *impl_;
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 2);
  if (options.add_bos && im.add_bos) out.push_back(im.vocab.special.bos);
  bool at_text_start = true;
  for (const tokenizer::Fragment& f : im.splitter.split(text, options.parse_special)) {
    if (f.token != kNoToken) {
      out.push_back(f.token);
      at_text_start = true;
    } else {
      im.encode_fragment(f.text, at_text_start, out);
      at_text_start = false;
    }
  }
  if (options.add_eos && im.add_eos) out.push_back(im.vocab.special.eos);
  return out;
}

std::string Tokenizer::detokenize(std::span<const TokenId> tokens, bool render_special) const {
  std::string out;
  bool at_text_start = true;
  for (TokenId t : tokens) impl_->append_piece(t, render_special, at_text_start, out);
  return out;
}

std::string Tokenizer::token_to_piece(TokenId token, bool render_special) const {
  std::string out;
  bool at_text_start = false;  // a lone piece keeps its leading space
  impl_->append_piece(token, render_special, at_text_start, out);
  return out;
}

std::string_view Tokenizer::token_bytes(TokenId token) const {
  impl_->vocab.check(token);
  std::call_once(impl_->pieces_once, [this] {
    const Impl& im = *impl_;
    im.piece_offsets.reserve(size_t(n_vocab()) + 1);
    for (TokenId id = 0; id < n_vocab(); ++id) {
      im.piece_offsets.push_back(uint32_t(im.pieces.size()));
      bool at_text_start = false;
      im.append_piece(id, false, at_text_start, im.pieces);
    }
    im.piece_offsets.push_back(uint32_t(im.pieces.size()));
  });
  const uint32_t begin = impl_->piece_offsets[size_t(token)];
  return std::string_view(impl_->pieces)
      .substr(begin, impl_->piece_offsets[size_t(token) + 1] - begin);
}

int32_t Tokenizer::n_vocab() const { return impl_->vocab.size(); }

std::string_view Tokenizer::token_text(TokenId token) const {
  impl_->vocab.check(token);
  return impl_->vocab.texts[token];
}

TokenType Tokenizer::token_type(TokenId token) const {
  impl_->vocab.check(token);
  return impl_->vocab.types[token];
}

float Tokenizer::token_score(TokenId token) const {
  impl_->vocab.check(token);
  return impl_->vocab.scores[token];
}

TokenId Tokenizer::find_token(std::string_view text) const { return impl_->vocab.find(text); }

const SpecialTokens& Tokenizer::special() const { return impl_->vocab.special; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }

bool Tokenizer::is_end_of_generation(TokenId token) const {
  const auto& eog = impl_->vocab.end_of_generation;
  return token != kNoToken && std::find(eog.begin(), eog.end(), token) != eog.end();
}

std::string_view Tokenizer::model_name() const { return impl_->vocab.model_name; }
std::string_view Tokenizer::pre_name() const { return impl_->vocab.pre_name; }

}  // namespace tern

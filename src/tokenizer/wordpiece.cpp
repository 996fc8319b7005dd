#include "tokenizer/wordpiece.h"

#include <fmt/format.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/utf16.h>

#include <string>

#include "tern/error.h"
#include "tokenizer/utf8.h"

namespace tern::tokenizer {

namespace {

constexpr std::string_view kWordStart = "\xE2\x96\x81";  // "▁" U+2581
constexpr size_t kMaxWordChars = 100;                    // BERT's max_input_chars_per_word

bool is_control(uint32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_CONTROL_CHAR:
    case U_FORMAT_CHAR:
    case U_PRIVATE_USE_CHAR:
    case U_SURROGATE:
    case U_UNASSIGNED:
      return true;
    default:
      return false;
  }
}

bool is_whitespace(uint32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
         u_isUWhiteSpace(static_cast<UChar32>(c));
}

// BERT counts every non-alphanumeric ASCII symbol as punctuation ("$", "+", "^" are not
// Unicode punctuation), and every character of a Unicode P* category.
bool is_punctuation(uint32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126)) {
    return true;
  }
  return u_ispunct(static_cast<UChar32>(c));
}

// The CJK Unified Ideographs blocks BERT splits into one-character words (its
// _is_chinese_char; Hangul and kana are written with spaces and are not among them).
bool is_cjk(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// c's canonical decomposition (NFD), or c itself.
std::u32string decompose(uint32_t c) {
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* nfd = unorm2_getNFDInstance(&status);
  UChar buf[32];
  int32_t n = U_SUCCESS(status)
                  ? unorm2_getDecomposition(nfd, static_cast<UChar32>(c), buf, 32, &status)
                  : -1;
  if (n < 0 || U_FAILURE(status)) return std::u32string(1, c);
  std::u32string out;
  for (int32_t i = 0; i < n;) {
    UChar32 d = 0;
    U16_NEXT(buf, i, n, d);
    out.push_back(static_cast<char32_t>(d));
  }
  return out;
}

std::string to_utf8(std::u32string_view chars) {
  std::string out;
  for (char32_t c : chars) utf8_append(c, out);
  return out;
}

}  // namespace

WordPieceEncoder::WordPieceEncoder(const Vocab& vocab)
    : unk_(vocab.special.unk != kNoToken ? vocab.special.unk : vocab.find("[UNK]")) {
  if (unk_ == kNoToken) {
    throw Error(
        fmt::format("{}: a WordPiece vocabulary needs an unknown token "
                    "(tokenizer.ggml.unknown_token_id or [UNK])",
                    vocab.file_name));
  }
}

void WordPieceEncoder::encode(const Vocab& vocab, std::string_view text,
                              std::vector<TokenId>& out) const {
  std::string sanitized;
  if (!utf8_is_valid(text)) {
    sanitized = utf8_sanitize(text);
    text = sanitized;
  }
  std::u32string word;
  auto end_word = [&] {
    if (!word.empty()) encode_word(vocab, word, out);
    word.clear();
  };
  for (size_t i = 0; i < text.size();) {
    const size_t len = utf8_valid_length(text.substr(i));
    const uint32_t c = utf8_decode(text.substr(i), len);
    i += len;
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_whitespace(c)) {
      end_word();
      continue;
    }
    for (char32_t d : decompose(c)) {
      if (u_charType(static_cast<UChar32>(d)) == U_NON_SPACING_MARK) continue;  // accents
      const auto lower = static_cast<char32_t>(u_tolower(static_cast<UChar32>(d)));
      if (is_punctuation(lower) || is_cjk(lower)) {  // a word of its own
        end_word();
        word.push_back(lower);
        end_word();
      } else {
        word.push_back(lower);
      }
    }
  }
  end_word();
}

void WordPieceEncoder::encode_word(const Vocab& vocab, std::u32string_view word,
                                   std::vector<TokenId>& out) const {
  if (word.size() > kMaxWordChars) {
    out.push_back(unk_);
    return;
  }
  const size_t first = out.size();
  std::string piece;
  for (size_t start = 0; start < word.size();) {
    TokenId found = kNoToken;
    size_t end = word.size();
    for (; end > start; --end) {  // the longest piece first
      piece = start == 0 ? std::string(kWordStart) : std::string();
      piece += to_utf8(word.substr(start, end - start));
      found = vocab.find(piece);
      if (found != kNoToken) break;
    }
    if (found == kNoToken) {  // no piece covers this part: the whole word is unknown
      out.resize(first);
      out.push_back(unk_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

}  // namespace tern::tokenizer

#include "tokenizer/byte_level.h"

#include <array>
#include <cstdint>

#include "tokenizer/utf8.h"

namespace tern::tokenizer {

namespace {

// Printable Latin-1 bytes stand for themselves; the other 68 byte values are shifted to
// U+0100.. in byte order. Highest code point used: 256 + 67.
constexpr uint32_t kAlphabetEnd = 256 + 68;

struct ByteLevelTables {
  std::array<std::string, 256> encoded;       // byte -> UTF-8 of its character
  std::array<int16_t, kAlphabetEnd> decoded;  // code point -> byte, or -1

  ByteLevelTables() {
    decoded.fill(-1);
    uint32_t next_shifted = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const uint32_t cp = printable ? b : next_shifted++;
      utf8_append(cp, encoded[b]);
      decoded[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables kTables;
  return kTables;
}

}  // namespace

void byte_level_encode(std::string_view text, std::string& out) {
  const ByteLevelTables& t = tables();
  for (char c : text) out += t.encoded[static_cast<uint8_t>(c)];
}

void byte_level_decode(std::string_view text, std::string& out) {
  const ByteLevelTables& t = tables();
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_valid_length(text.substr(i));
    if (n == 0) {  // not a character: keep the byte
      out += text[i++];
      continue;
    }
    const uint32_t cp = utf8_decode(text.substr(i), n);
    if (cp < kAlphabetEnd && t.decoded[cp] >= 0) {
      out += static_cast<char>(t.decoded[cp]);
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
}

}  // namespace tern::tokenizer

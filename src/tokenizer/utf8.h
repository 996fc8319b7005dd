// UTF-8 helpers shared by the tokenizer: sequence lengths, validation, encoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::tokenizer {

/// Length of the UTF-8 sequence that `lead` starts (1 for ASCII and for invalid lead bytes,
/// so that a byte-wise walk always advances).
size_t utf8_sequence_length(uint8_t lead);

/// Length of the well-formed UTF-8 sequence at the start of `text`, or 0 when the bytes there
/// are not one (bad lead, bad continuation, overlong form, surrogate, above U+10FFFF, or cut
/// short by the end of `text`).
size_t utf8_valid_length(std::string_view text);

/// True when `text` is well-formed UTF-8 throughout.
bool utf8_is_valid(std::string_view text);

/// `text` with every byte that is not part of a well-formed sequence replaced by U+FFFD.
std::string utf8_sanitize(std::string_view text);

/// Appends the UTF-8 encoding of `codepoint` (<= U+10FFFF) to `out`.
void utf8_append(uint32_t codepoint, std::string& out);

/// Decodes the well-formed sequence of `length` bytes at the start of `text`.
uint32_t utf8_decode(std::string_view text, size_t length);

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace tern::tokenizer

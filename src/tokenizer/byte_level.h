// GPT-2's byte-level alphabet: each of the 256 byte values is shown as one printable
// character, so byte-level BPE vocabularies hold only printable text ("Ġ" is the space byte).
#pragma once

#include <string>
#include <string_view>

namespace tern::tokenizer {

/// Appends the byte-level form of the raw bytes `text` (one character per byte) to `out`.
void byte_level_encode(std::string_view text, std::string& out);

/// Appends the raw bytes that the byte-level text `text` stands for to `out`. Characters
/// outside the byte-level alphabet are copied unchanged.
void byte_level_decode(std::string_view text, std::string& out);

}  // namespace tern::tokenizer

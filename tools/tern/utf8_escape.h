// Text that must be valid UTF-8 (JSON output) but comes from outside: file names, GGUF
// strings. Invalid bytes are written as the four characters \xNN instead of failing the
// command or being replaced by U+FFFD, so the original bytes can still be read back.
#pragma once

#include <string>
#include <string_view>

namespace tern::cli {

/// `text` with each byte that is not part of a well-formed UTF-8 sequence written as
/// "\xNN" (two lowercase hex digits). Valid UTF-8 is returned unchanged.
std::string escape_invalid_utf8(std::string_view text);

}  // namespace tern::cli

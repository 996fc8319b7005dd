// The one table of chat formats: name, how to recognise it, how it ends an assistant turn,
// and its renderer. Nothing else in tern switches on ChatFormat.
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

#include "tern/chat.h"

namespace tern::chat {

/// Appends the rendering of `messages` to `out` (empty on entry).
using RenderFn = void (*)(const ChatTemplate& tmpl, std::span<const ChatMessage> messages,
                          bool add_generation_prompt, std::string& out);

struct FormatInfo {
  ChatFormat format;
  std::string_view name;                    // --chat-template NAME
  std::array<std::string_view, 2> markers;  // all non-empty ones occur in the Jinja source
  std::string_view end_of_turn;             // ends an assistant turn; the stop token
  RenderFn render;
};

/// Every format, in detection order (more specific markers first).
std::span<const FormatInfo> all_formats();
const FormatInfo& format_info(ChatFormat format);

}  // namespace tern::chat

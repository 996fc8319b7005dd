// One renderer per chat format, each a C++ transcription of its family's Jinja template
// (see tests/data/chat/*.jinja), minus the leading BOS.
#pragma once

#include <span>
#include <string>

#include "tern/chat.h"

namespace tern::chat {

void render_chatml(const ChatTemplate& tmpl, std::span<const ChatMessage> messages, bool gen,
                   std::string& out);
void render_llama3(const ChatTemplate& tmpl, std::span<const ChatMessage> messages, bool gen,
                   std::string& out);
void render_llama2(const ChatTemplate& tmpl, std::span<const ChatMessage> messages, bool gen,
                   std::string& out);
void render_mistral(const ChatTemplate& tmpl, std::span<const ChatMessage> messages, bool gen,
                    std::string& out);
void render_gemma(const ChatTemplate& tmpl, std::span<const ChatMessage> messages, bool gen,
                  std::string& out);
void render_phi3(const ChatTemplate& tmpl, std::span<const ChatMessage> messages, bool gen,
                 std::string& out);
void render_deepseek(const ChatTemplate& tmpl, std::span<const ChatMessage> messages, bool gen,
                     std::string& out);

}  // namespace tern::chat

// Detection, names and rendering entry points; per-format behaviour is in the table below.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vector>

#include "chat/chat_formats.h"
#include "chat/renderers.h"
#include "tern/error.h"

namespace tern {
namespace chat {
namespace {

// Detection order matters: Llama 2's "[INST]" + "<<SYS>>" before Mistral's bare "[INST]".
constexpr FormatInfo kFormats[] = {
    {ChatFormat::ChatMl, "chatml", {"<|im_start|>", "<|im_end|>"}, "<|im_end|>", render_chatml},
    {ChatFormat::Llama3,
     "llama3",
     {"<|start_header_id|>", "<|end_header_id|>"},
     "<|eot_id|>",
     render_llama3},
    {ChatFormat::Gemma,
     "gemma",
     {"<start_of_turn>", "<end_of_turn>"},
     "<end_of_turn>",
     render_gemma},
    {ChatFormat::Phi3, "phi3", {"<|assistant|>", "<|end|>"}, "<|end|>", render_phi3},
    {ChatFormat::DeepSeek,
     "deepseek",
     {"<｜User｜>", "<｜Assistant｜>"},
     "<｜end▁of▁sentence｜>",
     render_deepseek},
    {ChatFormat::Llama2, "llama2", {"[INST]", "<<SYS>>"}, "</s>", render_llama2},
    {ChatFormat::Mistral, "mistral", {"[INST]", ""}, "</s>", render_mistral},
};

bool matches(const FormatInfo& info, std::string_view source) {
  for (std::string_view marker : info.markers) {
    if (!marker.empty() && source.find(marker) == std::string_view::npos) return false;
  }
  return true;
}

// A ChatML template's built-in system turn, written as a literal in the source, e.g.
// '<|im_start|>system\nYou are a helpful AI assistant...<|im_end|>\n'. A system turn built
// from an expression (' + messages[0]['content'] + ') is not a default and is skipped.
std::string default_system_prompt(std::string_view source) {
  constexpr std::string_view kOpen = "<|im_start|>system";
  constexpr std::string_view kClose = "<|im_end|>";
  for (size_t at = source.find(kOpen); at != std::string_view::npos;
       at = source.find(kOpen, at + 1)) {
    std::string_view rest = source.substr(at + kOpen.size());
    if (rest.starts_with("\\n")) {  // newline written as an escape in the Jinja literal
      rest.remove_prefix(2);
    } else if (rest.starts_with("\n")) {
      rest.remove_prefix(1);
    } else {
      continue;
    }
    const size_t end = rest.find(kClose);
    if (end == std::string_view::npos) continue;
    const std::string_view text = rest.substr(0, end);
    if (text.empty() || text.find_first_of("'\"{}+") != std::string_view::npos) continue;
    return std::string(text);
  }
  return {};
}

}  // namespace

std::span<const FormatInfo> all_formats() { return kFormats; }

const FormatInfo& format_info(ChatFormat format) {
  for (const FormatInfo& info : kFormats) {
    if (info.format == format) return info;
  }
  throw Error(fmt::format("chat: unknown format id {}", int(format)));
}

}  // namespace chat

ChatTemplate detect_chat_template(std::string_view jinja_source) {
  for (const chat::FormatInfo& info : chat::all_formats()) {
    if (!jinja_source.empty() && chat::matches(info, jinja_source)) {
      ChatTemplate tmpl(info.format);
      if (info.format == ChatFormat::ChatMl) {
        tmpl.default_system = chat::default_system_prompt(jinja_source);
      }
      return tmpl;
    }
  }
  ChatTemplate tmpl(ChatFormat::ChatMl);
  tmpl.fallback = true;
  return tmpl;
}

ChatTemplate chat_template_from_name(std::string_view name) {
  for (const chat::FormatInfo& info : chat::all_formats()) {
    if (info.name == name) return ChatTemplate(info.format);
  }
  throw Error(fmt::format("chat template '{}' is unknown; known: {}", name,
                          fmt::join(chat_format_names(), ", ")));
}

std::string_view chat_format_name(ChatFormat format) { return chat::format_info(format).name; }

std::vector<std::string_view> chat_format_names() {
  std::vector<std::string_view> names;
  for (const chat::FormatInfo& info : chat::all_formats()) names.push_back(info.name);
  return names;
}

std::string_view chat_end_of_turn(ChatFormat format) {
  return chat::format_info(format).end_of_turn;
}

std::string apply_chat_template(const ChatTemplate& tmpl, std::span<const ChatMessage> messages,
                                bool add_generation_prompt) {
  std::string out;
  chat::format_info(tmpl.format).render(tmpl, messages, add_generation_prompt, out);
  return out;
}

std::string apply_chat_continuation(const ChatTemplate& tmpl, std::span<const ChatMessage> history,
                                    const ChatMessage& next, bool add_generation_prompt) {
  std::vector<ChatMessage> longer(history.begin(), history.end());
  longer.push_back(next);
  const std::string before = apply_chat_template(tmpl, history, false);
  const std::string after = apply_chat_template(tmpl, longer, add_generation_prompt);
  size_t cut = before.size();
  if (!history.empty() && history.back().role == "assistant") {
    // The cache ends at the stop token; whatever the template puts after it is new text.
    const std::string_view end = chat_end_of_turn(tmpl.format);
    const size_t at = before.rfind(end);
    if (at != std::string::npos) cut = at + end.size();
  }
  if (after.compare(0, cut, before, 0, cut) != 0) {
    throw Error(fmt::format("chat template {}: adding a {} turn changes the earlier text",
                            chat_format_name(tmpl.format), next.role));
  }
  return after.substr(cut);
}

}  // namespace tern

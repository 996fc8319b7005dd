#include "chat/renderers.h"

#include <string_view>

namespace tern::chat {
namespace {

// Python's str.strip() / Jinja's trim over ASCII whitespace.
std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

bool has_leading_system(std::span<const ChatMessage> messages) {
  return !messages.empty() && messages.front().role == "system";
}

}  // namespace

void render_chatml(const ChatTemplate& tmpl, std::span<const ChatMessage> messages, bool gen,
                   std::string& out) {
  if (!messages.empty() && !has_leading_system(messages) && !tmpl.default_system.empty()) {
    out += "<|im_start|>system\n" + tmpl.default_system + "<|im_end|>\n";
  }
  for (const ChatMessage& m : messages) {
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  if (gen) out += "<|im_start|>assistant\n";
}

void render_llama3(const ChatTemplate&, std::span<const ChatMessage> messages, bool gen,
                   std::string& out) {
  for (const ChatMessage& m : messages) {
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n";
    out += trim(m.content);
    out += "<|eot_id|>";
  }
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
}

// Llama 2 chat: a leading system message is wrapped in <<SYS>> and joined to the first
// user turn before stripping; each user turn after the first restarts with "<s>".
// There is no generation prompt: "[/INST]" already hands over to the model.
void render_llama2(const ChatTemplate&, std::span<const ChatMessage> messages, bool,
                   std::string& out) {
  std::string system_prefix;
  if (has_leading_system(messages)) {
    system_prefix = "<<SYS>>\n" + messages.front().content + "\n<</SYS>>\n\n";
    messages = messages.subspan(1);
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string content = (i == 0 ? system_prefix : "") + messages[i].content;
    if (messages[i].role == "user") {
      if (!out.empty()) out += "<s>";
      out += "[INST] ";
      out += trim(content);
      out += " [/INST]";
    } else if (messages[i].role == "assistant") {
      out += " ";
      out += trim(content);
      out += " </s>";
    }
  }
}

// Mistral Instruct: no system role in its template; tern folds a leading system message
// into the first user turn, separated by a blank line.
void render_mistral(const ChatTemplate&, std::span<const ChatMessage> messages, bool,
                    std::string& out) {
  std::string system_prefix;
  if (has_leading_system(messages)) {
    system_prefix = messages.front().content + "\n\n";
    messages = messages.subspan(1);
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role == "user") {
      out += "[INST] " + (i == 0 ? system_prefix : "") + messages[i].content + " [/INST]";
    } else if (messages[i].role == "assistant") {
      out += messages[i].content + "</s>";
    }
  }
}

// Gemma: no system role; a leading system message becomes a prefix of the first turn.
void render_gemma(const ChatTemplate&, std::span<const ChatMessage> messages, bool gen,
                  std::string& out) {
  std::string first_prefix;
  if (has_leading_system(messages)) {
    first_prefix = messages.front().content + "\n\n";
    messages = messages.subspan(1);
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string role = messages[i].role == "assistant" ? "model" : messages[i].role;
    out += "<start_of_turn>" + role + "\n" + (i == 0 ? first_prefix : "");
    out += trim(messages[i].content);
    out += "<end_of_turn>\n";
  }
  if (gen) out += "<start_of_turn>model\n";
}

void render_phi3(const ChatTemplate&, std::span<const ChatMessage> messages, bool gen,
                 std::string& out) {
  for (const ChatMessage& m : messages) {
    out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
  }
  if (gen) out += "<|assistant|>\n";
}

// DeepSeek V3/R1: the (last) system message's text comes first, with no markers.
void render_deepseek(const ChatTemplate&, std::span<const ChatMessage> messages, bool gen,
                     std::string& out) {
  for (const ChatMessage& m : messages) {
    if (m.role == "system") out = m.content;
  }
  for (const ChatMessage& m : messages) {
    if (m.role == "user") {
      out += "<｜User｜>" + m.content;
    } else if (m.role == "assistant") {
      out += "<｜Assistant｜>" + m.content + "<｜end▁of▁sentence｜>";
    }
  }
  if (gen) out += "<｜Assistant｜>";
}

}  // namespace tern::chat

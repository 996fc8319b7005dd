// Chat templates: turn a conversation into the prompt text a chat model was trained on.
// Formats are recognised from the Jinja source in a GGUF's `tokenizer.chat_template` by
// their marker strings and rendered in C++; no Jinja is executed.
//
// Threads: every function here is pure (no shared state) and may run in any thread.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tern {

/// The template families tern renders. Qwen, SmolLM and most fine-tunes are ChatML.
enum class ChatFormat {
  ChatMl,    // <|im_start|>role\n...<|im_end|>\n
  Llama3,    // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
  Llama2,    // [INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] ... </s>
  Mistral,   // [INST] ... [/INST]...</s> (no system role: folded into the first user turn)
  Gemma,     // <start_of_turn>user\n...<end_of_turn>\n, assistant is "model"
  Phi3,      // <|user|>\n...<|end|>\n
  DeepSeek,  // system text, then <｜User｜>...<｜Assistant｜>...<｜end▁of▁sentence｜>
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (other roles are rendered verbatim)
  std::string content;
};

/// A format plus what was read from the template source.
struct ChatTemplate {
  ChatFormat format = ChatFormat::ChatMl;
  /// ChatML templates that add a system turn when the conversation has none (SmolLM2, Qwen2.5)
  /// carry its text here; empty means no default system turn.
  std::string default_system;
  /// True when the source was empty or not recognised and ChatML was chosen as a fallback;
  /// callers should warn and offer --chat-template.
  bool fallback = false;

  ChatTemplate() = default;
  ChatTemplate(ChatFormat f) : format(f) {}  // NOLINT: implicit so a format can be passed
};

/// Recognises the family of a Jinja chat template (the GGUF key tokenizer.chat_template).
ChatTemplate detect_chat_template(std::string_view jinja_source);
/// The template for a --chat-template NAME (see chat_format_names()); throws tern::Error
/// listing the valid names for an unknown one.
ChatTemplate chat_template_from_name(std::string_view name);
/// The short name of a format, as accepted by chat_template_from_name ("chatml", "gemma"...).
std::string_view chat_format_name(ChatFormat format);
/// Every accepted name, in table order.
std::vector<std::string_view> chat_format_names();
/// The text that ends an assistant turn (the model's stop token), e.g. "<|im_end|>".
std::string_view chat_end_of_turn(ChatFormat format);

/// Renders a conversation. The text never starts with the BOS token even where the Jinja
/// template writes one (Llama 2/3, Gemma, DeepSeek): the tokenizer adds BOS
/// (tokenizer.ggml.add_bos_token), and writing it here too would double it. Later BOS
/// markers inside the text (Llama 2's "<s>[INST]" per turn) are kept, for the tokenizer to
/// read as special tokens. With add_generation_prompt, ends with the opening of an assistant
/// turn. Contents are trimmed where the family's template trims them (Llama 2/3, Gemma).
std::string apply_chat_template(const ChatTemplate& tmpl, std::span<const ChatMessage> messages,
                                bool add_generation_prompt);

/// For a chat loop that keeps its KV cache across turns: the text to feed after `history`
/// (already in the cache) to add `next`. When history ends with an assistant turn, the cache
/// is taken to end right after that turn's end-of-turn token (chat_end_of_turn(), the token
/// the model stopped on), so the text starts just after it, e.g. "\n<|im_start|>user\n...".
/// Throws tern::Error if the format's rendering of the longer conversation does not extend
/// the shorter one.
std::string apply_chat_continuation(const ChatTemplate& tmpl, std::span<const ChatMessage> history,
                                    const ChatMessage& next, bool add_generation_prompt);

}  // namespace tern

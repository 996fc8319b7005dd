// Choosing a model's chat format: a name, the file's template, its architecture, or ChatML.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tern/generate.h"

namespace tern {

namespace {

// Architectures whose chat models all share one format, for files without a usable
// tokenizer.chat_template. "llama" is absent on purpose: Llama 2, Llama 3 and many
// ChatML fine-tunes (SmolLM) all use it.
struct ArchFormat {
  std::string_view arch;
  ChatFormat format;
};
constexpr ArchFormat kArchFormats[] = {
    {"gemma", ChatFormat::Gemma},  {"gemma2", ChatFormat::Gemma}, {"gemma3", ChatFormat::Gemma},
    {"qwen2", ChatFormat::ChatMl}, {"qwen3", ChatFormat::ChatMl}, {"phi3", ChatFormat::Phi3},
};

}  // namespace

ChatTemplateChoice choose_chat_template(const Model& model, std::string_view name) {
  ChatTemplateChoice choice;
  if (!name.empty()) {
    choice.tmpl = chat_template_from_name(name);
    choice.source = ChatTemplateSource::Named;
    return choice;
  }
  if (std::optional<std::string> source = model.meta_string("tokenizer.chat_template")) {
    ChatTemplate detected = detect_chat_template(*source);
    if (!detected.fallback) {
      choice.tmpl = std::move(detected);
      choice.source = ChatTemplateSource::Metadata;
      return choice;
    }
  }
  for (const ArchFormat& entry : kArchFormats) {
    if (entry.arch == model.architecture()) {
      choice.tmpl = ChatTemplate(entry.format);
      choice.source = ChatTemplateSource::Architecture;
      return choice;
    }
  }
  choice.tmpl = ChatTemplate(ChatFormat::ChatMl);
  choice.tmpl.fallback = true;
  choice.source = ChatTemplateSource::Fallback;
  choice.warning =
      fmt::format("no recognised chat template in the model ({}); using chatml (other formats: {})",
                  model.architecture(), fmt::join(chat_format_names(), ", "));
  return choice;
}

}  // namespace tern

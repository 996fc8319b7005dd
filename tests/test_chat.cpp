// Chat templates: detection from real and representative Jinja sources, and rendered
// prompts compared byte for byte with jinja2's rendering of the same sources
// (tests/data/chat/expected/, made by tests/data/chat/make_fixtures.py).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "tern/chat.h"
#include "tern/error.h"
#include "tern/model_path.h"

namespace tern {
namespace {

const std::string kChatDir = std::string(TERN_TEST_DATA_DIR) + "/chat/";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open fixture " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// conversations.tsv: conversation<TAB>role<TAB>content, "\n" escaped as backslash-n.
std::map<std::string, std::vector<ChatMessage>> read_conversations() {
  std::map<std::string, std::vector<ChatMessage>> out;
  std::istringstream in(read_file(kChatDir + "conversations.tsv"));
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find('\t'), b = line.find('\t', a + 1);
    std::string content;
    for (size_t i = b + 1; i < line.size(); ++i) {
      const bool escape = line[i] == '\\' && i + 1 < line.size() && line[i + 1] == 'n';
      content += escape ? '\n' : line[i];
      i += escape ? 1 : 0;
    }
    out[line.substr(0, a)].push_back({line.substr(a + 1, b - a - 1), content});
  }
  return out;
}

struct Fixture {
  const char* stem;  // tests/data/chat/STEM.jinja
  ChatFormat format;
  const char* default_system;
  bool has_system_conversations;
};

const Fixture kFixtures[] = {
    {"smollm2-135m", ChatFormat::ChatMl,
     "You are a helpful AI assistant named SmolLM, trained by Hugging Face", true},
    {"chatml", ChatFormat::ChatMl, "", true},
    {"qwen2.5", ChatFormat::ChatMl,
     "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.", true},
    {"llama3", ChatFormat::Llama3, "", true},
    {"llama2", ChatFormat::Llama2, "", true},
    {"mistral", ChatFormat::Mistral, "", false},
    {"gemma3", ChatFormat::Gemma, "", true},
    {"phi3", ChatFormat::Phi3, "", true},
    {"deepseek", ChatFormat::DeepSeek, "", true},
};

std::string expected(const Fixture& f, const std::string& conv, bool gen) {
  return read_file(kChatDir + "expected/" + f.stem + "." + conv + (gen ? ".gen" : ".nogen") +
                   ".txt");
}

TEST(ChatTemplate, DetectsEachFamily) {
  for (const Fixture& f : kFixtures) {
    const ChatTemplate tmpl = detect_chat_template(read_file(kChatDir + f.stem + ".jinja"));
    EXPECT_EQ(chat_format_name(tmpl.format), chat_format_name(f.format)) << f.stem;
    EXPECT_EQ(tmpl.default_system, f.default_system) << f.stem;
    EXPECT_FALSE(tmpl.fallback) << f.stem;
  }
}

// The fixture is the real model's template byte for byte; gemma3-270m ships none, so it
// falls back to ChatML like llama.cpp does (use --chat-template gemma).
TEST(ChatTemplate, FixturesMatchTheRealModels) {
  const std::string smollm = resolve_model_path("smollm2-135m");
  const std::string gemma = resolve_model_path("gemma3-270m");
  const gguf::File smollm_file = gguf::File::open(smollm);
  EXPECT_EQ(smollm_file.get_string("tokenizer.chat_template"),
            read_file(kChatDir + "smollm2-135m.jinja"));
  const gguf::File gemma_file = gguf::File::open(gemma);
  EXPECT_EQ(gemma_file.find("tokenizer.chat_template"), nullptr);
  EXPECT_TRUE(detect_chat_template("").fallback);
}

TEST(ChatTemplate, UnrecognisedFallsBackToChatMlWithFlag) {
  for (const char* source : {"", "{% for m in messages %}{{ m['content'] }}{% endfor %}"}) {
    const ChatTemplate tmpl = detect_chat_template(source);
    EXPECT_EQ(tmpl.format, ChatFormat::ChatMl);
    EXPECT_TRUE(tmpl.fallback);
    EXPECT_TRUE(tmpl.default_system.empty());
  }
}

TEST(ChatTemplate, RendersLikeJinja) {
  const auto conversations = read_conversations();
  ASSERT_EQ(conversations.size(), 5u);
  int compared = 0;
  for (const Fixture& f : kFixtures) {
    const ChatTemplate tmpl = detect_chat_template(read_file(kChatDir + f.stem + ".jinja"));
    for (const auto& [name, messages] : conversations) {
      const bool has_system = messages.front().role == "system";
      if (has_system && !f.has_system_conversations) continue;
      for (bool gen : {true, false}) {
        EXPECT_EQ(apply_chat_template(tmpl, messages, gen), expected(f, name, gen))
            << f.stem << " / " << name << (gen ? " with" : " without") << " generation prompt";
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, 86);
}

TEST(ChatTemplate, SmolLm2AddsItsDefaultSystemPrompt) {
  const ChatTemplate tmpl = detect_chat_template(read_file(kChatDir + "smollm2-135m.jinja"));
  const std::vector<ChatMessage> chat = {{"user", "Hi"}};
  EXPECT_EQ(apply_chat_template(tmpl, chat, true),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, GemmaFoldsSystemIntoFirstTurnWithoutBos) {
  const std::vector<ChatMessage> chat = {{"system", "Be brief."}, {"user", "  Hi  "}};
  EXPECT_EQ(apply_chat_template(ChatFormat::Gemma, chat, true),
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplate, MistralFoldsSystemIntoFirstUserTurn) {
  const std::vector<ChatMessage> chat = {{"system", "Be brief."}, {"user", "Hi"}};
  EXPECT_EQ(apply_chat_template(ChatFormat::Mistral, chat, true), "[INST] Be brief.\n\nHi [/INST]");
}

TEST(ChatTemplate, NamesRoundTripAndUnknownNameIsAnError) {
  const std::vector<std::string_view> names = chat_format_names();
  EXPECT_EQ(names.size(), 7u);
  for (std::string_view name : names) {
    EXPECT_EQ(chat_format_name(chat_template_from_name(name).format), name);
  }
  try {
    chat_template_from_name("vicuna");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'vicuna'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("chatml"), std::string::npos);
  }
}

TEST(ChatContinuation, HandWrittenSuffixes) {
  const std::vector<ChatMessage> history = {{"user", "Hi"}, {"assistant", "Hello."}};
  const ChatMessage next = {"user", "Tell me a joke."};
  const ChatTemplate smollm = detect_chat_template(read_file(kChatDir + "smollm2-135m.jinja"));
  EXPECT_EQ(apply_chat_continuation(smollm, history, next, true),
            "\n<|im_start|>user\nTell me a joke.<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(apply_chat_continuation(ChatFormat::Gemma, history, next, true),
            "\n<start_of_turn>user\nTell me a joke.<end_of_turn>\n<start_of_turn>model\n");
  // With nothing in the cache yet the continuation is the whole prompt.
  EXPECT_EQ(apply_chat_continuation(smollm, {}, next, true),
            apply_chat_template(smollm, std::vector<ChatMessage>{next}, true));
}

// For every family: the jinja rendering of the longer conversation must start with the
// shorter one up to its last end-of-turn marker, and the rest is the continuation.
TEST(ChatContinuation, MatchesJinjaForEveryFamily) {
  const auto conversations = read_conversations();
  const std::vector<ChatMessage>& turn1 = conversations.at("turn1");
  const std::vector<ChatMessage>& multi = conversations.at("multi");
  ASSERT_EQ(turn1.size() + 1, multi.size());
  for (const Fixture& f : kFixtures) {
    const ChatTemplate tmpl = detect_chat_template(read_file(kChatDir + f.stem + ".jinja"));
    const std::string before = expected(f, "turn1", false);
    const std::string after = expected(f, "multi", true);
    const std::string_view end = chat_end_of_turn(tmpl.format);
    const size_t cut = before.rfind(end) + end.size();
    ASSERT_NE(before.rfind(end), std::string::npos) << f.stem;
    ASSERT_EQ(after.substr(0, cut), before.substr(0, cut)) << f.stem;
    EXPECT_EQ(apply_chat_continuation(tmpl, turn1, multi.back(), true), after.substr(cut))
        << f.stem;
  }
}

}  // namespace
}  // namespace tern

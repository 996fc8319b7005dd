// Real models answer a simple factual question with greedy decoding in their chat
// format. Skipped when the model file is absent (scripts/pull NAME fetches it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "backends/cpu/cpu_features.h"
#include "tern/model.h"
#include "tern/model_path.h"
#include "tern/session.h"
#include "tern/tokenizer.h"

namespace tern {
namespace {

// Greedy continuation of `prompt` (special tokens parsed) until EOS/EOT or n_max tokens.
std::string greedy_answer(const std::string& name, const std::string& prompt, int n_max) {
  Model model = Model::load(resolve_model_path(name));
  const Tokenizer& tokenizer = model.tokenizer();
  std::vector<TokenId> tokens =
      tokenizer.tokenize(prompt, {.add_eos = false, .parse_special = true});
  Session session(model, {.n_ctx = 256, .n_batch = 64});
  std::span<const float> logits = session.decode(tokens);
  std::vector<TokenId> answer;
  for (int i = 0; i < n_max; ++i) {
    auto next =
        static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (next == tokenizer.special().eos || next == tokenizer.special().eot) break;
    answer.push_back(next);
    logits = session.decode(std::span(&next, 1));
  }
  return tokenizer.detokenize(answer);
}

TEST(RealModels, SmolLm2KnowsTheCapitalOfFrance) {
  std::string answer = greedy_answer(
      "smollm2-135m",
      "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n", 16);
  EXPECT_NE(answer.find("Paris"), std::string::npos) << answer;
}

// gemma3-270m.gguf is the base (pretrained) model: no tokenizer.chat_template, and in the
// <start_of_turn> format it echoes the question (an independent numpy forward pass gives
// the same logits, see below). Its natural format is plain completion.
TEST(RealModels, Gemma3KnowsTheCapitalOfFrance) {
  std::string answer =
      greedy_answer("gemma3-270m", "Question: What is the capital of France?\nAnswer:", 4);
  EXPECT_NE(answer.find("Paris"), std::string::npos) << answer;
}

// Last-position logits of "<bos>The capital of France is" against an independent float64
// numpy implementation of gemma3 over the same file (weights dequantized by the gguf
// Python package): top five token ids and logits. Tolerance 0.01: float32 activations
// against float64 over 18 layers.
TEST(RealModels, Gemma3MatchesIndependentReference) {
  cpu::ScopedIsa scalar(cpu::Isa::Scalar);  // float activations, as the reference (SIMD: 8-bit)
  Model model = Model::load(resolve_model_path("gemma3-270m"));
  Session session(model, {.n_ctx = 16});
  const std::vector<int32_t> tokens = {2, 818, 5279, 529, 7001, 563};
  std::span<const float> logits = session.decode(tokens);
  const std::pair<int32_t, float> kTop5[] = {
      {506, 19.0915f}, {496, 18.5476f}, {9079, 18.2686f}, {886, 18.1130f}, {3224, 17.7839f}};
  for (auto [id, value] : kTop5) EXPECT_NEAR(logits[static_cast<size_t>(id)], value, 0.01f) << id;
  EXPECT_EQ(std::max_element(logits.begin(), logits.end()) - logits.begin(), 506);
}

}  // namespace
}  // namespace tern

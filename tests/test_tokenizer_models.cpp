// Tokenizers of the real models (scripts/pull fetches them; a missing model fails the test).
// Reference ids come from independent implementations built from the same GGUF metadata:
// HF `tokenizers` (BPE + Digits + ByteLevel pre-tokenizers) for SmolLM2 and `sentencepiece`
// (a BPE ModelProto with the file's pieces, scores and types, byte fallback, no dummy prefix)
// for Gemma 3. Both agree with tern on every text below.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tern/model_path.h"
#include "tern/tokenizer.h"

namespace tern {
namespace {

struct Case {
  std::string text;
  std::vector<TokenId> ids;  // no BOS, no special-token parsing
};

const std::vector<Case> kSmolLm2 = {
    {"The quick brown fox jumps over the lazy dog.",
     {504, 2365, 6354, 16438, 27003, 690, 260, 23790, 2767, 30}},
    {" Hello World!", {38699, 2260, 17}},
    {"\t\n", {197, 198}},
    {"1234567890 3.14159 1,000,000", {33, 34, 35, 36, 37,  38, 39, 40, 41, 32, 216, 35, 30, 33,
                                      36, 33, 37, 41, 216, 33, 28, 32, 32, 32, 28,  32, 32, 32}},
    {"I'm sure they'll've done it, we'd... Won't you?",
     {57, 5248, 2090, 502, 3060, 3543, 2294, 357, 28, 392, 6737, 2026, 42963, 982, 346, 47}},
    {"Hello, y'all! How are you 😁 ?我想在apple工作1314151天～",
     {19556, 28,  329, 23,  449, 17,    1073,  359,   346, 40303, 219, 9148,
      19805, 235, 177, 221, 128, 32632, 21949, 36149, 115, 40994, 33,  35,
      33,    36,  33,  37,  33,  18614, 119,   186,   138, 248}},
    {"emoji: 👨‍👩‍👧‍👦 🇫🇷 🙂🙃",
     {391, 33777, 42,    15107, 235, 118,   321,   231,   10813, 235, 119,
      321, 231,   10813, 235,   117, 321,   231,   10813, 235,   116, 15107,
      225, 121,   10813, 225,   132, 47526, 10813, 243,   221}},
};

const std::vector<Case> kGemma3 = {
    {"The quick brown fox jumps over the lazy dog.",
     {818, 3823, 8864, 37423, 38167, 1024, 506, 31770, 4799, 236761}},
    {" Hello World!", {26352, 4109, 236888}},
    {"\t\n", {255968, 107}},
    {"I'm sure they'll've done it, we'd... Won't you?",
     {236777, 236789, 236757, 2889,   901,  236789, 859,    236789, 560, 3028,  625,
      236764, 692,    236789, 236753, 1390, 57770,  236789, 236745, 611, 236881}},
    {"Hello, y'all! How are you 😁 ?我想在apple工作1314151天～",
     {9259,   236764, 570,    236789, 712,    236888, 2088,   659,
      611,    170124, 2360,   62133,  237075, 17641,  11700,  236770,
      236800, 236770, 236812, 236770, 236810, 236770, 237471, 238352}},
    {"emoji: 👨‍👩‍👧‍👦 🇫🇷 🙂🙃",
     {67906, 236787, 236743, 243874, 237243, 243767, 237243, 244814, 237243, 244990, 236743, 246598,
      242644, 57235, 244499}},
    // Runs of ASCII spaces are user-defined tokens ("  " is 138), cut out of the raw text
    // before SentencePiece runs, as llama.cpp does (sentencepiece itself would not see them).
    {"  Hello", {138, 9259}},
};

// Texts for the round trip: the llama.cpp vector inputs plus code, scripts and whitespace.
std::vector<std::string> round_trip_texts() {
  std::ifstream in(std::string(TERN_SHARED_DIR) + "/testdata/tokenizer/ggml-vocab-gpt-2.gguf.inp",
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string all = ss.str();
  std::vector<std::string> texts;
  const std::string sep = "\n__ggml_vocab_test__\n";
  size_t start = 0;
  for (size_t pos = all.find(sep); pos != std::string::npos; pos = all.find(sep, start)) {
    texts.push_back(all.substr(start, pos - start));
    start = pos + sep.size();
  }
  texts.push_back(all.substr(start));
  texts.push_back("def main():\n    print(\"hi\")  # comment\n\treturn 0\n");
  texts.push_back("Ünïcödé façade — naïve café; 東京都は日本の首都です。 Привет, мир! مرحبا");
  texts.push_back("tabs\t\tand   spaces    \n\n\n\nnewlines  ");
  texts.push_back("<|im_start|>user\nHi<|im_end|> <start_of_turn>model\n<end_of_turn>");
  return texts;
}

void check_model(const std::string& name, const std::vector<Case>& cases) {
  const Tokenizer tok = Tokenizer::open(resolve_model_path(name));
  const TokenizeOptions raw{.add_bos = false, .add_eos = false};
  for (const Case& c : cases) {
    EXPECT_EQ(tok.tokenize(c.text, raw), c.ids) << name << ": '" << c.text << "'";
  }
  for (const std::string& text : round_trip_texts()) {
    EXPECT_EQ(tok.detokenize(tok.tokenize(text)), text) << name;
    EXPECT_EQ(tok.detokenize(tok.tokenize(text, {.add_bos = false, .parse_special = true}), true),
              text)
        << name;
  }
}

TEST(TokenizerModels, SmolLm2MatchesReferenceAndRoundTrips) {
  check_model("smollm2-135m", kSmolLm2);
}

TEST(TokenizerModels, Gemma3MatchesReferenceAndRoundTrips) { check_model("gemma3-270m", kGemma3); }

TEST(TokenizerModels, SpecialTokensOfTheRealModels) {
  const Tokenizer smol = Tokenizer::open(resolve_model_path("smollm2-135m"));
  EXPECT_EQ(smol.model_name(), "gpt2");
  EXPECT_EQ(smol.pre_name(), "smollm");
  EXPECT_EQ(smol.n_vocab(), 49152);
  EXPECT_FALSE(smol.add_bos());
  EXPECT_EQ(smol.tokenize("<|im_start|>user\nHello<|im_end|>", {.parse_special = true}),
            (std::vector<TokenId>{1, 4093, 198, 19556, 2}));
  EXPECT_TRUE(smol.is_end_of_generation(2));  // <|im_end|> is SmolLM2-Instruct's EOS

  const Tokenizer gemma = Tokenizer::open(resolve_model_path("gemma3-270m"));
  EXPECT_EQ(gemma.n_vocab(), 262144);
  EXPECT_TRUE(gemma.add_bos());
  EXPECT_EQ(gemma.special().bos, 2);
  const TokenId end_of_turn = gemma.find_token("<end_of_turn>");
  EXPECT_EQ(gemma.special().eot, end_of_turn);
  EXPECT_TRUE(gemma.is_end_of_generation(end_of_turn));
  EXPECT_TRUE(gemma.is_end_of_generation(gemma.special().eos));
  EXPECT_EQ(gemma.tokenize("<start_of_turn>user\nHi", {.parse_special = true}),
            (std::vector<TokenId>{2, 105, 2364, 107, 10979}));
}

}  // namespace
}  // namespace tern

// Tokenizer against llama.cpp's test vectors in ../shared/testdata/tokenizer/: every input of
// each vocabulary's .inp must give exactly the ids on the matching line of .out (no BOS, no
// special-token parsing), and detokenizing must give the input back.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tern/error.h"
#include "tern/tokenizer.h"

namespace tern {
namespace {

const std::string kVocabDir = std::string(TERN_SHARED_DIR) + "/testdata/tokenizer";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Inputs are separated by "\n__ggml_vocab_test__\n"; an input may be empty or hold newlines.
std::vector<std::string> read_inputs(const std::string& path) {
  const std::string text = read_file(path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  size_t start = 0;
  for (size_t pos = text.find(sep); pos != std::string::npos; pos = text.find(sep, start)) {
    inputs.push_back(text.substr(start, pos - start));
    start = pos + sep.size();
  }
  if (start < text.size()) inputs.push_back(text.substr(start));
  return inputs;
}

std::vector<std::vector<TokenId>> read_expected(const std::string& path) {
  std::istringstream in(read_file(path));
  std::vector<std::vector<TokenId>> lines;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ids(line);
    std::vector<TokenId>& row = lines.emplace_back();
    for (TokenId id; ids >> id;) row.push_back(id);
  }
  return lines;
}

// Every vocabulary that ships with vectors; found by listing, so none is special-cased.
std::vector<std::string> vocab_files() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(kVocabDir)) {
    const std::string path = entry.path().string();
    if (path.ends_with(".gguf") && std::filesystem::exists(path + ".inp")) files.push_back(path);
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string show(const std::vector<TokenId>& ids) {
  std::string s;
  for (TokenId id : ids) {
    s += ' ';
    s += std::to_string(id);
  }
  return s;
}

TEST(TokenizerVectors, EveryVocabularyMatchesLlamaCpp) {
  const auto files = vocab_files();
  ASSERT_GE(files.size(), 2u) << "expected the llama-spm and gpt-2 vectors in " << kVocabDir;
  const TokenizeOptions raw{.add_bos = false, .add_eos = false, .parse_special = false};
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    const Tokenizer tok = Tokenizer::open(path);
    const auto inputs = read_inputs(path + ".inp");
    const auto expected = read_expected(path + ".out");
    ASSERT_EQ(inputs.size(), expected.size());
    size_t mismatches = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto ids = tok.tokenize(inputs[i], raw);
      if (ids != expected[i]) ++mismatches;
      EXPECT_EQ(ids, expected[i]) << "input " << i << ": '" << inputs[i] << "'\n got:" << show(ids)
                                  << "\nwant:" << show(expected[i]);
    }
    EXPECT_EQ(mismatches, 0u);
  }
}

TEST(TokenizerVectors, RoundTripsEveryInput) {
  for (const std::string& path : vocab_files()) {
    SCOPED_TRACE(path);
    const Tokenizer tok = Tokenizer::open(path);
    for (const std::string& input : read_inputs(path + ".inp")) {
      EXPECT_EQ(tok.detokenize(tok.tokenize(input)), input);
    }
  }
}

}  // namespace
}  // namespace tern

// Tokenizer against llama.cpp's test vectors in ../shared/testdata/tokenizer/: every input of
// each vocabulary's .inp must give exactly the ids on the matching line of .out (no BOS, no
// special-token parsing), and detokenizing must give the input back.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "tern/error.h"
#include "tern/tokenizer.h"
#include "tokenizer/tokenizer_internals.h"

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

// ---- Behaviour beyond the vectors, on the same vocab files and on small synthetic ones ----

namespace tern {
namespace {

const std::string kSpm = kVocabDir + "/ggml-vocab-llama-spm.gguf";
const std::string kGpt2 = kVocabDir + "/ggml-vocab-gpt-2.gguf";

TEST(Tokenizer, SpecialIdsAndFlagsComeFromMetadata) {
  const Tokenizer spm = Tokenizer::open(kSpm);
  EXPECT_EQ(spm.model_name(), "llama");
  EXPECT_EQ(spm.special().bos, 1);
  EXPECT_EQ(spm.special().eos, 2);
  EXPECT_EQ(spm.special().unk, 0);
  EXPECT_TRUE(spm.add_bos());
  EXPECT_FALSE(spm.add_eos());
  EXPECT_EQ(spm.token_type(0), TokenType::Unknown);
  EXPECT_EQ(spm.token_type(1), TokenType::Control);
  EXPECT_EQ(spm.token_type(3), TokenType::Byte);
  EXPECT_EQ(spm.tokenize("Hello world"), (std::vector<TokenId>{1, 15043, 3186}));
  EXPECT_TRUE(spm.is_end_of_generation(2));
  EXPECT_FALSE(spm.is_end_of_generation(1));

  const Tokenizer gpt2 = Tokenizer::open(kGpt2);
  EXPECT_EQ(gpt2.pre_name(), "gpt-2");
  EXPECT_FALSE(gpt2.add_bos());  // byte-level BPE adds no BOS unless the file says so
  EXPECT_EQ(gpt2.tokenize("Hello world"), (std::vector<TokenId>{15496, 995}));
}

TEST(Tokenizer, SpecialTokenTextIsParsedOnlyOnRequest) {
  const Tokenizer spm = Tokenizer::open(kSpm);
  const TokenizeOptions plain{.add_bos = false};
  const TokenizeOptions parse{.add_bos = false, .parse_special = true};
  // "<s>" as text is ordinary characters unless parsing is on; a space prefix follows a special.
  const auto as_text = spm.tokenize("<s>Hi", plain);
  EXPECT_EQ(std::count(as_text.begin(), as_text.end(), 1), 0);
  EXPECT_EQ(spm.tokenize("<s>Hi", parse), (std::vector<TokenId>{1, spm.tokenize("Hi", plain)[0]}));
  EXPECT_EQ(spm.detokenize(spm.tokenize("<s>Hi</s>", parse), true), "<s>Hi</s>");

  const Tokenizer gpt2 = Tokenizer::open(kGpt2);
  EXPECT_EQ(gpt2.tokenize("a<|endoftext|>b", {.parse_special = true}),
            (std::vector<TokenId>{64, 50256, 65}));
  const auto unparsed = gpt2.tokenize("a<|endoftext|>b");
  EXPECT_EQ(std::count(unparsed.begin(), unparsed.end(), 50256), 0);
}

TEST(Tokenizer, PiecesAndDetokenization) {
  const Tokenizer spm = Tokenizer::open(kSpm);
  EXPECT_EQ(spm.token_to_piece(15043), " Hello");  // "▁Hello": a lone piece keeps its space
  EXPECT_EQ(spm.token_to_piece(13), "\n");         // <0x0A>
  EXPECT_EQ(spm.token_to_piece(1), "");            // BOS is hidden...
  EXPECT_EQ(spm.token_to_piece(1, true), "<s>");   // ...unless asked for
  EXPECT_EQ(spm.detokenize(std::vector<TokenId>{1, 15043, 3186}), "Hello world");
  EXPECT_THROW(spm.token_to_piece(32000), Error);
  EXPECT_THROW(spm.token_to_piece(-1), Error);

  const Tokenizer gpt2 = Tokenizer::open(kGpt2);
  EXPECT_EQ(gpt2.token_to_piece(18435), " Hello");  // "ĠHello"
  EXPECT_EQ(gpt2.token_text(18435), "\xC4\xA0Hello");
}

TEST(Tokenizer, InvalidUtf8DoesNotBreakTokenizing) {
  const std::string bad = "ok \xFF\xC3 end \xE2\x82";
  const Tokenizer spm = Tokenizer::open(kSpm);
  EXPECT_EQ(spm.detokenize(spm.tokenize(bad)), bad);  // byte fallback keeps every byte
  const Tokenizer gpt2 = Tokenizer::open(kGpt2);
  EXPECT_FALSE(gpt2.tokenize(bad).empty());
}

// Every chunk a StreamDecoder returns is whole UTF-8, and the chunks add up to the text.
void expect_streams_cleanly(const Tokenizer& tok, const std::string& text) {
  StreamDecoder stream(tok);
  std::string joined;
  int held_back = 0;
  for (TokenId id : tok.tokenize(text)) {
    const std::string chunk = stream.push(id);
    const std::string piece = tok.token_to_piece(id);
    held_back += chunk.size() < piece.size();
    for (size_t i = 0; i < chunk.size();) {
      const auto lead = static_cast<uint8_t>(chunk[i]);
      const size_t n = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
      ASSERT_LE(i + n, chunk.size()) << "chunk ends inside a character";
      i += n;
    }
    joined += chunk;
  }
  joined += stream.finish();
  EXPECT_EQ(joined, text);
  EXPECT_GT(held_back, 0) << "text chosen so that some character spans several tokens";
}

TEST(StreamDecoder, NeverSplitsACharacter) {
  const std::string text = "Emoji 🚀 and 東京 😶‍🌫️ end";
  expect_streams_cleanly(Tokenizer::open(kSpm), text);
  expect_streams_cleanly(Tokenizer::open(kGpt2), text);
}

TEST(StreamDecoder, BytesThatCanNeverFormACharacterBecomeReplacementChars) {
  const Tokenizer spm = Tokenizer::open(kSpm);
  StreamDecoder stream(spm);
  const TokenId byte_ff = spm.find_token("<0xFF>");
  const TokenId byte_e2 = spm.find_token("<0xE2>");
  EXPECT_EQ(stream.push(byte_ff), "\xEF\xBF\xBD");
  EXPECT_EQ(stream.push(byte_e2), "");  // could still become a character
  EXPECT_EQ(stream.finish(), "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace tern

// ---- Malformed metadata: small vocab-only GGUF files built in memory ----

namespace tern {
namespace {

// Writes GGUF v3 with no tensors; values are u32, i32, f32, bool, string or arrays of those.
class GgufBuilder {
 public:
  GgufBuilder& str(const std::string& key, const std::string& value) {
    begin(key, 8);
    put_str(value);
    return *this;
  }
  GgufBuilder& u32(const std::string& key, uint32_t value) {
    begin(key, 4);
    put(value);
    return *this;
  }
  GgufBuilder& flag(const std::string& key, bool value) {
    begin(key, 7);
    put(static_cast<uint8_t>(value));
    return *this;
  }
  GgufBuilder& strings(const std::string& key, const std::vector<std::string>& values) {
    begin_array(key, 8, values.size());
    for (const auto& v : values) put_str(v);
    return *this;
  }
  GgufBuilder& floats(const std::string& key, const std::vector<float>& values) {
    begin_array(key, 6, values.size());
    for (float v : values) put(v);
    return *this;
  }
  GgufBuilder& ints(const std::string& key, const std::vector<int32_t>& values) {
    begin_array(key, 5, values.size());
    for (int32_t v : values) put(v);
    return *this;
  }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out;
    auto append = [&](const void* p, size_t n) {
      out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    };
    const uint32_t magic = 0x46554747, version = 3;
    const uint64_t n_tensors = 0;
    append(&magic, 4);
    append(&version, 4);
    append(&n_tensors, 8);
    append(&n_kv_, 8);
    append(body_.data(), body_.size());
    return out;
  }

 private:
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    body_.insert(body_.end(), p, p + sizeof(T));
  }
  void put_str(const std::string& s) {
    put(static_cast<uint64_t>(s.size()));
    body_.insert(body_.end(), s.begin(), s.end());
  }
  void begin(const std::string& key, uint32_t type) {
    put_str(key);
    put(type);
    ++n_kv_;
  }
  void begin_array(const std::string& key, uint32_t element_type, size_t n) {
    begin(key, 9);
    put(element_type);
    put(static_cast<uint64_t>(n));
  }
  std::vector<uint8_t> body_;
  uint64_t n_kv_ = 0;
};

// A tiny byte-level BPE vocabulary: "a", "b", "ab" and one merge.
GgufBuilder tiny_bpe(const std::vector<std::string>& merges = {"a b"},
                     const std::string& pre = "gpt-2") {
  GgufBuilder b;
  b.str("tokenizer.ggml.model", "gpt2")
      .str("tokenizer.ggml.pre", pre)
      .strings("tokenizer.ggml.tokens", {"a", "b", "ab", "<|end|>"})
      .ints("tokenizer.ggml.token_type", {1, 1, 1, 3})
      .strings("tokenizer.ggml.merges", merges);
  return b;
}

// The error message of building a tokenizer from `builder`'s file ("" when it succeeds).
std::string build_error(const GgufBuilder& builder) {
  const std::vector<uint8_t> bytes = builder.bytes();
  try {
    TokenizerInternals::from_file(gguf::File::parse(bytes, "test.gguf"));
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

TEST(TokenizerMetadata, TinyVocabularyWorks) {
  const std::vector<uint8_t> bytes = tiny_bpe().bytes();
  const Tokenizer tok = TokenizerInternals::from_file(gguf::File::parse(bytes, "tiny.gguf"));
  EXPECT_EQ(tok.tokenize("abab"), (std::vector<TokenId>{2, 2}));
  EXPECT_EQ(tok.tokenize("ba"), (std::vector<TokenId>{1, 0}));
  EXPECT_TRUE(tok.is_end_of_generation(3));  // "<|end|>" is a known end-of-turn marker
}

// A tiny WordPiece vocabulary in llama.cpp's form: word starts prefixed by "▁", CLS and
// SEP ids instead of BOS and EOS.
GgufBuilder tiny_wordpiece() {
  GgufBuilder b;
  b.str("tokenizer.ggml.model", "bert")
      .strings("tokenizer.ggml.tokens",
               {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\u2581un", "aff", "able", "\u2581,",
                "\u2581cafe", "\u2581!", "\u2581\u4e2d", "\u2581a", "a"})
      .ints("tokenizer.ggml.token_type", {3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1})
      .u32("tokenizer.ggml.cls_token_id", 2)
      .u32("tokenizer.ggml.seperator_token_id", 3)
      .u32("tokenizer.ggml.unknown_token_id", 1);
  return b;
}

// Lowercase, accents stripped, split at punctuation and CJK ideographs, longest pieces
// first, a word that cannot be covered (or of over 100 characters) wholly [UNK].
TEST(TokenizerMetadata, WordPieceSplitsAsBertDoes) {
  const std::vector<uint8_t> bytes = tiny_wordpiece().bytes();
  const Tokenizer tok = TokenizerInternals::from_file(gguf::File::parse(bytes, "wp.gguf"));
  EXPECT_EQ(tok.tokenize("Unaffable,  CAF\u00c9!"), (std::vector<TokenId>{2, 4, 5, 6, 7, 8, 9, 3}));
  EXPECT_EQ(tok.tokenize("unx a"), (std::vector<TokenId>{2, 1, 11, 3}));
  EXPECT_EQ(tok.tokenize("\u4e2da\aa"), (std::vector<TokenId>{2, 10, 11, 12, 3}));
  const TokenizeOptions bare{.add_bos = false, .add_eos = false};
  std::vector<TokenId> hundred(100, 12);  // "▁a", then "a" continuations
  hundred[0] = 11;
  EXPECT_EQ(tok.tokenize(std::string(100, 'a'), bare), hundred);
  EXPECT_EQ(tok.tokenize(std::string(101, 'a'), bare), (std::vector<TokenId>{1}));
  EXPECT_EQ(tok.detokenize(std::vector<TokenId>{2, 4, 5, 6, 7, 3}), "unaffable ,");
}

TEST(TokenizerMetadata, MalformedMetadataGivesClearErrors) {
  auto expect_error = [](const GgufBuilder& b, const std::string& needle) {
    const std::string message = build_error(b);
    EXPECT_NE(message.find(needle), std::string::npos) << "message: '" << message << "'";
  };
  GgufBuilder no_merges;
  no_merges.str("tokenizer.ggml.model", "gpt2").strings("tokenizer.ggml.tokens", {"a", "b"});
  expect_error(no_merges, "'tokenizer.ggml.merges' is missing");

  expect_error(tiny_bpe().floats("tokenizer.ggml.scores", {0.0f, 1.0f}),
               "tokenizer.ggml.scores has 2 entries, expected 4");
  expect_error(tiny_bpe().u32("tokenizer.ggml.eos_token_id", 4),
               "tokenizer.ggml.eos_token_id = 4 is out of range");
  expect_error(tiny_bpe({"a c"}), "'c' is not a token");
  expect_error(tiny_bpe({"ab"}), "is not of the form");
  expect_error(tiny_bpe({"a b"}, "no-such-pre"), "'no-such-pre' is not a known");
  expect_error(tiny_bpe().flag("tokenizer.ggml.add_bos_token", true), "bos_token_id is missing");

  GgufBuilder bad_types;
  bad_types.str("tokenizer.ggml.model", "llama")
      .strings("tokenizer.ggml.tokens", {"a", "b"})
      .ints("tokenizer.ggml.token_type", {1, 9});
  expect_error(bad_types, "tokenizer.ggml.token_type[1] = 9 is not a token type");

  GgufBuilder unknown_model;
  unknown_model.str("tokenizer.ggml.model", "t5").strings("tokenizer.ggml.tokens", {"a"});
  expect_error(unknown_model, "tokenizer.ggml.model 't5' is not supported");

  GgufBuilder no_unk;
  no_unk.str("tokenizer.ggml.model", "bert").strings("tokenizer.ggml.tokens", {"\u2581a"});
  expect_error(no_unk, "a WordPiece vocabulary needs an unknown token");

  GgufBuilder no_tokens;
  no_tokens.str("tokenizer.ggml.model", "llama");
  expect_error(no_tokens, "'tokenizer.ggml.tokens' is missing");
}

TEST(TokenizerCli, TokenizeAndDetokenizeRoundTrip) {
  const std::string cli = TERN_CLI_PATH;
  const std::string ids_file = ::testing::TempDir() + "/tern_tok_ids.txt";
  const std::string cmd = cli + " tokenize -m " + kGpt2 + " -p 'Hello world' > " + ids_file;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(read_file(ids_file), "15496 995\n");
  const std::string text_file = ::testing::TempDir() + "/tern_tok_text.txt";
  const std::string back = cli + " detokenize -m " + kGpt2 + " -f " + ids_file + " > " + text_file;
  ASSERT_EQ(std::system(back.c_str()), 0);
  EXPECT_EQ(read_file(text_file), "Hello world");
  const std::string bad = cli + " tokenize -m /nonexistent.gguf -p x 2>/dev/null";
  EXPECT_NE(std::system(bad.c_str()), 0);
}

}  // namespace
}  // namespace tern

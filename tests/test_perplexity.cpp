// tern perplexity: scoring helpers against closed forms, chunking, the perplexity of a
// golden model against one computed from llama.cpp's own logits, the --kl-base /
// --kl-compare round trip, and the CLI end to end on a text Debian ships
// (/usr/share/common-licenses/GPL-3, from base-files).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "perplexity/log_probs.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/perplexity.h"
#include "tern/quantize.h"
#include "tern/session.h"
#include "tern/tokenizer.h"

namespace tern {
namespace {

namespace fs = std::filesystem;
const std::string kGolden = std::string(TERN_SHARED_DIR) + "/golden/";
const std::string kText = "/usr/share/common-licenses/GPL-3";

fs::path temp_dir() {
  fs::path dir = fs::temp_directory_path() / ("tern_test_ppl_" + std::to_string(getpid()));
  fs::create_directories(dir);
  return dir;
}

std::vector<int32_t> golden_tokens(const std::string& name) {
  std::ifstream in(kGolden + name + "/tokens.txt");
  std::vector<int32_t> ids;
  for (int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

std::vector<float> golden_logits(const std::string& name) {
  std::ifstream in(kGolden + name + "/logits.f32", std::ios::binary);
  std::vector<char> raw{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<float> out(raw.size() / 4);
  std::memcpy(out.data(), raw.data(), out.size() * 4);
  return out;
}

// Naive double-precision log-probability of `token` under a logits row.
double log_prob(const float* row, size_t n_vocab, int32_t token) {
  double sum = 0;
  for (size_t i = 0; i < n_vocab; ++i) sum += std::exp(double(row[i]));
  return double(row[token]) - std::log(sum);
}

TEST(LogProbs, ClosedForms) {
  std::vector<float> logits = {1.0f, 2.0f, 3.0f}, lp(3);
  ppl::log_softmax(logits, lp);
  double z = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(lp[0], 1.0 - z, 1e-6);
  EXPECT_NEAR(lp[2], 3.0 - z, 1e-6);
  EXPECT_EQ(ppl::argmax(lp), 2);
  EXPECT_NEAR(ppl::kl_divergence(lp, lp), 0.0, 1e-12);
  // KL([0.5, 0.5] || [0.25, 0.75]) = 0.5 ln 2 + 0.5 ln(2/3)
  std::vector<float> p = {std::log(0.5f), std::log(0.5f)}, q = {std::log(0.25f), std::log(0.75f)};
  EXPECT_NEAR(ppl::kl_divergence(p, q), 0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0), 1e-6);
  ppl::RunningStat s;
  for (double x : {1.0, 2.0, 3.0, 4.0}) s.add(x);
  EXPECT_DOUBLE_EQ(s.mean(), 2.5);
  EXPECT_NEAR(s.standard_error(), std::sqrt((5.0 / 3.0) / 4.0), 1e-12);  // sample var 5/3
}

TEST(Perplexity, ChunksStartWithBosAndNeedOneChunk) {
  std::vector<int32_t> tokens(10);
  for (int i = 0; i < 10; ++i) tokens[i] = 100 + i;
  std::vector<int32_t> c = ppl::make_chunks(tokens, 4, 0, 1);
  ASSERT_EQ(c.size(), 8u);  // two whole chunks; the rest is dropped
  EXPECT_EQ(c[0], 1);
  EXPECT_EQ(c[1], 101);
  EXPECT_EQ(c[4], 1);
  EXPECT_EQ(c[5], 105);
  EXPECT_EQ(ppl::make_chunks(tokens, 4, 1, kNoToken).size(), 4u);
  EXPECT_THROW(ppl::make_chunks(tokens, 16, 0, 1), Error);
}

// One chunk of the golden tokens: tern's perplexity equals the one computed from
// llama.cpp's logits for the same positions (second half scored).
TEST(Perplexity, MatchesLlamaCppLogitsOnGolden) {
  for (const char* name : {"llama-f32", "qwen3-f32", "gemma3-f32"}) {
    std::vector<int32_t> tokens = golden_tokens(name);
    std::vector<float> logits = golden_logits(name);
    size_t n = tokens.size(), n_vocab = logits.size() / n;
    double nll = 0;
    int count = 0;
    for (size_t j = n / 2; j + 1 < n; ++j, ++count) {
      nll -= log_prob(logits.data() + j * n_vocab, n_vocab, tokens[j + 1]);
    }
    double expected = std::exp(nll / count);
    Model model = Model::load(kGolden + name + "/model.gguf");
    ppl::PerplexityOptions o;
    o.n_ctx = static_cast<int64_t>(n);
    o.n_threads = 2;
    ppl::PerplexityReport r = ppl::evaluate_perplexity(model, tokens, o, {});
    EXPECT_EQ(r.nll.count(), count);
    EXPECT_NEAR(r.ppl(), expected, 2e-3 * expected) << name;
    EXPECT_GT(r.ppl_error(), 0.0);
  }
}

// --kl-base then --kl-compare: against itself KL is 0 with full agreement; against a Q4_0
// copy the mean KL equals the one computed here from llama.cpp's F32 logits as the base.
TEST(Perplexity, KlBaseAndCompare) {
  fs::path dir = temp_dir();
  std::string f32 = kGolden + "llama-f32/model.gguf";
  std::string q4 = (dir / "q4.gguf").string();
  quant::quantize_model(f32, q4, "Q4_0", {});
  std::vector<int32_t> tokens = golden_tokens("llama-f32");
  size_t n = tokens.size();
  ppl::PerplexityOptions o;
  o.n_ctx = static_cast<int64_t>(n);
  o.n_threads = 2;
  o.kl_base_out = (dir / "base.kl").string();
  Model base = Model::load(f32);
  ppl::evaluate_perplexity(base, tokens, o, {});
  o.kl_base_out.clear();
  o.kl_compare_in = (dir / "base.kl").string();
  ppl::PerplexityReport self = ppl::evaluate_perplexity(base, tokens, o, {});
  ASSERT_TRUE(self.kl);
  EXPECT_LT(self.kl->kl.mean(), 1e-9);
  EXPECT_DOUBLE_EQ(self.kl->same_top.mean(), 1.0);
  EXPECT_NEAR(std::exp(self.kl->base_nll.mean()), self.ppl(), 1e-9);

  Model quant = Model::load(q4);
  ppl::PerplexityReport r = ppl::evaluate_perplexity(quant, tokens, o, {});
  ASSERT_TRUE(r.kl);
  // Independent: KL(llama.cpp F32 logits || tern's Q4_0 logits) over the same positions.
  std::vector<float> ref = golden_logits("llama-f32");
  size_t n_vocab = ref.size() / n;
  Session session(quant, {static_cast<int64_t>(n), 512, 2, KvType::F32});
  std::span<const float> q_logits = session.decode(tokens, Outputs::All);
  double kl = 0;
  int count = 0;
  std::vector<float> lb(n_vocab), lq(n_vocab);
  for (size_t j = n / 2; j + 1 < n; ++j, ++count) {
    ppl::log_softmax(std::span(ref).subspan(j * n_vocab, n_vocab), lb);
    ppl::log_softmax(q_logits.subspan(j * n_vocab, n_vocab), lq);
    for (size_t i = 0; i < n_vocab; ++i) kl += std::exp(double(lb[i])) * (lb[i] - lq[i]);
  }
  EXPECT_GT(r.kl->kl.mean(), 1e-4);
  EXPECT_NEAR(r.kl->kl.mean(), kl / count, 1e-3 * kl / count + 1e-6);
  EXPECT_LE(r.kl->kl_median, r.kl->kl_p99);
  EXPECT_LE(r.kl->kl_p99, r.kl->kl_max);
  // A base made with other sizes is refused.
  o.n_ctx = 16;
  EXPECT_THROW(ppl::evaluate_perplexity(quant, std::span(tokens).first(16), o, {}), Error);
  fs::remove_all(dir);
}

std::string run_cli(const std::string& args, const fs::path& log) {
  std::string cmd = std::string(TERN_CLI_PATH) + " " + args + " > " + log.string() + " 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream in(log);
  std::stringstream s;
  s << in.rdbuf();
  return "rc=" + std::to_string(rc) + "\n" + s.str();
}

TEST(Perplexity, CliEndToEndOnDebianText) {
  if (!fs::exists(kText)) GTEST_SKIP() << kText << " (Debian base-files) is missing";
  fs::path dir = temp_dir();
  std::string f32 = kGolden + "llama-f32/model.gguf";
  std::string q8 = (dir / "q8.gguf").string();
  quant::quantize_model(f32, q8, "Q8_0", {});
  std::string base = (dir / "base.kl").string();
  std::string out =
      run_cli("perplexity -m " + f32 + " -f " + kText + " -c 64 --chunks 3 -t 2 --kl-base " + base,
              dir / "a");
  EXPECT_NE(out.find("rc=0"), std::string::npos) << out;
  EXPECT_NE(out.find("[1]"), std::string::npos) << out;
  EXPECT_NE(out.find("[3]"), std::string::npos) << out;
  EXPECT_NE(out.find("Final estimate: PPL = "), std::string::npos) << out;
  out = run_cli("perplexity -m " + q8 + " --kl-compare " + base + " -t 2", dir / "b");
  EXPECT_NE(out.find("rc=0"), std::string::npos) << out;
  EXPECT_NE(out.find("Mean KLD"), std::string::npos) << out;
  EXPECT_NE(out.find("Same top-1"), std::string::npos) << out;
  out = run_cli("perplexity -m " + f32 + " -f " + kText + " -c 100000", dir / "c");
  EXPECT_NE(out.find("rc=256"), std::string::npos) << out;  // exit 1: text shorter than a chunk
  fs::remove_all(dir);
}

// A real model on real text: the estimate is finite, plausible and has an error bar.
TEST(Perplexity, SmolLM2OnDebianText) {
  const char* env = std::getenv("TERN_MODELS");
  std::string models = env ? env : std::string(std::getenv("HOME")) + "/.cache/tern/models";
  std::string path = models + "/smollm2-135m.gguf";
  if (!fs::exists(path) || !fs::exists(kText))
    GTEST_SKIP() << path << " or " << kText << " missing";
  Model model = Model::load(path);
  const Tokenizer& tok = model.tokenizer();
  std::ifstream in(kText);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<int32_t> chunks =
      ppl::make_chunks(tok.tokenize(text.str(), {false, false, false}), 128, 2,
                       tok.add_bos() ? tok.special().bos : kNoToken);
  ppl::PerplexityOptions o;
  o.n_ctx = 128;
  o.n_threads = 2;
  ppl::PerplexityReport r = ppl::evaluate_perplexity(model, chunks, o, {});
  std::printf("smollm2-135m GPL-3, 2 x 128: PPL %.4f +/- %.4f\n", r.ppl(), r.ppl_error());
  EXPECT_GT(r.ppl(), 1.5);
  EXPECT_LT(r.ppl(), 100.0);  // measured 30.07 (the indented license header is hard)
  EXPECT_GT(r.ppl_error(), 0.0);
  EXPECT_LT(r.ppl_error(), r.ppl());
}

}  // namespace
}  // namespace tern

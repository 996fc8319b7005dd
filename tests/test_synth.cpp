// tern synth: every architecture loads from its own tensor list with the requested shape
// and types, the output is deterministic (seed, not threads), the weights have the stated
// distribution, and the CLI writes a model tern can run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/session.h"
#include "tern/synth.h"
#include "tern/tokenizer.h"

namespace tern {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  fs::path dir = fs::temp_directory_path() / ("tern_test_synth_" + std::to_string(getpid()));
  fs::create_directories(dir);
  return dir;
}

synth::SynthOptions small(const std::string& arch, const char* mix) {
  synth::SynthOptions o;
  o.arch = arch;
  o.shape = {"small", 300, 256, 2, 4, 2, 512, 1024, 10000.0f, false};
  o.mix = mix;
  o.n_threads = 2;
  return o;
}

std::vector<uint8_t> bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Synth, EveryArchitectureLoadsAndRuns) {
  fs::path dir = temp_dir();
  for (const char* arch : {"llama", "qwen2", "qwen3", "gemma3"}) {
    std::string path = (dir / (std::string(arch) + ".gguf")).string();
    synth::SynthReport r = synth::write_synthetic_model(path, small(arch, "Q4_K_M"));
    Model model = Model::load(path, {.strict = true});  // nothing extra, nothing missing
    EXPECT_EQ(model.architecture(), arch);
    EXPECT_EQ(model.n_embd(), 256);
    EXPECT_EQ(model.n_layer(), 2);
    EXPECT_EQ(model.n_vocab(), 300);
    EXPECT_EQ(model.weight_bytes(), r.bytes) << arch;
    gguf::File f = gguf::File::open(path);
    EXPECT_EQ(f.get_int("general.file_type"), 15);
    EXPECT_EQ(f.find_tensor("blk.0.ffn_up.weight")->type, TensorType::Q4_K);
    EXPECT_EQ(f.find_tensor("blk.1.ffn_down.weight")->type, TensorType::Q6_K);  // more bits
    Session s(model, {64, 64, 2, KvType::F32});
    std::vector<int32_t> tokens = model.tokenizer().tokenize("hello synth");
    std::span<const float> logits = s.decode(tokens);
    for (float v : logits) ASSERT_TRUE(std::isfinite(v)) << arch;
  }
  fs::remove_all(dir);
}

TEST(Synth, DeterministicBySeedNotThreads) {
  fs::path dir = temp_dir();
  synth::SynthOptions a = small("llama", "Q8_0"), b = a, c = a;
  b.n_threads = 3;
  c.seed = 2;
  synth::write_synthetic_model((dir / "a").string(), a);
  synth::write_synthetic_model((dir / "b").string(), b);
  synth::write_synthetic_model((dir / "c").string(), c);
  EXPECT_EQ(bytes_of(dir / "a"), bytes_of(dir / "b"));
  EXPECT_NE(bytes_of(dir / "a"), bytes_of(dir / "c"));
  fs::remove_all(dir);
}

// Weights are N(0, 1/n_cols): check mean and variance of an F32 matrix; norms are 1.
TEST(Synth, WeightDistribution) {
  fs::path dir = temp_dir();
  std::string path = (dir / "f32.gguf").string();
  synth::write_synthetic_model(path, small("llama", "F32"));
  gguf::File f = gguf::File::open(path);
  const gguf::TensorInfo* t = f.find_tensor("blk.0.ffn_gate.weight");
  ASSERT_EQ(t->type, TensorType::F32);
  const auto* w = reinterpret_cast<const float*>(t->data);
  double sum = 0, sum_sq = 0;
  int64_t n = t->n_elements();  // 131072 values: stderr of the variance ~0.4%
  for (int64_t i = 0; i < n; ++i) {
    sum += w[i];
    sum_sq += double(w[i]) * w[i];
  }
  double expected_var = 1.0 / 256;
  EXPECT_NEAR(sum / n, 0.0, 4 * std::sqrt(expected_var / n));
  EXPECT_NEAR(sum_sq / n, expected_var, 0.02 * expected_var);
  const auto* norm = reinterpret_cast<const float*>(f.find_tensor("blk.0.attn_norm.weight")->data);
  EXPECT_EQ(norm[0], 1.0f);
  EXPECT_EQ(norm[255], 1.0f);
  fs::remove_all(dir);
}

TEST(Synth, RejectsBadShapesAndCopiesVocabularies) {
  fs::path dir = temp_dir();
  synth::SynthOptions o = small("llama", "Q4_0");
  o.shape.n_head = 3;  // 256 % 3 != 0
  EXPECT_THROW(synth::write_synthetic_model((dir / "x").string(), o), Error);
  o = small("mamba", "Q4_0");
  EXPECT_THROW(synth::write_synthetic_model((dir / "x").string(), o), Error);
  EXPECT_FALSE(fs::exists(dir / "x"));
  o = small("llama", "Q4_0");
  o.vocab_from = std::string(TERN_SHARED_DIR) + "/testdata/tokenizer/ggml-vocab-llama-spm.gguf";
  synth::write_synthetic_model((dir / "v").string(), o);
  Model m = Model::load((dir / "v").string());
  EXPECT_EQ(m.n_vocab(), 32000);  // from the vocabulary, not the shape
  fs::remove_all(dir);
}

TEST(Synth, CliPresetWithOverrides) {
  fs::path dir = temp_dir();
  std::string out = (dir / "m.gguf").string();
  std::string cli = TERN_CLI_PATH;
  std::string cmd =
      cli + " synth " + out + " --shape 135m --n-layer 2 --type q4_0 -t 2 > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  Model m = Model::load(out);
  EXPECT_EQ(m.n_embd(), 576);
  EXPECT_EQ(m.n_vocab(), 49152);
  EXPECT_EQ(m.n_layer(), 2);
  cmd = cli + " logits -m " + out + " --tokens \"1 2 3\" --top 1 -t 2 > /dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  cmd = cli + " synth " + out + " --shape 9t 2> /dev/null";
  EXPECT_NE(std::system(cmd.c_str()), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tern

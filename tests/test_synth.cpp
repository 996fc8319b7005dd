// tern synth: every architecture loads from its own tensor list with the requested shape
// and types, the output is deterministic (seed, not threads), the weights have the stated
// distribution, and the CLI writes a model tern can run.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "arch/architecture.h"
#include "gguf/file.h"
#include "gguf/writer.h"
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
  for (const char* arch : {"llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3"}) {
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

// The shared keys (head sizes and rope dimensions included) and the architecture's own,
// so llama.cpp and tern read the same values instead of each its own defaults.
TEST(Synth, WritesEveryKeyTheArchitectureReads) {
  fs::path dir = temp_dir();
  for (std::string_view arch : architecture_names()) {
    std::string path = (dir / "k.gguf").string();
    synth::SynthOptions o = small(std::string(arch), "F32");
    if (arch == "qwen3moe" || arch == "gpt-oss") {  // a mixture of experts needs them
      o.shape.n_expert = 4;
      o.shape.n_expert_used = 2;
      o.shape.n_ff_exp = 128;
    }
    synth::write_synthetic_model(path, o);
    gguf::File f = gguf::File::open(path);
    auto key = [&](std::string_view suffix) { return fmt::format("{}.{}", arch, suffix); };
    EXPECT_EQ(f.get_int(key("attention.key_length")), 64) << arch;
    EXPECT_EQ(f.get_int(key("attention.value_length")), 64) << arch;
    EXPECT_EQ(f.get_int(key("rope.dimension_count")), 64) << arch;
    for (const ArchKey& k : architecture_keys(arch)) {
      EXPECT_NE(f.find(key(k.suffix)), nullptr) << key(k.suffix);
    }
  }
  fs::remove_all(dir);
}

TEST(Synth, KeyOverridesTakeTheKeysType) {
  fs::path dir = temp_dir();
  synth::SynthOptions o = small("gemma2", "F32");
  o.keys = {"attention.sliding_window=8", "attn_logit_softcapping=5",
            "final_logit_softcapping=3.5"};
  synth::write_synthetic_model((dir / "o.gguf").string(), o);
  gguf::File f = gguf::File::open((dir / "o.gguf").string());
  EXPECT_EQ(f.get_u32("gemma2.attention.sliding_window"), 8u);
  EXPECT_EQ(f.get_float("gemma2.final_logit_softcapping"), 3.5);
  // Optional keys are written only when set: rope scaling.
  EXPECT_EQ(f.find("gemma2.rope.scaling.type"), nullptr);
  o.keys = {"rope.scaling.type=yarn", "rope.scaling.original_context_length=64"};
  synth::write_synthetic_model((dir / "y.gguf").string(), o);
  gguf::File y = gguf::File::open((dir / "y.gguf").string());
  EXPECT_EQ(y.get_string("gemma2.rope.scaling.type"), "yarn");
  EXPECT_EQ(y.get_u32("gemma2.rope.scaling.original_context_length"), 64u);
  EXPECT_EQ(y.find("gemma2.rope.scaling.factor"), nullptr);
  for (const char* bad :
       {"attention.sliding_window=-1", "no_such_key=1", "attn_logit_softcapping",
        "attn_logit_softcapping=x", "rope.scaling.type=", "rope.scaling.factor"}) {
    o.keys = {bad};
    EXPECT_THROW(synth::write_synthetic_model((dir / "x.gguf").string(), o), Error) << bad;
  }
  fs::remove_all(dir);
}

// Copies `in` to `out` without the metadata keys `drop` and with `set` replacing values.
void rewrite_keys(const std::string& in, const std::string& out,
                  const std::vector<std::string>& drop,
                  const std::vector<std::pair<std::string, gguf::Value>>& set = {}) {
  gguf::File f = gguf::File::open(in);
  gguf::Writer w;
  for (const gguf::KeyValue& kv : f.metadata()) {
    if (std::find(drop.begin(), drop.end(), kv.key) != drop.end()) continue;
    auto s = std::find_if(set.begin(), set.end(), [&](const auto& p) { return p.first == kv.key; });
    w.add(kv.key, s == set.end() ? kv.value : s->second);
  }
  for (const gguf::TensorInfo& t : f.tensors()) {
    w.add_tensor(t.name, t.type, std::span(t.ne, t.ne + t.n_dims), std::span(t.data, t.n_bytes));
  }
  w.write_file(out);
}

std::vector<float> all_logits(const std::string& path) {
  Model model = Model::load(path);
  Session s(model, {64, 64, 2, KvType::F32});
  std::vector<int32_t> tokens = {1, 40, 80, 120, 160, 200, 240, 30, 70, 110, 150, 190};
  std::span<const float> logits = s.decode(tokens, Outputs::All);
  return {logits.begin(), logits.end()};
}

// A file that omits a key gets llama.cpp's default: gemma3 without a sliding window has
// none (every layer global, with the global RoPE base); gemma2's defaults are a 4096
// window on even layers and soft caps of 50 and 30.
TEST(Synth, OmittedKeysGetLlamaCppDefaults) {
  fs::path dir = temp_dir();
  auto path = [&](const char* name) { return (dir / name).string(); };
  synth::SynthOptions o = small("gemma3", "F32");
  o.keys = {"rope.freq_base=100000", "attention.sliding_window=2"};
  synth::write_synthetic_model(path("g3.gguf"), o);
  rewrite_keys(path("g3.gguf"), path("g3_none.gguf"), {"gemma3.attention.sliding_window"});
  rewrite_keys(path("g3.gguf"), path("g3_global.gguf"), {},
               {{"gemma3.attention.sliding_window", {uint32_t{1000}}},
                {"gemma3.rope.freq_base_swa", {100000.0f}}});
  EXPECT_EQ(all_logits(path("g3_none.gguf")), all_logits(path("g3_global.gguf")));
  EXPECT_NE(all_logits(path("g3_none.gguf")), all_logits(path("g3.gguf")));

  o = small("gemma2", "F32");
  synth::write_synthetic_model(path("g2.gguf"), o);  // the table's values: llama.cpp's defaults
  std::vector<std::string> keys;
  for (const ArchKey& k : architecture_keys("gemma2")) {
    keys.push_back("gemma2." + std::string(k.suffix));
  }
  rewrite_keys(path("g2.gguf"), path("g2_none.gguf"), keys);
  EXPECT_EQ(all_logits(path("g2_none.gguf")), all_logits(path("g2.gguf")));
  o.keys = {"final_logit_softcapping=2"};
  synth::write_synthetic_model(path("g2_cap.gguf"), o);
  std::vector<float> capped = all_logits(path("g2_cap.gguf"));
  EXPECT_NE(capped, all_logits(path("g2.gguf")));
  for (float v : capped) ASSERT_LT(std::fabs(v), 2.0f);
  fs::remove_all(dir);
}

// Keys and tensors tern does not implement are refused by name rather than read differently.
TEST(Synth, UnsupportedKeyFormsAreRefusedByName) {
  fs::path dir = temp_dir();
  std::string in = (dir / "g.gguf").string(), out = (dir / "bad.gguf").string();
  synth::write_synthetic_model(in, small("gemma2", "F32"));
  gguf::Array layers{gguf::ValueType::Bool, {{true}, {false}}};
  rewrite_keys(in, out, {}, {{"gemma2.attention.sliding_window_pattern", {layers}}});
  try {
    Model::load(out);
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gemma2.attention.sliding_window_pattern"),
              std::string::npos)
        << e.what();
  }
  rewrite_keys(in, out, {}, {{"gemma2.attn_logit_softcapping", {0.0f}}});
  EXPECT_THROW(Model::load(out), Error);

  synth::write_synthetic_model(in, small("phi3", "F32"));  // + LongRoPE factors [n_rot / 2]
  gguf::File phi3 = gguf::File::open(in);
  gguf::Writer w = gguf::Writer::copy_of(phi3);
  const std::vector<float> factors(32, 1.0f);
  const int64_t shape[] = {32};
  w.add_tensor("rope_factors_long.weight", TensorType::F32, shape,
               std::span(reinterpret_cast<const uint8_t*>(factors.data()), factors.size() * 4));
  w.write_file(out);
  try {
    Model::load(out);
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rope_factors_long.weight"), std::string::npos)
        << e.what();
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

// gpt-oss-20b's sizes (its config.json; llama.cpp's 20B), and a small gpt-oss with biases
// drawn from N(0, bias_std^2) (norms stay 1) that loads strictly and runs.
TEST(Synth, GptOssPresetAndBiases) {
  const synth::SynthShape* s = synth::find_shape("20b");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->n_vocab, 201088);
  EXPECT_EQ(s->n_embd, 2880);
  EXPECT_EQ(s->n_layer, 24);
  EXPECT_EQ(s->n_head * s->head_dim, 4096);  // wider than n_embd
  EXPECT_EQ(s->n_head_kv, 8);
  EXPECT_EQ(s->n_expert, 32);
  EXPECT_EQ(s->n_expert_used, 4);
  EXPECT_EQ(s->n_ff_exp, 2880);
  EXPECT_EQ(s->rope_freq_base, 150000.0f);
  fs::path dir = temp_dir();
  std::string path = (dir / "g.gguf").string();
  synth::SynthOptions o = small("gpt-oss", "F32");
  o.shape.n_expert = 4;
  o.shape.n_expert_used = 2;
  o.shape.n_ff_exp = 64;
  o.bias_std = 0.5f;
  synth::write_synthetic_model(path, o);
  gguf::File f = gguf::File::open(path);
  const gguf::TensorInfo* t = f.find_tensor("blk.1.ffn_gate_exps.bias");
  ASSERT_NE(t, nullptr);
  const auto* b = reinterpret_cast<const float*>(t->data);
  double sum_sq = 0;
  for (int64_t i = 0; i < t->n_elements(); ++i) sum_sq += double(b[i]) * b[i];
  EXPECT_NEAR(sum_sq / double(t->n_elements()), 0.25, 0.25 * 0.3);  // 256 values: stderr ~9%
  EXPECT_EQ(
      reinterpret_cast<const float*>(f.find_tensor("blk.0.post_attention_norm.weight")->data)[0],
      1.0f);
  Model model = Model::load(path, {.strict = true});
  Session session(model, {64, 64, 2, KvType::F32});
  std::vector<int32_t> tokens = {1, 20, 30, 40};
  for (float v : session.decode(tokens)) ASSERT_TRUE(std::isfinite(v));
  o.bias_std = -1.0f;
  EXPECT_THROW(synth::write_synthetic_model(path, o), Error);
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

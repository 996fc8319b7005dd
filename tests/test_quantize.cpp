// tern quantize: the mix plan against llama.cpp's own choices (the golden quantized files),
// every mix round-tripping through quantize -> load -> logits, KL against the unquantized
// original compared with llama.cpp's quantization of the same file, requantization
// refusal, metadata, and thread-count independence.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "perplexity/log_probs.h"
#include "quantize/quantize_model.h"
#include "scratch_dir.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/session.h"
#include "tern/synth.h"

namespace tern {
namespace {

namespace fs = std::filesystem;
const std::string kGolden = std::string(TERN_SHARED_DIR) + "/golden/";

fs::path temp_dir() {
  static const tern::testing::ScratchDir dir("tern_test_quantize");
  return dir.path();
}

std::vector<int32_t> golden_tokens(const std::string& name) {
  std::ifstream in(kGolden + name + "/tokens.txt");
  std::vector<int32_t> ids;
  for (int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

// Log-probabilities [n_tokens, n_vocab] of a model over `tokens`.
std::vector<float> log_probs(const std::string& path, const std::vector<int32_t>& tokens) {
  Model model = Model::load(path);
  Session session(model, {static_cast<int64_t>(tokens.size()), 512, 2, KvType::F32});
  std::span<const float> logits = session.decode(tokens, Outputs::All);
  auto n_vocab = static_cast<size_t>(model.n_vocab());
  std::vector<float> out(logits.size());
  for (size_t r = 0; r < tokens.size(); ++r) {
    ppl::log_softmax(logits.subspan(r * n_vocab, n_vocab),
                     std::span(out).subspan(r * n_vocab, n_vocab));
  }
  return out;
}

double mean_kl(const std::vector<float>& base, const std::vector<float>& q, size_t n_vocab) {
  double sum = 0;
  size_t rows = base.size() / n_vocab;
  for (size_t r = 0; r < rows; ++r) {
    sum += ppl::kl_divergence(std::span(base).subspan(r * n_vocab, n_vocab),
                              std::span(q).subspan(r * n_vocab, n_vocab));
  }
  return sum / double(rows);
}

std::vector<uint8_t> file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// llama.cpp chose these types (golden files quantized by llama-quantize); planning the same
// file with the same mix must give each tensor its type.
TEST(QuantizePlan, MatchesLlamaCppMixesOnGoldenFiles) {
  for (auto [name, mix] : {std::pair{"llama-q4_k_m", "Q4_K_M"}, std::pair{"qwen2-q4_0", "Q4_0"}}) {
    gguf::File file = gguf::File::open(kGolden + name + "/model.gguf");
    std::vector<quant::TensorPlan> plan = quant::plan_quantization(file, *quant::find_mix(mix));
    ASSERT_EQ(plan.size(), file.tensors().size());
    for (const auto& p : plan) {
      EXPECT_EQ(type_traits(p.type).name, type_traits(p.info->type).name)
          << name << " " << p.info->name;
    }
  }
}

// gpt-oss's release mix: stacked experts MXFP4, other quantized weights Q8_0. The golden
// gpt-oss-mxfp4 is tern's MXFP4_MOE of a synthetic gpt-oss (its info.txt), checked
// tensor for tensor byte-identical to llama-quantize's (llama.cpp 0c1e570) when it was
// made; synthesizing and quantizing again must give it.
TEST(Quantize, Mxfp4MoeGivesTheGptOssGolden) {
  fs::path dir = temp_dir();
  synth::SynthOptions o;
  o.arch = "gpt-oss";
  o.shape = *synth::find_shape("20b");
  o.shape.name = "custom";
  o.shape.n_vocab = 512;
  o.shape.n_embd = 128;
  o.shape.n_layer = 2;
  o.shape.n_head = 4;
  o.shape.n_head_kv = 2;
  o.shape.n_ff = 64;
  o.shape.n_expert = 8;
  o.shape.n_expert_used = 2;
  o.shape.n_ff_exp = 32;
  o.keys = {"attention.sliding_window=8"};
  o.bias_std = 1.0f;
  o.seed = 2;
  o.mix = "F32";
  synth::write_synthetic_model((dir / "orig.gguf").string(), o);
  quant::quantize_model((dir / "orig.gguf").string(), (dir / "m.gguf").string(), "MXFP4_MOE", {});
  gguf::File q = gguf::File::open((dir / "m.gguf").string());
  EXPECT_EQ(q.get_int("general.file_type"), 38);
  EXPECT_EQ(q.find_tensor("blk.0.ffn_down_exps.weight")->type, TensorType::MXFP4);
  EXPECT_EQ(q.find_tensor("blk.0.attn_v.weight")->type, TensorType::Q8_0);
  EXPECT_EQ(q.find_tensor("output.weight")->type, TensorType::Q8_0);
  EXPECT_EQ(q.find_tensor("blk.0.ffn_gate_inp.weight")->type, TensorType::F32);
  EXPECT_EQ(file_bytes(dir / "m.gguf"),
            file_bytes(std::string(TERN_TEST_DATA_DIR) + "/golden/gpt-oss-mxfp4/model.gguf"));
}

TEST(QuantizePlan, MixBumpsAndRowFallbacks) {
  using quant::Role;
  const quant::QuantMix& q4km = *quant::find_mix("q4_k_m");
  const quant::QuantMix& q3km = *quant::find_mix("Q3_K_M");
  // use_more_bits over 32 layers: the first/last 4 and every third one between.
  EXPECT_EQ(quant::mix_type(q4km, {Role::FfnDown, 0, 32, 4}), TensorType::Q6_K);
  EXPECT_EQ(quant::mix_type(q4km, {Role::FfnDown, 5, 32, 4}), TensorType::Q4_K);
  EXPECT_EQ(quant::mix_type(q4km, {Role::FfnDown, 6, 32, 4}), TensorType::Q6_K);
  EXPECT_EQ(quant::mix_type(q4km, {Role::AttnV, 31, 32, 4}), TensorType::Q6_K);
  EXPECT_EQ(quant::mix_type(q4km, {Role::Other, 0, 32, 4}), TensorType::Q4_K);
  EXPECT_EQ(quant::mix_type(q4km, {Role::Output, -1, 32, 4}), TensorType::Q6_K);
  EXPECT_EQ(quant::mix_type(q3km, {Role::AttnV, 1, 32, 4}), TensorType::Q5_K);
  EXPECT_EQ(quant::mix_type(q3km, {Role::AttnV, 2, 32, 4}), TensorType::Q4_K);
  EXPECT_EQ(quant::mix_type(q3km, {Role::AttnOutput, 9, 32, 4}), TensorType::Q4_K);
  EXPECT_EQ(quant::mix_type(*quant::find_mix("Q2_K"), {Role::AttnV, 9, 32, 4}), TensorType::Q4_K);
  EXPECT_EQ(quant::mix_type(*quant::find_mix("Q2_K"), {Role::AttnV, 9, 32, 1}), TensorType::Q3_K);
  EXPECT_EQ(quant::mix_type(*quant::find_mix("Q8_0"), {Role::Output, -1, 32, 4}), TensorType::Q8_0);
  // SmolLM2's 576-wide rows do not fit 256-value blocks.
  EXPECT_EQ(quant::fit_rows(TensorType::Q4_K, 576), TensorType::Q5_0);
  EXPECT_EQ(quant::fit_rows(TensorType::Q6_K, 576), TensorType::Q8_0);
  EXPECT_EQ(quant::fit_rows(TensorType::Q2_K, 576), TensorType::IQ4_NL);
  EXPECT_EQ(quant::fit_rows(TensorType::Q4_K, 100), TensorType::F16);
  EXPECT_EQ(quant::fit_rows(TensorType::Q4_K, 512), TensorType::Q4_K);
  EXPECT_EQ(quant::find_mix("Q9_Z"), nullptr);
}

// Every mix of the issue, from an F32 synthetic llama (256-wide, so K-quants apply) through
// tern quantize and back through the forward pass. KL vs the F32 logits grows as bits shrink.
TEST(QuantizeRoundTrip, EveryMixLoadsAndTracksTheOriginal) {
  fs::path dir = temp_dir();
  synth::SynthOptions so;
  so.shape = {"test", 512, 256, 2, 4, 2, 512, 512, 10000.0f, false};
  so.mix = "F32";
  std::string original = (dir / "f32.gguf").string();
  synth::write_synthetic_model(original, so);
  std::vector<int32_t> tokens = golden_tokens("llama-f32");
  std::vector<float> base = log_probs(original, tokens);
  // Upper bounds on mean KL (nats): the value measured with seed 1, times ~1.5.
  const std::pair<const char*, double> kBounds[] = {
      {"F32", 1e-9},      {"F16", 1e-5},    {"BF16", 1e-4},     {"Q8_0", 5e-4},
      {"Q6_K", 5e-3},     {"Q5_1", 2e-2},   {"Q5_0", 2.5e-2},   {"Q5_K_M", 1.6e-2},
      {"Q5_K_S", 1.7e-2}, {"Q4_1", 7e-2},   {"Q4_0", 8e-2},     {"Q4_K_M", 6e-2},
      {"Q4_K_S", 5.5e-2}, {"IQ4_NL", 7e-2}, {"IQ4_XS", 7.5e-2}, {"Q3_K_L", 0.15},
      {"Q3_K_M", 0.16},   {"Q3_K_S", 0.24}, {"Q2_K", 0.5},
  };
  for (auto [mix, bound] : kBounds) {
    std::string out = (dir / (std::string(mix) + ".gguf")).string();
    quant::QuantizeOptions qo;
    qo.n_threads = 2;
    quant::quantize_model(original, out, mix, qo);
    double kl = mean_kl(base, log_probs(out, tokens), 512);
    std::printf("%-7s KL %.6f\n", mix, kl);
    EXPECT_LT(kl, bound) << mix;
    if (type_traits(quant::find_mix(mix)->base).block_size > 1) {
      EXPECT_GT(kl, bound / 10) << mix << ": suspiciously exact";
    }
    EXPECT_EQ(gguf::File::open(out).get_int("general.file_type"), quant::find_mix(mix)->file_type);
  }
}

// The unquantized originals of the quantized goldens come from ../shared/tools/synth_gguf.py
// (Python with gguf/numpy); without them this test is skipped.
TEST(QuantizeQuality, KlNoWorseThanLlamaCppOnGoldenOriginals) {
  fs::path dir = temp_dir();
  struct Case {
    const char* golden;
    const char* mix;
    const char* args;
    double llama_cpp_kl;  // ../shared/README.md, with llama.cpp's forward pass
  };
  const Case cases[] = {
      {"llama-q4_k_m", "Q4_K_M", "--arch llama --gain 1.5 --emb-std 0.5 --seed 11", 0.544},
      {"qwen2-q4_0", "Q4_0",
       "--arch qwen2 --tied --gain 1.5 --emb-std 0.2 --seed 12 --rope-base 1000000", 0.708},
  };
  for (const Case& c : cases) {
    std::string original = (dir / (std::string(c.golden) + "-f16.gguf")).string();
    std::string cmd = std::string("python3 ") + TERN_SHARED_DIR + "/tools/synth_gguf.py " + c.args +
                      " --vocab-from " + TERN_SHARED_DIR +
                      "/testdata/tokenizer/ggml-vocab-llama-spm.gguf " + original +
                      " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0)
      GTEST_SKIP() << "python3 with gguf/numpy is needed to regenerate " << original;
    std::string ours = (dir / (std::string(c.golden) + "-tern.gguf")).string();
    quant::quantize_model(original, ours, c.mix, {});
    std::vector<int32_t> tokens = golden_tokens(c.golden);
    std::vector<float> base = log_probs(original, tokens);
    double kl_tern = mean_kl(base, log_probs(ours, tokens), 512);
    double kl_llama = mean_kl(base, log_probs(kGolden + c.golden + "/model.gguf", tokens), 512);
    std::printf("%s: KL tern %.4f, llama.cpp's file %.4f (llama.cpp's forward: %.3f)\n", c.golden,
                kl_tern, kl_llama, c.llama_cpp_kl);
    EXPECT_LE(kl_tern, 1.1 * kl_llama) << c.golden;
    EXPECT_LE(kl_tern, 1.1 * c.llama_cpp_kl) << c.golden;
  }
}

TEST(Quantize, RefusesRequantizationUnlessAllowed) {
  fs::path dir = temp_dir();
  std::string in = kGolden + "llama-q4_k_m/model.gguf";
  std::string out = (dir / "q8.gguf").string();
  try {
    quant::quantize_model(in, out, "Q8_0", {});
    FAIL() << "requantized without --allow-requantize";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("' is already Q"), std::string::npos) << what;
    EXPECT_NE(what.find("allow_requantize"), std::string::npos) << what;
  }
  EXPECT_FALSE(fs::exists(out));
  quant::QuantizeOptions qo;
  qo.allow_requantize = true;
  quant::quantize_model(in, out, "Q8_0", qo);
  EXPECT_EQ(Model::load(out).n_vocab(), 512);
}

TEST(Quantize, CopiesMetadataAndIsIndependentOfThreads) {
  fs::path dir = temp_dir();
  std::string in = kGolden + "llama-f32/model.gguf";
  quant::QuantizeOptions one, three;
  one.n_threads = 1;
  three.n_threads = 3;
  quant::quantize_model(in, (dir / "a.gguf").string(), "Q4_0", one);
  quant::quantize_model(in, (dir / "b.gguf").string(), "Q4_0", three);
  EXPECT_EQ(file_bytes(dir / "a.gguf"), file_bytes(dir / "b.gguf"));
  gguf::File src = gguf::File::open(in);
  gguf::File q = gguf::File::open((dir / "a.gguf").string());
  EXPECT_EQ(q.get_int("general.file_type"), 2);
  EXPECT_EQ(q.get_int("general.quantization_version"), 2);
  for (const auto& kv : src.metadata()) {
    if (kv.key == "general.file_type") continue;
    ASSERT_NE(q.find(kv.key), nullptr) << kv.key;
    EXPECT_EQ(gguf::format_value(*q.find(kv.key)), gguf::format_value(kv.value)) << kv.key;
  }
  // 128-wide rows: Q4_0 fits; norms stay F32; the output goes to Q8_0 (128 % 256 != 0).
  EXPECT_EQ(q.find_tensor("blk.0.attn_q.weight")->type, TensorType::Q4_0);
  EXPECT_EQ(q.find_tensor("blk.0.attn_norm.weight")->type, TensorType::F32);
  EXPECT_EQ(q.find_tensor("output.weight")->type, TensorType::Q8_0);
}

TEST(Quantize, CliQuantizesAndLogitsLoads) {
  fs::path dir = temp_dir();
  std::string out = (dir / "q.gguf").string();
  std::string cli = TERN_CLI_PATH;
  std::string cmd = cli + " quantize " + kGolden + "llama-f32/model.gguf " + out +
                    " q5_k_m -t 2 > " + (dir / "log").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream log(dir / "log");
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_NE(text.str().find("bits per weight"), std::string::npos) << text.str();
  cmd = cli + " logits -m " + out + " --tokens \"1 2 3\" --top 1 > /dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  cmd = cli + " quantize " + kGolden + "llama-f32/model.gguf " + out + " Q9 2> /dev/null";
  EXPECT_NE(std::system(cmd.c_str()), 0);
}

}  // namespace
}  // namespace tern

// Float hyperparameters that would turn every logit into NaN (an RMS epsilon or RoPE base
// <= 0, NaN or infinite, a scaling factor without a finite inverse) are refused when the
// model loads, with one line naming the key; before, `logits --top` printed -nan and exited 0.
// The files are the golden llama model rewritten with gguf::Writer.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "cli_support.h"
#include "gguf/file.h"
#include "gguf/writer.h"
#include "scratch_dir.h"
#include "tern/error.h"
#include "tern/model.h"

namespace tern {
namespace {

namespace fs = std::filesystem;

const std::string kLlama = std::string(TERN_SHARED_DIR) + "/golden/llama-f32/model.gguf";

const fs::path& scratch() {
  static const testing::ScratchDir dir("tern_model_metadata");
  return dir.path();
}

// The golden llama with `key` set to `value` (replaced in place, or appended), plus
// `extra` keys appended; returns the new file's path.
std::string with_key(const std::string& key, const gguf::Value& value,
                     const std::vector<gguf::KeyValue>& extra = {}) {
  const gguf::File file = gguf::File::open(kLlama);
  gguf::Writer w;
  bool replaced = false;
  for (const gguf::KeyValue& kv : file.metadata()) {
    replaced |= kv.key == key;
    w.add(kv.key, kv.key == key ? value : kv.value);
  }
  if (!replaced) w.add(key, value);
  for (const gguf::KeyValue& kv : extra) w.add(kv.key, kv.value);
  for (const gguf::TensorInfo& t : file.tensors()) {
    w.add_tensor(t.name, t.type, std::span<const int64_t>(t.ne, t.n_dims), {t.data, t.n_bytes});
  }
  const fs::path path = scratch() / "model.gguf";
  w.write_file(path.string());
  return path.string();
}

std::string load_error(const std::string& path) {
  try {
    Model::load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "loaded";
}

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(ModelMetadata, GoldenLoadsAsWritten) {
  EXPECT_EQ(load_error(with_key("llama.rope.freq_base", gguf::Value{10000.0f})), "loaded");
  EXPECT_EQ(load_error(with_key("llama.rope.freq_base", gguf::Value{500000.0})), "loaded");  // f64
}

TEST(ModelMetadata, EpsilonAndRopeBaseMustBeFiniteAndPositive) {
  for (const char* key : {"llama.attention.layer_norm_rms_epsilon", "llama.rope.freq_base"}) {
    for (const gguf::Value& bad : {gguf::Value{0.0f}, gguf::Value{-1.0f}, gguf::Value{kNan},
                                   gguf::Value{kInf}, gguf::Value{1e-45f},  // denormal
                                   gguf::Value{1e39}}) {  // an f64 that is infinite as a float
      const std::string error = load_error(with_key(key, bad));
      EXPECT_NE(error.find(fmt::format("metadata key '{}' = ", key)), std::string::npos) << error;
      EXPECT_NE(error.find("must be a finite number above 0"), std::string::npos) << error;
    }
  }
}

TEST(ModelMetadata, RopeScalingFactorMustBeFiniteAndPositive) {
  const std::vector<gguf::KeyValue> linear = {
      {"llama.rope.scaling.type", gguf::Value{std::string_view("linear")}}};
  EXPECT_EQ(load_error(with_key("llama.rope.scaling.factor", gguf::Value{4.0f}, linear)), "loaded");
  for (const gguf::Value& bad : {gguf::Value{0.0f}, gguf::Value{kNan}, gguf::Value{kInf}}) {
    const std::string error = load_error(with_key("llama.rope.scaling.factor", bad, linear));
    EXPECT_NE(error.find("'llama.rope.scaling.factor' = "), std::string::npos) << error;
  }
}

// YaRN loads (its keys optional); a scaling tern does not implement is refused by name.
TEST(ModelMetadata, RopeScalingYarnLoadsAndUnknownKindsAreRefused) {
  const std::vector<gguf::KeyValue> yarn = {
      {"llama.rope.scaling.type", gguf::Value{std::string_view("yarn")}}};
  EXPECT_EQ(load_error(with_key("llama.rope.scaling.factor", gguf::Value{4.0f}, yarn)), "loaded");
  const std::string error =
      load_error(with_key("llama.rope.scaling.type", gguf::Value{std::string_view("longrope")}));
  EXPECT_NE(error.find("rope scaling 'longrope' is not supported"), std::string::npos) << error;
}

// What a person sees: one error line naming the key, exit 1 (not -nan and exit 0).
TEST(ModelMetadata, CliRefusesTheModelInOneLine) {
  const std::string path = with_key("llama.attention.layer_norm_rms_epsilon", gguf::Value{0.0f});
  for (const char* command :
       {"logits -m '{}' --tokens '1 2 3' --top 2", "run -m '{}' -p hi -n 2"}) {
    const testing::CliResult r =
        testing::run_cli(scratch(), fmt::format(fmt::runtime(command), path));
    EXPECT_EQ(r.code, 1) << command << ": " << r.out << r.err;
    EXPECT_EQ(r.err.rfind("tern: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("'llama.attention.layer_norm_rms_epsilon' = 0 must be"), std::string::npos)
        << r.err;
    EXPECT_EQ(r.out.find("nan"), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace tern

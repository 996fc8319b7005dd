// The CLI's environment variables: the library reads none, and the CLI maps TERN_CPU,
// TERN_REPACK, TERN_CUDA_DEVICE and TERN_VULKAN_DEVICE onto ModelOptions. Mapped values
// give the library's logits for those options bit for bit; a value the CLI cannot read is
// a one-line error naming the variable.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli_support.h"
#include "golden_reference.h"
#include "scratch_dir.h"
#include "tern/model.h"
#include "tern/session.h"

namespace tern {
namespace {

namespace fs = std::filesystem;

const std::string kModel = std::string(TERN_SHARED_DIR) + "/golden/llama-q4_k_m/model.gguf";
const std::vector<int32_t> kTokens = {1, 436, 94, 16, 328, 189, 240, 43};

fs::path scratch() {
  static const testing::ScratchDir dir("tern_cli_environment");
  return dir.path();
}

std::vector<float> library_logits(const ModelOptions& options) {
  Model model = Model::load(kModel, options);
  Session session(model, {.n_ctx = 8, .n_threads = 2, .kv_type = KvType::F32});  // tern logits's
  std::span<const float> logits = session.decode(kTokens, Outputs::All);
  return {logits.begin(), logits.end()};
}

// `tern logits` over kTokens with `env` ("NAME=value") in its environment.
testing::CliResult cli_logits(const std::string& env, const fs::path& out) {
  std::string tokens;
  for (int32_t t : kTokens) tokens += std::to_string(t) + " ";
  return testing::run_cli(
      scratch(),
      "logits --backend cpu -t 2 -m " + kModel + " --tokens '" + tokens + "' -o " + out.string(),
      "", ".", env);
}

TEST(CliEnvironment, MappedVariablesGiveTheLibrarysLogitsForThoseOptions) {
  const fs::path out = scratch() / "logits.f32";
  struct Case {
    std::string env;
    ModelOptions options;
  };
  for (const Case& c : {Case{"TERN_CPU=scalar", {.cpu_kernels = CpuKernels::Scalar}},
                        Case{"TERN_REPACK=0", {.repack = false}}}) {
    testing::CliResult r = cli_logits(c.env, out);
    ASSERT_EQ(r.code, 0) << c.env << ": " << r.err;
    ModelOptions options = c.options;
    options.backend = BackendKind::Cpu;
    EXPECT_EQ(golden::floats_of(golden::slurp(out.string())), library_logits(options)) << c.env;
  }
  // Which shows the mapping: the scalar kernels' float activations change the logits.
  EXPECT_NE(library_logits({.backend = BackendKind::Cpu}),
            library_logits({.backend = BackendKind::Cpu, .cpu_kernels = CpuKernels::Scalar}));
}

TEST(CliEnvironment, UnreadableValuesNameTheVariable) {
  const fs::path out = scratch() / "unused.f32";
  for (const std::string env : {"TERN_CPU=avx3", "TERN_CUDA_DEVICE=one", "TERN_VULKAN_DEVICE=-2"}) {
    testing::CliResult r = cli_logits(env, out);
    EXPECT_EQ(r.code, 1) << env;
    EXPECT_NE(r.err.find(env), std::string::npos) << env << ": " << r.err;
  }
}

}  // namespace
}  // namespace tern

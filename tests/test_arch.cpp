// Architecture loading: the registry, and errors that name the tensor and the expected
// shape for files that are not what their architecture needs (built with gguf::Writer
// from the golden llama model).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>

#include "arch/architecture.h"
#include "backends/cpu/cpu_features.h"
#include "gguf/file.h"
#include "gguf/writer.h"
#include "page_cache.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/session.h"

namespace tern {
namespace {

const std::string kLlama = std::string(TERN_SHARED_DIR) + "/golden/llama-f32/model.gguf";

// Tensor edits: return false to drop the tensor; may change its name/shape (same bytes).
struct TensorEdit {
  std::string name;
  std::vector<int64_t> shape;
};
using Edit = std::function<bool(TensorEdit&)>;

// Rewrites the golden llama model with `arch` as general.architecture and `edit` applied
// to each tensor, plus `extra` appended; returns the path of the temporary file.
std::string rewrite(const std::string& arch, const Edit& edit, bool extra = false) {
  gguf::File file = gguf::File::open(kLlama);
  gguf::Writer w;
  for (const auto& kv : file.metadata()) {
    if (kv.key == "general.architecture") {
      w.add(kv.key, gguf::Value{std::string_view(arch)});
    } else if (kv.key.starts_with("llama.")) {
      w.add(arch + std::string(kv.key.substr(5)), kv.value);
    } else {
      w.add(kv.key, kv.value);
    }
  }
  for (const auto& t : file.tensors()) {
    TensorEdit e{std::string(t.name), std::vector<int64_t>(t.ne, t.ne + t.n_dims)};
    if (!edit(e)) continue;
    w.add_tensor(e.name, t.type, e.shape, std::span(t.data, t.n_bytes));
  }
  const auto* norm = file.find_tensor("output_norm.weight");
  const int64_t norm_shape[] = {norm->ne[0]};
  if (extra)
    w.add_tensor("extra.weight", norm->type, norm_shape, std::span(norm->data, norm->n_bytes));
  std::string path =
      (std::filesystem::temp_directory_path() / ("tern_arch_" + std::to_string(getpid()) + ".gguf"))
          .string();
  w.write_file(path);
  return path;
}

std::string load_error(const std::string& path, ModelOptions options = {}) {
  try {
    Model::load(path, options);
  } catch (const Error& e) {
    std::filesystem::remove(path);
    return e.what();
  }
  std::filesystem::remove(path);
  return "";
}

const Edit kKeep = [](TensorEdit&) { return true; };

TEST(Arch, RegistryListsTheArchitectures) {
  EXPECT_EQ(architecture_names(),
            (std::vector<std::string_view>{"llama", "qwen2", "qwen3", "qwen3moe", "gemma2",
                                           "gemma3", "phi3", "gpt-oss", "bert"}));
}

TEST(Arch, UnknownArchitectureIsNamed) {
  std::string error = load_error(rewrite("mamba9", kKeep));
  EXPECT_NE(error.find("unknown architecture 'mamba9'"), std::string::npos) << error;
}

TEST(Arch, MissingTensorNamesItAndTheExpectedShape) {
  std::string error =
      load_error(rewrite("llama", [](TensorEdit& e) { return e.name != "blk.1.ffn_up.weight"; }));
  EXPECT_NE(error.find("tensor 'blk.1.ffn_up.weight' is missing (expected shape [128, 256])"),
            std::string::npos)
      << error;
}

TEST(Arch, WrongShapeNamesExpectedAndActual) {
  // Swap q and k shapes' names: attn_k's [128, 64] data under the name attn_q.
  std::string error = load_error(rewrite("llama", [](TensorEdit& e) {
    if (e.name == "blk.0.attn_q.weight") return false;
    if (e.name == "blk.0.attn_k.weight") e.name = "blk.0.attn_q.weight";
    return true;
  }));
  EXPECT_NE(error.find("tensor 'blk.0.attn_q.weight' has shape [128, 64], expected [128, 128]"),
            std::string::npos)
      << error;
}

TEST(Arch, QwenNeedsItsBiases) {
  // The llama tensors under qwen2 keys lack qwen2's q/k/v biases.
  std::string error = load_error(rewrite("qwen2", kKeep));
  EXPECT_NE(error.find("tensor 'blk.0.attn_q.bias' is missing (expected shape [128])"),
            std::string::npos)
      << error;
}

TEST(Arch, StrictLoadingRefusesUnusedTensors) {
  std::string path = rewrite("llama", kKeep, true);
  EXPECT_NO_THROW(Model::load(path));
  std::string error = load_error(path, {.strict = true});
  EXPECT_NE(error.find("extra.weight"), std::string::npos) << error;
}

TEST(Arch, WeightBytesCoverEveryTensor) {
  Model model = Model::load(kLlama);
  gguf::File file = gguf::File::open(kLlama);
  size_t total = 0;
  for (const auto& t : file.tensors()) total += t.n_bytes;
  EXPECT_EQ(model.weight_bytes(), total);
  EXPECT_EQ(model.architecture(), "llama");
  EXPECT_EQ(model.n_layer(), 2);
  EXPECT_EQ(model.n_embd(), 128);
  EXPECT_EQ(model.meta_string("general.name"), "synthetic-llama");
  EXPECT_EQ(model.meta_int("llama.block_count"), 2);
  EXPECT_FALSE(model.meta_int("general.name").has_value());
}

// A token reads every weight but the experts it does not choose and, where the output head
// is a matrix of its own, all but one row of the embedding table: gpt-oss (untied, 2 of 8
// experts, expert biases) and qwen3moe (tied: the table is the output head).
TEST(Arch, TokenBytesCountWhatOneTokenReads) {
  for (const char* name : {"gpt-oss-f32", "qwen3moe-f32"}) {
    const std::string path = std::string(TERN_TEST_DATA_DIR) + "/golden/" + name + "/model.gguf";
    Model model = Model::load(path);
    gguf::File file = gguf::File::open(path);
    const std::string arch(model.architecture());
    const auto n_expert = static_cast<size_t>(*model.meta_int(arch + ".expert_count"));
    const auto n_used = static_cast<size_t>(*model.meta_int(arch + ".expert_used_count"));
    const bool tied = file.find_tensor("output.weight") == nullptr;
    size_t want = 0;
    for (const auto& t : file.tensors()) {
      if (t.name.find("_exps.") != std::string::npos) {
        want += t.n_bytes / n_expert * n_used;
      } else if (t.name == "token_embd.weight" && !tied) {
        want += t.n_bytes / static_cast<size_t>(t.ne[1]);
      } else {
        want += t.n_bytes;
      }
    }
    EXPECT_EQ(model.token_bytes(), want) << name;
    EXPECT_LT(model.token_bytes(), model.weight_bytes()) << name;
  }
}

// The CPU's interleaved copies made at load leave the file's pages in the page cache: the
// next process to load the file reads no disk. (They were once dropped from it, and each
// load of the 1B Q4_K_M file read its 644 MiB again: 0.7-1.4 s against 0.3-0.5.)
TEST(Arch, LoadingLeavesTheModelFileInThePageCache) {
  if (cpu::detected_isa() == cpu::Isa::Scalar) GTEST_SKIP() << "no interleaved weights here";
  const std::string golden = std::string(TERN_SHARED_DIR) + "/golden/llama-q4_k_m/model.gguf";
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("tern_cached_" + std::to_string(getpid()) + ".gguf");
  std::filesystem::copy_file(golden, path, std::filesystem::copy_options::overwrite_existing);
  {
    int fd = open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(fsync(fd), 0);  // clean pages, which the kernel could drop at once
    close(fd);
  }
  {
    Model model = Model::load(path.string());
    Session session(model, {.n_ctx = 16, .n_batch = 4, .n_threads = 1});
    const int32_t tokens[] = {1, 2, 3};
    session.decode(tokens);  // the first session makes the copies
  }
  const double cached = testing::cached_fraction(path);
  std::filesystem::remove(path);
  EXPECT_EQ(cached, 1.0);
}

}  // namespace
}  // namespace tern

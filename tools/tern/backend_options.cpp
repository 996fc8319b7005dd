// --backend, --n-gpu-layers (-ngl) and --kv-type, shared by the subcommands that run a
// model, and the environment variables that pick kernels and devices.
#include <fmt/format.h>

#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "commands.h"
#include "int_range.h"
#include "tern/error.h"

namespace tern::cli {

namespace {

// A device index (0 or more) from `name`, or `fallback` when it is unset or empty.
int env_device(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long index = std::strtol(v, &end, 10);
  if (*end != '\0' || index < 0 || index > (1 << 20)) {
    throw Error(fmt::format("{}={} is not a device index", name, v));
  }
  return static_cast<int>(index);
}

}  // namespace

ModelOptions with_environment(ModelOptions options) {
  if (const char* v = std::getenv("TERN_CPU"); v != nullptr && *v != '\0') {
    const std::map<std::string_view, CpuKernels> levels = {{"scalar", CpuKernels::Scalar},
                                                           {"avx2", CpuKernels::Avx2},
                                                           {"avx512", CpuKernels::Avx512},
                                                           {"amx", CpuKernels::Amx}};
    auto it = levels.find(v);
    if (it == levels.end()) {
      throw Error(fmt::format("TERN_CPU={}: expected scalar, avx2, avx512 or amx", v));
    }
    options.cpu_kernels = it->second;
  }
  if (const char* v = std::getenv("TERN_REPACK"); v != nullptr && std::string_view(v) == "0") {
    options.repack = false;
  }
  options.cuda_device = env_device("TERN_CUDA_DEVICE", options.cuda_device);
  options.vulkan_device = env_device("TERN_VULKAN_DEVICE", options.vulkan_device);
  return options;
}

void add_backend_options(CLI::App* cmd, ModelOptions& options) {
  BackendKind& backend = options.backend;
  int& n_gpu_layers = options.n_gpu_layers;
  const std::map<std::string, BackendKind> kinds = {{"auto", BackendKind::Auto},
                                                    {"cpu", BackendKind::Cpu},
                                                    {"vulkan", BackendKind::Vulkan},
                                                    {"cuda", BackendKind::Cuda},
                                                    {"hip", BackendKind::Hip}};
  cmd->add_option("--backend", backend, "auto|cpu|vulkan|cuda|hip (auto: the best available)")
      ->transform(CLI::CheckedTransformer(kinds, CLI::ignore_case));
  cmd->add_option("--n-gpu-layers", n_gpu_layers,
                  "Layers on the GPU, the last ones (-1: all, with the output head); also -ngl")
      ->check(in_range(-1, 1 << 20))
      ->capture_default_str();
}

void add_kv_type_option(CLI::App* cmd, KvType& kv_type) {
  const std::map<std::string, KvType> types = {{"f32", KvType::F32}, {"f16", KvType::F16}};
  cmd->add_option("--kv-type", kv_type,
                  "KV cache values: f16|f32 (f32: every bit, twice the memory)")
      ->transform(CLI::CheckedTransformer(types, CLI::ignore_case))
      ->default_str(kv_type == KvType::F16 ? "f16" : "f32");
}

}  // namespace tern::cli

// --backend, --n-gpu-layers (-ngl) and --kv-type, shared by the subcommands that run a
// model.
#include <map>
#include <string>

#include "commands.h"
#include "int_range.h"

namespace tern::cli {

void add_backend_options(CLI::App* cmd, BackendKind& backend, int& n_gpu_layers) {
  const std::map<std::string, BackendKind> kinds = {{"auto", BackendKind::Auto},
                                                    {"cpu", BackendKind::Cpu},
                                                    {"vulkan", BackendKind::Vulkan},
                                                    {"cuda", BackendKind::Cuda}};
  cmd->add_option("--backend", backend, "auto|cpu|vulkan|cuda (auto: the best available)")
      ->transform(CLI::CheckedTransformer(kinds, CLI::ignore_case));
  cmd->add_option("--n-gpu-layers", n_gpu_layers,
                  "Layers on the GPU, the last ones (-1: all, with the output head); also -ngl")
      ->check(in_range(-1, 1 << 20))
      ->capture_default_str();
}

void add_kv_type_option(CLI::App* cmd, KvType& kv_type) {
  const std::map<std::string, KvType> types = {{"f32", KvType::F32}, {"f16", KvType::F16}};
  cmd->add_option("--kv-type", kv_type, "KV cache values: f32|f16 (f16: half the memory)")
      ->transform(CLI::CheckedTransformer(types, CLI::ignore_case))
      ->default_str("f32");
}

}  // namespace tern::cli

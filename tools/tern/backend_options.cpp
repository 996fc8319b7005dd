// --backend and --n-gpu-layers (-ngl), shared by the subcommands that run a model.
#include <map>
#include <string>

#include "commands.h"

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
      ->check(CLI::Range(-1, 1 << 20))
      ->capture_default_str();
}

}  // namespace tern::cli

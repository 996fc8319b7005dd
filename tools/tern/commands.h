// Each subcommand lives in its own file and registers itself on the CLI here.
// A subcommand only parses flags and prints; the work is in the library.
#pragma once

#include <CLI/CLI.hpp>

#include "tern/session.h"

namespace tern::cli {

void add_inspect(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_detokenize(CLI::App& app);
void add_logits(CLI::App& app);
void add_embed(CLI::App& app);
void add_bench(CLI::App& app);
void add_run(CLI::App& app);
void add_summarize(CLI::App& app);
void add_serve(CLI::App& app);
/// argv without the program name, reversed (as CLI11's parse(vector) takes it), with
/// llama.cpp's multi-letter short options (-ngl, -cnv, -sys, -np, -md) spelled as long ones.
std::vector<std::string> expand_llama_aliases(int argc, char** argv);
void add_quantize(CLI::App& app);
void add_perplexity(CLI::App& app);
void add_synth(CLI::App& app);
/// --backend and --n-gpu-layers (-ngl) on `cmd`, into `options`.
void add_backend_options(CLI::App* cmd, ModelOptions& options);
/// `options` with the environment's choices of kernels and devices: TERN_CPU=scalar|avx2|
/// avx512, TERN_REPACK=0, TERN_CUDA_DEVICE=N, TERN_VULKAN_DEVICE=N. Throws tern::Error
/// for a value it cannot read.
ModelOptions with_environment(ModelOptions options);
/// --kv-type f16|f32.
void add_kv_type_option(CLI::App* cmd, KvType& kv_type);

}  // namespace tern::cli

// tern synth OUT.gguf --shape 1b --type Q4_K_M: writes a model of a real architecture with
// random weights, for measuring speed where no weights can be downloaded ("how fast would
// a 70B model run here?").
#include "tern/synth.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "commands.h"
#include "int_range.h"
#include "progress_bar.h"
#include "tern/error.h"

namespace tern::cli {

namespace {

struct SynthCliOptions {
  std::string out, shape = "1b";
  synth::SynthOptions synth;
  synth::SynthShape custom;  // fields > 0 override the preset
};

std::string preset_list() {
  std::string names;
  for (const auto& s : synth::shape_presets())
    names += fmt::format("{}{}", names.empty() ? "" : ", ", s.name);
  return names;
}

synth::SynthShape resolve_shape(const SynthCliOptions& o) {
  const synth::SynthShape* preset = synth::find_shape(o.shape);
  if (preset == nullptr) {
    throw Error(fmt::format("unknown shape '{}' (one of: {})", o.shape, preset_list()));
  }
  synth::SynthShape s = *preset;
  const synth::SynthShape& c = o.custom;
  bool custom = c.n_vocab > 0 || c.n_embd > 0 || c.n_layer > 0 || c.n_head > 0 || c.n_head_kv > 0 ||
                c.n_ff > 0 || c.head_dim > 0 || c.n_expert > 0 || c.n_expert_used > 0 ||
                c.n_ff_exp > 0;
  if (c.n_vocab > 0) s.n_vocab = c.n_vocab;
  if (c.n_embd > 0) s.n_embd = c.n_embd;
  if (c.n_layer > 0) s.n_layer = c.n_layer;
  if (c.n_head > 0) s.n_head = c.n_head;
  if (c.n_head_kv > 0) s.n_head_kv = c.n_head_kv;
  if (c.n_ff > 0) s.n_ff = c.n_ff;
  if (c.head_dim > 0) s.head_dim = c.head_dim;
  if (c.n_expert > 0) s.n_expert = c.n_expert;
  if (c.n_expert_used > 0) s.n_expert_used = c.n_expert_used;
  if (c.n_ff_exp > 0) s.n_ff_exp = c.n_ff_exp;
  if (c.tied) s.tied = true;
  if (custom) s.name = "custom";
  return s;
}

void run(SynthCliOptions o) {
  o.synth.shape = resolve_shape(o);
  if (o.synth.n_threads <= 0)
    o.synth.n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ProgressBar bar;
  if (isatty(fileno(stderr)))
    o.synth.progress = [&bar](const quant::QuantizeProgress& p) { bar.update(p); };
  auto start = std::chrono::steady_clock::now();
  synth::SynthReport r = synth::write_synthetic_model(o.out, o.synth);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print(
      "{}: {} {} ({}), {} tensors, {:.3f} B parameters, {:.2f} MiB, {:.3f} bits per weight, {:.1f} "
      "s\n",
      o.out, o.synth.arch, o.synth.shape.name, r.mix, r.n_tensors, double(r.n_params) / 1e9,
      double(r.bytes) / (1 << 20), 8.0 * double(r.bytes) / double(r.n_params), seconds);
}

}  // namespace

void add_synth(CLI::App& app) {
  auto o = std::make_shared<SynthCliOptions>();
  CLI::App* cmd =
      app.add_subcommand("synth", "Write a model with random weights in any shape and type");
  cmd->add_option("output", o->out, "Output GGUF file")->required();
  cmd->add_option("--arch", o->synth.arch,
                  "Architecture (llama, qwen2, qwen3, qwen3moe, gemma2, gemma3, phi3, gpt-oss)")
      ->capture_default_str();
  cmd->add_option(
      "--key", o->synth.keys,
      "Set a metadata key, SUFFIX=VALUE (e.g. attention.sliding_window=8, rope.scaling.type=yarn)");
  cmd->add_option("--shape", o->shape, "Preset: " + preset_list())->capture_default_str();
  cmd->add_option("--type", o->synth.mix, "Quantization mix, as for tern quantize")
      ->capture_default_str();
  cmd->add_option("--n-vocab", o->custom.n_vocab, "Override: vocabulary size")
      ->check(in_range(1, 1 << 24));
  cmd->add_option("--n-embd", o->custom.n_embd, "Override: embedding width")
      ->check(in_range(1, 1 << 24));
  cmd->add_option("--n-layer", o->custom.n_layer, "Override: layers")->check(in_range(1, 1 << 24));
  cmd->add_option("--n-head", o->custom.n_head, "Override: attention heads")
      ->check(in_range(1, 1 << 24));
  cmd->add_option("--n-head-kv", o->custom.n_head_kv, "Override: KV heads")
      ->check(in_range(1, 1 << 24));
  cmd->add_option("--n-ff", o->custom.n_ff, "Override: feed-forward width")
      ->check(in_range(1, 1 << 24));
  cmd->add_option("--head-dim", o->custom.head_dim, "Override: attention head size")
      ->check(in_range(1, 1 << 16));
  cmd->add_option("--n-expert", o->custom.n_expert, "Override: experts per layer")
      ->check(in_range(1, 1 << 12));
  cmd->add_option("--n-expert-used", o->custom.n_expert_used, "Override: experts per token")
      ->check(in_range(1, 1 << 12));
  cmd->add_option("--n-ff-exp", o->custom.n_ff_exp, "Override: one expert's feed-forward width")
      ->check(in_range(1, 1 << 24));
  cmd->add_flag("--tied", o->custom.tied, "Share token_embd.weight as the output head");
  cmd->add_option("--vocab-from", o->synth.vocab_from,
                  "Copy the tokenizer from this GGUF file (default: a built-in byte vocabulary)");
  cmd->add_option("--seed", o->synth.seed, "Random seed")->capture_default_str();
  cmd->add_option("--bias-std", o->synth.bias_std,
                  "Biases ~ N(0, STD^2) instead of 0 (for reference tests that must see them)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", o->synth.n_threads, "Threads (default: hardware threads)")
      ->check(in_range(0, kMaxThreads));
  cmd->callback([o] { run(*o); });
}

}  // namespace tern::cli

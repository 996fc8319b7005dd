// ModelSpec: an architecture's name and hyperparameters, read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gguf/file.h"

namespace tern {

struct ModelSpec {
  std::string arch;  // general.architecture
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;          // {arch}.context_length
  int64_t n_embd = 0;               // {arch}.embedding_length
  int64_t n_layer = 0;              // {arch}.block_count
  int64_t n_ff = 0;                 // {arch}.feed_forward_length
  int n_head = 0;                   // {arch}.attention.head_count
  int n_head_kv = 0;                // {arch}.attention.head_count_kv (default n_head)
  int head_dim_k = 0;               // {arch}.attention.key_length (default n_embd / n_head)
  int head_dim_v = 0;               // {arch}.attention.value_length (default n_embd / n_head)
  int n_rot = 0;                    // {arch}.rope.dimension_count (default head_dim_k)
  float rms_eps = 1e-5f;            // {arch}.attention.layer_norm_rms_epsilon
  float rope_freq_base = 10000.0f;  // {arch}.rope.freq_base
  float rope_freq_scale = 1.0f;     // 1 / {arch}.rope.scaling.factor (linear or YaRN)
  bool rope_yarn = false;           // {arch}.rope.scaling.type == "yarn"
  int64_t rope_yarn_ctx_orig = 0;   // {arch}.rope.scaling.original_context_length (n_ctx_train)
  float rope_attn_factor = 1.0f;    // {arch}.rope.scaling.attn_factor
  int64_t sliding_window = 0;       // {arch}.attention.sliding_window (0: none)
  int n_expert = 0;                 // {arch}.expert_count (0: dense feed-forward)
  int n_expert_used = 0;            // {arch}.expert_used_count: experts per token
  int64_t n_ff_exp = 0;             // one expert's width: the architecture decides (see
                                    // pre_norm_decoder.cpp), from expert_feed_forward_length

  int64_t k_cols() const { return int64_t{n_head_kv} * head_dim_k; }  // K cache row width
  int64_t v_cols() const { return int64_t{n_head_kv} * head_dim_v; }  // V cache row width
};

/// Reads "{arch}.*" keys with range checks; errors name the file and the key.
class SpecReader {
 public:
  SpecReader(const gguf::File& file, std::string_view arch) : file_(file), arch_(arch) {}

  /// "{arch}.{suffix}".
  std::string key(std::string_view suffix) const;
  /// Whether the file has "{arch}.{suffix}".
  bool has(std::string_view suffix) const { return file_.find(key(suffix)) != nullptr; }
  /// An integer in [min, 2^24]; the key must exist.
  int64_t get(std::string_view suffix, int64_t min = 1) const;
  /// As get(), or `fallback` when the key is absent.
  int64_t get_or(std::string_view suffix, int64_t fallback, int64_t min = 1) const;
  /// A float hyperparameter that divides or scales activations, or `fallback` when absent:
  /// NaN, infinite, <= 0 or too small for a normal float (its inverse must be finite) would
  /// turn the logits into NaN, so it is refused.
  float get_positive_float_or(std::string_view suffix, float fallback) const;
  /// As get_positive_float_or(), but 0 is allowed (a feature switched off).
  float get_non_negative_float_or(std::string_view suffix, float fallback) const;
  /// Throws unless min <= v <= 2^24 (far above any real model: later size arithmetic
  /// stays away from overflow).
  void check(const std::string& k, int64_t v, int64_t min) const;

 private:
  const gguf::File& file_;
  std::string_view arch_;
};

/// Reads the hyperparameters the architectures share from "{arch}.*" keys and checks
/// them for sanity. Throws tern::Error naming the key at fault.
ModelSpec read_model_spec(const gguf::File& file);

}  // namespace tern

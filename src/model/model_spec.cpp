#include "model/model_spec.h"

#include <fmt/format.h>

#include <cmath>

#include "tern/error.h"

namespace tern {

namespace {

// Far above any real model; keeps later size arithmetic away from overflow.
constexpr int64_t kMaxDim = int64_t{1} << 24;

}  // namespace

std::string SpecReader::key(std::string_view suffix) const {
  return fmt::format("{}.{}", arch_, suffix);
}

int64_t SpecReader::get(std::string_view suffix, int64_t min) const {
  std::string k = key(suffix);
  int64_t v = file_.get_int(k);
  check(k, v, min);
  return v;
}

int64_t SpecReader::get_or(std::string_view suffix, int64_t fallback, int64_t min) const {
  return file_.find(key(suffix)) ? get(suffix, min) : fallback;
}

float SpecReader::get_positive_float_or(std::string_view suffix, float fallback) const {
  std::string k = key(suffix);
  if (!file_.find(k)) return fallback;
  const double v = file_.get_float(k);
  if (!(v > 0.0) || !std::isnormal(static_cast<float>(v))) {
    throw Error(fmt::format("{}: metadata key '{}' = {} must be a finite number above 0",
                            file_.name(), k, v));
  }
  return static_cast<float>(v);
}

float SpecReader::get_non_negative_float_or(std::string_view suffix, float fallback) const {
  std::string k = key(suffix);
  if (file_.find(k) && file_.get_float(k) == 0.0) return 0.0f;
  return get_positive_float_or(suffix, fallback);
}

void SpecReader::check(const std::string& k, int64_t v, int64_t min) const {
  if (v < min || v > kMaxDim) {
    throw Error(fmt::format("{}: metadata key '{}' = {} is outside [{}, {}]", file_.name(), k, v,
                            min, kMaxDim));
  }
}

namespace {

int64_t read_n_vocab(const gguf::File& file, const SpecReader& r) {
  if (file.find(r.key("vocab_size"))) return r.get("vocab_size");
  if (file.find("tokenizer.ggml.tokens")) {
    return static_cast<int64_t>(file.get_array("tokenizer.ggml.tokens").items.size());
  }
  const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
  if (embd == nullptr) throw Error(fmt::format("{}: no vocabulary size found", file.name()));
  return embd->ne[1];
}

// Linear and YaRN scaling (the keys llama.cpp reads for the architectures tern has).
void read_rope_scaling(const gguf::File& file, const SpecReader& r, ModelSpec& s) {
  const gguf::Value* type = file.find(r.key("rope.scaling.type"));
  std::string_view kind = type ? file.get_string(r.key("rope.scaling.type")) : "none";
  if (kind == "none") return;
  if (kind != "linear" && kind != "yarn") {
    throw Error(fmt::format("{}: rope scaling '{}' is not supported (linear and yarn are)",
                            file.name(), kind));
  }
  s.rope_freq_scale = 1.0f / r.get_positive_float_or("rope.scaling.factor", 1.0f);
  s.rope_yarn = kind == "yarn";
  s.rope_yarn_ctx_orig = r.get_or("rope.scaling.original_context_length", s.n_ctx_train);
  s.rope_attn_factor = r.get_positive_float_or("rope.scaling.attn_factor", 1.0f);
}

}  // namespace

ModelSpec read_model_spec(const gguf::File& file) {
  ModelSpec s;
  s.arch = std::string(file.get_string("general.architecture"));
  SpecReader r(file, s.arch);
  s.n_vocab = read_n_vocab(file, r);
  r.check("vocabulary size", s.n_vocab, 1);
  s.n_ctx_train = r.get("context_length");
  s.n_embd = r.get("embedding_length");
  s.n_layer = r.get("block_count");
  s.n_ff = r.get("feed_forward_length");
  s.n_head = static_cast<int>(r.get("attention.head_count"));
  s.n_head_kv = static_cast<int>(r.get_or("attention.head_count_kv", s.n_head));
  if (s.n_head % s.n_head_kv != 0) {
    throw Error(fmt::format("{}: head_count {} is not a multiple of head_count_kv {}", file.name(),
                            s.n_head, s.n_head_kv));
  }
  int default_head_dim = static_cast<int>(s.n_embd / s.n_head);
  s.head_dim_k = static_cast<int>(r.get_or("attention.key_length", default_head_dim));
  s.head_dim_v = static_cast<int>(r.get_or("attention.value_length", default_head_dim));
  s.n_rot = static_cast<int>(r.get_or("rope.dimension_count", s.head_dim_k));
  if (s.n_rot > s.head_dim_k || s.n_rot % 2 != 0) {
    throw Error(fmt::format("{}: rope.dimension_count {} must be even and at most the head size {}",
                            file.name(), s.n_rot, s.head_dim_k));
  }
  s.rms_eps = r.get_positive_float_or("attention.layer_norm_rms_epsilon", s.rms_eps);
  s.rope_freq_base = r.get_positive_float_or("rope.freq_base", s.rope_freq_base);
  read_rope_scaling(file, r, s);
  s.sliding_window = r.get_or("attention.sliding_window", 0, 0);
  s.n_expert = static_cast<int>(r.get_or("expert_count", 0, 0));
  if (s.n_expert > 0) {
    s.n_expert_used = static_cast<int>(r.get("expert_used_count"));
    if (s.n_expert_used > s.n_expert) {
      throw Error(fmt::format("{}: expert_used_count {} is above expert_count {}", file.name(),
                              s.n_expert_used, s.n_expert));
    }
    s.n_ff_exp = r.get_or("expert_feed_forward_length", 0);
  }
  return s;
}

}  // namespace tern

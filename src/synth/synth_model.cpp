#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>
#include <utility>

#include "arch/architecture.h"
#include "gguf/writer.h"
#include "model/weights.h"
#include "quantize/quantize_model.h"
#include "quantize/row_stream.h"
#include "synth/byte_vocab.h"
#include "tern/error.h"
#include "tern/synth.h"

namespace tern::synth {

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t hash_name(std::string_view name) {  // FNV-1a
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return h;
}

// Fills `out` with N(0, std^2) by Box-Muller from a splitmix64 stream seeded by `seed`.
void gaussian_row(uint64_t seed, float std, std::span<float> out) {
  constexpr double kScale = 1.0 / 9007199254740992.0;  // 2^-53: 53-bit uniforms in [0, 1)
  for (size_t i = 0; i < out.size(); i += 2) {
    double u1 = (double(splitmix64(seed) >> 11) + 1.0) * kScale;  // (0, 1]: log is finite
    double u2 = double(splitmix64(seed) >> 11) * kScale;
    double r = std * std::sqrt(-2.0 * std::log(u1));
    out[i] = static_cast<float>(r * std::cos(2 * std::numbers::pi * u2));
    if (i + 1 < out.size())
      out[i + 1] = static_cast<float>(r * std::sin(2 * std::numbers::pi * u2));
  }
}

// Product of shape[first..].
int64_t product(const std::vector<int64_t>& shape, size_t first) {
  int64_t n = 1;
  for (size_t i = first; i < shape.size(); ++i) n *= shape[i];
  return n;
}

// Every "{arch}.*" key the architecture reads: ModelSpec's from the shape, then the
// architecture's own (architecture_keys).
std::vector<ArchKey> model_keys(const SynthOptions& o) {
  const SynthShape& s = o.shape;
  auto u32 = [](int64_t v) { return gguf::Value{static_cast<uint32_t>(v)}; };
  const int64_t head_dim = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
  std::vector<ArchKey> keys = {
      {"context_length", u32(s.n_ctx_train)},
      {"embedding_length", u32(s.n_embd)},
      {"block_count", u32(s.n_layer)},
      {"feed_forward_length", u32(s.n_ff)},
      {"attention.head_count", u32(s.n_head)},
      {"attention.head_count_kv", u32(s.n_head_kv)},
      {"attention.key_length", u32(head_dim)},
      {"attention.value_length", u32(head_dim)},
      {"attention.layer_norm_rms_epsilon", {1e-5f}},
      {"rope.dimension_count", u32(head_dim)},
      {"rope.freq_base", {s.rope_freq_base}},
  };
  if (s.n_expert > 0) {
    keys.push_back({"expert_count", u32(s.n_expert)});
    keys.push_back({"expert_used_count", u32(s.n_expert_used)});
    keys.push_back({"expert_feed_forward_length", u32(s.n_ff_exp)});
  }
  for (const ArchKey& k : architecture_keys(o.arch)) keys.push_back(k);
  return keys;
}

// `text` as a value of `like`'s type (an unsigned 32-bit integer, a float or a string).
gguf::Value parse_like(const gguf::Value& like, std::string_view text, std::string_view key) {
  const char* end = text.data() + text.size();
  if (like.type() == gguf::ValueType::U32) {
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (ec == std::errc() && p == end) return {v};
  } else if (like.type() == gguf::ValueType::F32) {
    float v = 0;
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (ec == std::errc() && p == end && std::isfinite(v)) return {v};
  } else if (like.type() == gguf::ValueType::String && !text.empty()) {
    return {text};  // a view of the option, which outlives the writer's copy
  }
  throw Error(fmt::format("synth: '{}' is not a valid {} for key '{}'", text,
                          gguf::value_type_name(like.type()), key));
}

// Keys every architecture may have that a file writes only when asked to (--key).
const std::vector<ArchKey>& optional_keys() {
  static const std::vector<ArchKey> keys = {
      {"rope.scaling.type", {std::string_view("none")}},
      {"rope.scaling.factor", {1.0f}},
      {"rope.scaling.original_context_length", {uint32_t{0}}},
      {"rope.scaling.attn_factor", {1.0f}},
  };
  return keys;
}

// Applies "SUFFIX=VALUE" overrides to keys the architecture has, adding optional ones.
void override_keys(std::vector<ArchKey>& keys, const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) {
    size_t eq = o.find('=');
    std::string_view suffix = std::string_view(o).substr(0, eq);
    auto named = [&](const ArchKey& k) { return k.suffix == suffix; };
    auto it = std::find_if(keys.begin(), keys.end(), named);
    if (it == keys.end()) {
      auto optional = std::find_if(optional_keys().begin(), optional_keys().end(), named);
      if (optional != optional_keys().end()) it = keys.insert(keys.end(), *optional);
    }
    if (eq == std::string::npos || it == keys.end()) {
      std::string names;
      const std::vector<ArchKey>& optional = optional_keys();
      for (const std::vector<ArchKey>* list : {&std::as_const(keys), &optional}) {
        for (const ArchKey& k : *list)
          names += fmt::format("{}{}", names.empty() ? "" : ", ", k.suffix);
      }
      throw Error(fmt::format("synth: --key '{}' is not KEY=VALUE with KEY one of: {}", o, names));
    }
    it->value = parse_like(it->value, std::string_view(o).substr(eq + 1), suffix);
  }
}

void add_shape(gguf::Writer& w, const SynthOptions& o, const quant::QuantMix& mix) {
  w.add("general.architecture", {std::string_view(o.arch)});
  // Without the architecture: llama.cpp applies tokenizer quirks by general.name (a name
  // with "phi3" needs phi3's special tokens, which the byte vocabulary lacks).
  std::string name = fmt::format("tern synth {}", o.shape.name);
  w.add("general.name", {std::string_view(name)});
  w.add("general.file_type", {mix.file_type});
  w.add("general.quantization_version", {uint32_t{2}});
  std::vector<ArchKey> keys = model_keys(o);
  override_keys(keys, o.keys);
  for (const ArchKey& k : keys) w.add(fmt::format("{}.{}", o.arch, k.suffix), k.value);
}

// Copies the tokenizer keys of `vocab_from`, or adds the byte vocabulary; returns n_vocab.
int64_t add_vocab(gguf::Writer& w, const SynthOptions& o) {
  if (o.vocab_from.empty()) {
    add_byte_vocab(w, o.shape.n_vocab);
    return o.shape.n_vocab;
  }
  gguf::File vocab = gguf::File::open(o.vocab_from);
  for (const gguf::KeyValue& kv : vocab.metadata()) {
    if (kv.key.starts_with("tokenizer.")) w.add(kv.key, kv.value);
  }
  return static_cast<int64_t>(vocab.get_array("tokenizer.ggml.tokens").items.size());
}

void check_shape(const SynthShape& s) {
  if (s.n_expert > 0 && (s.n_expert_used <= 0 || s.n_expert_used > s.n_expert || s.n_ff_exp <= 0)) {
    throw Error(fmt::format(
        "synth: invalid experts ({} experts, {} used, width {}): need 1 <= used <= experts and "
        "a positive width",
        s.n_expert, s.n_expert_used, s.n_ff_exp));
  }
  if (s.n_embd <= 0 || s.n_layer <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_ff <= 0 ||
      (s.head_dim == 0 && s.n_embd % s.n_head != 0)) {
    throw Error(fmt::format(
        "synth: invalid shape (n_embd {}, n_layer {}, n_head {}, n_head_kv {}, n_ff {}): all "
        "must be positive and n_embd a multiple of n_head (or a head size given)",
        s.n_embd, s.n_layer, s.n_head, s.n_head_kv, s.n_ff));
  }
}

// The architecture's tensors for the metadata in `w`, from its own visitor.
std::vector<NamedTensor> list_tensors(const gguf::Writer& w) {
  std::vector<uint8_t> bytes = w.to_bytes();
  return list_architecture_tensors(gguf::File::parse(bytes, "synth"));
}

// One tensor's rows: weights N(0, 1/ne0) (rows of unit-variance inputs give unit-variance
// outputs), norms 1, biases 0 or N(0, bias_std^2).
quant::RowFill row_fill(const NamedTensor& t, uint64_t seed, float bias_std) {
  bool is_norm = t.name.find("norm") != std::string::npos;
  bool is_bias = t.name.ends_with(".bias");
  float std = is_bias ? bias_std : 1.0f / std::sqrt(static_cast<float>(t.shape[0]));
  uint64_t tensor_seed = seed ^ hash_name(t.name);
  return [=](int64_t row, std::span<float> out) {
    if (is_norm || (is_bias && bias_std == 0.0f)) {
      std::fill(out.begin(), out.end(), is_norm ? 1.0f : 0.0f);
      return;
    }
    uint64_t s = tensor_seed + static_cast<uint64_t>(row) * 0x9E3779B97F4A7C15ull;
    gaussian_row(splitmix64(s), std, out);
  };
}

}  // namespace

SynthReport write_synthetic_model(const std::string& out_path, const SynthOptions& o) {
  const quant::QuantMix& mix = quant::mix_named(o.mix);
  SynthOptions opts = o;
  check_shape(opts.shape);
  if (!(o.bias_std >= 0.0f && std::isfinite(o.bias_std))) {
    throw Error(
        fmt::format("synth: bias standard deviation {} is not a finite value >= 0", o.bias_std));
  }
  gguf::Writer w;
  add_shape(w, opts, mix);
  opts.shape.n_vocab = add_vocab(w, opts);
  std::vector<NamedTensor> tensors = list_tensors(w);

  quant::ModelPlace place{static_cast<int>(opts.shape.n_layer),
                          static_cast<int>(opts.shape.n_head / opts.shape.n_head_kv),
                          !opts.shape.tied};
  SynthReport report;
  report.mix = mix.name;
  quant::QuantizeProgress progress;
  // Optional tensors are left out (tied output, no rope factors) except an untied output.
  std::erase_if(tensors, [&](const NamedTensor& t) {
    return t.need == Need::Optional && !(t.name == "output.weight" && !opts.shape.tied);
  });
  for (const NamedTensor& t : tensors) progress.values_total += product(t.shape, 0);
  for (const NamedTensor& t : tensors) {
    int64_t n_cols = t.shape[0];
    int64_t n_rows = product(t.shape, 1);
    TensorType type = quant::is_quantizable(t.name, static_cast<int>(t.shape.size()), n_rows)
                          ? quant::weight_type(mix, t.name, n_cols, place)
                          : TensorType::F32;
    report.n_params += n_cols * n_rows;
    report.bytes += *row_bytes(type, n_cols) * static_cast<size_t>(n_rows);
    ++report.n_tensors;
    ++progress.n_tensors;
    quant::RowFill fill = row_fill(t, opts.seed, opts.bias_std);
    w.add_tensor(
        t.name, type, t.shape,
        [&progress, &opts, fill, type, n_cols, n_rows, name = t.name](const gguf::ByteSink& sink) {
          int64_t before = progress.values_done;
          progress.name = name;
          quant::RowStreamOptions ro;
          ro.n_threads = opts.n_threads;
          ro.progress = [&](int64_t done) {
            progress.values_done = before + done;
            if (opts.progress) opts.progress(progress);
          };
          quant::stream_rows(type, n_cols, n_rows, fill, sink, ro);
          ++progress.tensor;
        });
  }
  w.write_file(out_path);
  return report;
}

}  // namespace tern::synth

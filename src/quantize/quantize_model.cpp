#include "quantize/quantize_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "gguf/writer.h"
#include "quantize/row_stream.h"
#include "tern/error.h"

namespace tern::quant {

namespace {

constexpr uint32_t kQuantizationVersion = 2;  // general.quantization_version (block layouts)

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "blk.12.attn_v.weight" -> 12; -1 for tensors outside the layers.
int layer_of(std::string_view name) {
  if (!name.starts_with("blk.")) return -1;
  int layer = -1;
  std::from_chars(name.data() + 4, name.data() + name.size(), layer);
  return layer;
}

Role role_of(std::string_view name, bool has_output) {
  if (name == "output.weight" || (name == "token_embd.weight" && !has_output)) {
    return Role::Output;
  }
  if (ends_with(name, ".attn_v.weight")) return Role::AttnV;
  if (ends_with(name, ".attn_output.weight")) return Role::AttnOutput;
  // A mixture's stacked experts take the role of the dense tensor they replace.
  if (ends_with(name, ".ffn_down.weight") || ends_with(name, ".ffn_down_exps.weight")) {
    return Role::FfnDown;
  }
  return Role::Other;
}

int meta_int_or(const gguf::File& file, const std::string& key, int fallback) {
  const gguf::Value* v = file.find(key);
  return v != nullptr && v->is_integer() ? static_cast<int>(v->as_int()) : fallback;
}

bool is_quantized(TensorType type) { return type_traits(type).block_size > 1; }

void check_requantize(const gguf::File& file, const std::vector<TensorPlan>& plan,
                      bool allow_requantize) {
  if (allow_requantize) return;
  for (const TensorPlan& p : plan) {
    if (p.convert && is_quantized(p.info->type)) {
      throw Error(fmt::format(
          "{}: tensor '{}' is already {}; converting it to {} rounds already-rounded "
          "values again (the errors add up, worse than quantizing the F16/F32 original). "
          "Set allow_requantize (tern quantize --allow-requantize) to do it anyway",
          file.name(), p.info->name, type_traits(p.info->type).name, type_traits(p.type).name));
    }
  }
}

void copy_metadata(const gguf::File& file, const QuantMix& mix, gguf::Writer& w) {
  for (const gguf::KeyValue& kv : file.metadata()) {
    if (kv.key == "general.file_type" || kv.key == "general.quantization_version") continue;
    w.add(kv.key, kv.value);
  }
  w.add("general.quantization_version", gguf::Value{kQuantizationVersion});
  w.add("general.file_type", gguf::Value{mix.file_type});
}

void check_cancelled(const QuantizeOptions& options) {
  if (options.cancelled && options.cancelled()) throw Error("quantize: cancelled");
}

// Sends one planned tensor's bytes to `sink`: copied, or converted row by row.
void write_tensor(const TensorPlan& p, const QuantizeOptions& options, QuantizeProgress& progress,
                  const gguf::ByteSink& sink) {
  check_cancelled(options);
  const gguf::TensorInfo& t = *p.info;
  int64_t values_before = progress.values_done;
  if (!p.convert) {
    sink({t.data, t.n_bytes});
    progress.values_done += t.n_elements();
    if (options.progress) options.progress(progress);
    return;
  }
  int64_t n_cols = t.ne[0];
  size_t in_row = *row_bytes(t.type, n_cols);
  RowFill fill = [&t, n_cols, in_row](int64_t row, std::span<float> out) {
    dequantize(t.type, t.data + static_cast<size_t>(row) * in_row, out.data(), n_cols);
  };
  RowStreamOptions ro;
  ro.n_threads = options.n_threads;
  ro.progress = [&](int64_t done) {
    check_cancelled(options);
    progress.values_done = values_before + done;
    if (options.progress) options.progress(progress);
  };
  stream_rows(p.type, n_cols, t.n_rows(), fill, sink, ro);
}

}  // namespace

bool is_quantizable(std::string_view name, int n_dims, int64_t n_rows) {
  // Expert routers stay F32 (as llama.cpp keeps them): small, and their rounding would
  // change which experts a token takes.
  return ends_with(name, ".weight") && !ends_with(name, ".ffn_gate_inp.weight") && n_dims >= 2 &&
         n_rows > 1;
}

TensorType weight_type(const QuantMix& mix, std::string_view name, int64_t n_cols,
                       const ModelPlace& place) {
  TensorPlace p{role_of(name, place.has_output), layer_of(name), place.n_layer, place.n_gqa,
                ends_with(name, "_exps.weight")};
  return fit_rows(mix_type(mix, p), n_cols);
}

std::vector<TensorPlan> plan_quantization(const gguf::File& file, const QuantMix& mix) {
  std::string arch(file.get_string("general.architecture"));
  ModelPlace place;
  place.n_layer = meta_int_or(file, arch + ".block_count", 0);
  int n_head = meta_int_or(file, arch + ".attention.head_count", 1);
  int n_head_kv = meta_int_or(file, arch + ".attention.head_count_kv", n_head);
  place.n_gqa = n_head_kv > 0 ? n_head / n_head_kv : 1;
  place.has_output = file.find_tensor("output.weight") != nullptr;

  std::vector<TensorPlan> plan;
  for (const gguf::TensorInfo& t : file.tensors()) {
    TensorPlan p{&t, t.type, false};
    if (is_quantizable(t.name, t.n_dims, t.n_rows()) && type_traits(t.type).to_float != nullptr) {
      p.type = weight_type(mix, t.name, t.ne[0], place);
      p.convert = p.type != t.type;
    }
    plan.push_back(p);
  }
  return plan;
}

QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path,
                              std::string_view mix_name, const QuantizeOptions& options) {
  const QuantMix& mix = mix_named(mix_name);
  gguf::File file = gguf::File::open(in_path);
  std::vector<TensorPlan> plan = plan_quantization(file, mix);
  check_requantize(file, plan, options.allow_requantize);

  gguf::Writer w;
  copy_metadata(file, mix, w);
  QuantizeReport report;
  report.mix = mix.name;
  std::map<TensorType, int> counts;
  for (const TensorPlan& p : plan) report.n_values += p.info->n_elements();

  QuantizeProgress progress{0, plan.size(), {}, 0, report.n_values};
  for (size_t i = 0; i < plan.size(); ++i) {
    const TensorPlan& p = plan[i];
    const gguf::TensorInfo& t = *p.info;
    report.in_bytes += t.n_bytes;
    report.out_bytes += *row_bytes(p.type, t.ne[0]) * static_cast<size_t>(t.n_rows());
    ++counts[p.type];
    w.add_tensor(t.name, p.type, std::span<const int64_t>(t.ne, static_cast<size_t>(t.n_dims)),
                 [&progress, &options, p, i](const gguf::ByteSink& sink) {
                   progress.tensor = i;
                   progress.name = p.info->name;
                   write_tensor(p, options, progress, sink);
                 });
  }
  w.write_file(out_path);
  for (const auto& [type, n] : counts) report.type_counts.emplace_back(type_traits(type).name, n);
  return report;
}

}  // namespace tern::quant

// tern inspect FILE: metadata, tensor table and totals of a GGUF file.
#include <fmt/format.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "commands.h"
#include "gguf/file.h"
#include "output.h"
#include "tern/error.h"
#include "tern/model_path.h"
#include "types/type_table.h"
#include "utf8_escape.h"

namespace tern::cli {

namespace {

struct InspectOptions {
  std::string path;
  bool json = false;
  size_t max_items = 8;
  std::string tensor;
  std::string dump;
};

std::string shape_string(const gguf::TensorInfo& t) {
  std::string s;
  for (int d = 0; d < t.n_dims; ++d) s += fmt::format("{}{}", d ? " x " : "", t.ne[d]);
  return s;
}

nlohmann::json value_json(const gguf::Value& v, size_t max_items) {
  using gguf::ValueType;
  switch (v.type()) {
    case ValueType::String:
      return escape_invalid_utf8(v.as_string());  // GGUF does not check
    case ValueType::Bool: return v.as_bool();
    case ValueType::F32: case ValueType::F64: return v.as_float();
    case ValueType::U64: return std::get<uint64_t>(v.storage);
    case ValueType::Array: {
      auto out = nlohmann::json::array();
      const auto& items = v.as_array().items;
      for (size_t i = 0; i < std::min(items.size(), max_items); ++i) {
        out.push_back(value_json(items[i], max_items));
      }
      return out;
    }
    default: return v.as_int();
  }
}

struct Totals {
  int64_t n_params = 0;
  size_t n_bytes = 0;
  std::map<std::string_view, std::pair<int, size_t>> by_type;  // count, bytes
};

Totals totals_of(const gguf::File& file) {
  Totals totals;
  for (const auto& t : file.tensors()) {
    totals.n_params += t.n_elements();
    totals.n_bytes += t.n_bytes;
    auto& entry = totals.by_type[type_traits(t.type).name];
    entry.first += 1;
    entry.second += t.n_bytes;
  }
  return totals;
}

double bits_per_weight(const Totals& totals) {
  return totals.n_params ? 8.0 * static_cast<double>(totals.n_bytes) / totals.n_params : 0.0;
}

void print_json(const gguf::File& file, const InspectOptions& options) {
  nlohmann::json doc;
  doc["file"] = escape_invalid_utf8(file.name());
  doc["version"] = file.version();
  doc["alignment"] = file.alignment();
  doc["data_offset"] = file.data_offset();
  nlohmann::json metadata = nlohmann::json::object();
  for (const auto& kv : file.metadata()) {
    nlohmann::json entry = {{"type", gguf::value_type_name(kv.value.type())},
                            {"value", value_json(kv.value, options.max_items)}};
    if (kv.value.type() == gguf::ValueType::Array) {
      entry["element_type"] = gguf::value_type_name(kv.value.as_array().element_type);
      entry["count"] = kv.value.as_array().items.size();
    }
    metadata[escape_invalid_utf8(kv.key)] = entry;
  }
  doc["metadata"] = metadata;
  auto tensors = nlohmann::json::array();
  for (const auto& t : file.tensors()) {
    tensors.push_back({{"name", escape_invalid_utf8(t.name)},
                       {"type", type_traits(t.type).name},
                       {"shape", std::vector<int64_t>(t.ne, t.ne + t.n_dims)},
                       {"offset", t.offset},
                       {"bytes", t.n_bytes}});
  }
  doc["tensors"] = tensors;
  Totals totals = totals_of(file);
  doc["n_params"] = totals.n_params;
  doc["n_bytes"] = totals.n_bytes;
  doc["bits_per_weight"] = bits_per_weight(totals);
  // Strings were escaped; replace is a safety net, never a reason to fail.
  out().print("{}\n", doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

void print_text(const gguf::File& file, const InspectOptions& options) {
  out().print("{}: GGUF v{}, {} metadata keys, {} tensors, alignment {}\n\n", file.name(),
              file.version(), file.metadata().size(), file.tensors().size(), file.alignment());
  out().print("metadata:\n");
  for (const auto& kv : file.metadata()) {
    std::string type(gguf::value_type_name(kv.value.type()));
    if (kv.value.type() == gguf::ValueType::Array) {
      type = fmt::format("{}[{}]", gguf::value_type_name(kv.value.as_array().element_type),
                         kv.value.as_array().items.size());
    }
    out().print("  {:<44} {:<12} {}\n", kv.key, type,
                gguf::format_value(kv.value, options.max_items));
  }
  if (file.tensors().empty()) return;
  out().print("\ntensors:\n  {:<36} {:<8} {:<24} {:>14} {:>14}\n", "name", "type", "shape",
              "offset", "bytes");
  for (const auto& t : file.tensors()) {
    out().print("  {:<36} {:<8} {:<24} {:>14} {:>14}\n", t.name, type_traits(t.type).name,
                shape_string(t), t.offset, t.n_bytes);
  }
  Totals totals = totals_of(file);
  out().print("\ntotals by type:\n");
  for (const auto& [name, entry] : totals.by_type) {
    out().print("  {:<8} {:>5} tensors {:>14} bytes\n", name, entry.first, entry.second);
  }
  out().print("\nparameters: {} ({:.1f} M), tensor data: {:.2f} MiB, {:.2f} bits per weight\n",
              totals.n_params, totals.n_params / 1e6, totals.n_bytes / 1048576.0,
              bits_per_weight(totals));
}

void dump_tensor(const gguf::File& file, const InspectOptions& options) {
  const gguf::TensorInfo* t = file.find_tensor(options.tensor);
  if (t == nullptr) throw Error(fmt::format("{}: no tensor named '{}'", file.name(), options.tensor));
  std::vector<float> values(static_cast<size_t>(t->n_elements()));
  dequantize(t->type, t->data, values.data(), t->n_elements());
  Output dump(options.dump, "wb");
  dump.write(values);
  dump.close();
  fmt::print(stderr, "wrote {} ({} floats, shape {})\n", options.dump, values.size(), shape_string(*t));
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show a GGUF file's metadata and tensors");
  cmd->add_option("file,-m,--model", options->path,
                  "GGUF file, or a model name in $TERN_MODELS (as the other commands' -m)")
      ->required();
  cmd->add_flag("--json", options->json, "Print JSON for scripts");
  cmd->add_option("--max-items", options->max_items, "Array items shown before abbreviating")
      ->capture_default_str();
  auto* tensor = cmd->add_option("--tensor", options->tensor, "Tensor to dump (with --dump)");
  cmd->add_option("--dump", options->dump, "Write the tensor dequantized as little-endian float32")
      ->needs(tensor);
  tensor->needs(cmd->get_option("--dump"));
  cmd->callback([options] {
    gguf::File file = gguf::File::open(resolve_model_path(options->path));
    if (!options->dump.empty()) {
      dump_tensor(file, *options);
    } else if (options->json) {
      print_json(file, *options);
    } else {
      print_text(file, *options);
    }
  });
}

}  // namespace tern::cli

// The architecture registry: one line per architecture (plus its loader's declaration).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "arch/architecture.h"
#include "tern/error.h"

namespace tern {

std::unique_ptr<ArchModel> load_llama(const gguf::File& file, TensorVisitor& tensors);
std::unique_ptr<ArchModel> load_qwen2(const gguf::File& file, TensorVisitor& tensors);
std::unique_ptr<ArchModel> load_qwen3(const gguf::File& file, TensorVisitor& tensors);
std::unique_ptr<ArchModel> load_qwen3moe(const gguf::File& file, TensorVisitor& tensors);
std::unique_ptr<ArchModel> load_phi3(const gguf::File& file, TensorVisitor& tensors);
std::unique_ptr<ArchModel> load_gemma2(const gguf::File& file, TensorVisitor& tensors);
std::span<const ArchKey> gemma2_keys();
std::unique_ptr<ArchModel> load_gemma3(const gguf::File& file, TensorVisitor& tensors);
std::span<const ArchKey> gemma3_keys();
std::unique_ptr<ArchModel> load_gpt_oss(const gguf::File& file, TensorVisitor& tensors);
std::span<const ArchKey> gpt_oss_keys();
std::unique_ptr<ArchModel> load_bert(const gguf::File& file, TensorVisitor& tensors);
std::span<const ArchKey> bert_keys();

namespace {

// Reads the file's spec and names the architecture's tensors to `tensors`.
using Loader = std::unique_ptr<ArchModel> (*)(const gguf::File& file, TensorVisitor& tensors);

// The architecture's extra metadata keys (see ArchKey).
using KeyTable = std::span<const ArchKey> (*)();

struct ArchEntry {
  std::string_view name;  // general.architecture
  Loader load;
  KeyTable keys = nullptr;  // null: only ModelSpec's keys
};

constexpr ArchEntry kArchitectures[] = {
    {"llama", load_llama},
    {"qwen2", load_qwen2},
    {"qwen3", load_qwen3},
    {"qwen3moe", load_qwen3moe},
    {"gemma2", load_gemma2, gemma2_keys},
    {"gemma3", load_gemma3, gemma3_keys},
    {"phi3", load_phi3},
    {"gpt-oss", load_gpt_oss, gpt_oss_keys},
    {"bert", load_bert, bert_keys},
};

const ArchEntry& find_entry(std::string_view arch, std::string_view where) {
  for (const auto& entry : kArchitectures) {
    if (entry.name == arch) return entry;
  }
  throw Error(fmt::format("{}: unknown architecture '{}' (supported: {})", where, arch,
                          fmt::join(architecture_names(), ", ")));
}

Loader find_loader(const gguf::File& file) {
  return find_entry(file.get_string("general.architecture"), file.name()).load;
}

}  // namespace

void ArchModel::bound(const WeightBinder& binder) {
  weight_bytes_ = binder.total_bytes();
  size_t experts = binder.expert_bytes();
  token_bytes_ = weight_bytes_ - experts;
  if (spec_.n_expert > 0) {
    token_bytes_ += experts / static_cast<size_t>(spec_.n_expert) *
                    static_cast<size_t>(spec_.n_expert_used);
  }
  layer_bytes_ = binder.layer_bytes();
  unused_tensors_ = binder.unused_tensors();
  bool tied = std::none_of(binder.matrices().begin(), binder.matrices().end(),
                           [](const auto& m) { return m.first->name == "output.weight"; });
  for (const auto& [info, layer] : binder.matrices()) {
    bool embeddings = info->name == "token_embd.weight";
    if (embeddings && !tied) {  // looked up by rows only
      token_bytes_ -= info->n_bytes - info->n_bytes / static_cast<size_t>(info->ne[1]);
      continue;
    }
    // Tensors outside the layers are the output head's (embeddings: tied to it).
    matrices_.push_back({info, layer >= 0 ? layer : static_cast<int>(spec_.n_layer)});
  }
}

std::vector<std::string_view> architecture_names() {
  std::vector<std::string_view> names;
  for (const auto& entry : kArchitectures) names.push_back(entry.name);
  return names;
}

std::span<const ArchKey> architecture_keys(std::string_view name) {
  const ArchEntry& entry = find_entry(name, "architecture keys");
  return entry.keys ? entry.keys() : std::span<const ArchKey>{};
}

std::unique_ptr<ArchModel> load_architecture(const gguf::File& file) {
  WeightBinder binder(file);
  std::unique_ptr<ArchModel> model = find_loader(file)(file, binder);
  model->bound(binder);
  return model;
}

std::vector<NamedTensor> list_architecture_tensors(const gguf::File& file) {
  TensorLister lister;
  find_loader(file)(file, lister);
  return lister.tensors();
}

}  // namespace tern

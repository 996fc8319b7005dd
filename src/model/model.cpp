#include <fmt/format.h>
#include <fmt/ranges.h>

#include <mutex>

#include "model/fingerprint.h"
#include "model/model_internals.h"
#include "tern/error.h"
#include "tokenizer/tokenizer_internals.h"

namespace tern {

struct Model::Impl {
  gguf::File file;
  ModelOptions options;
  std::unique_ptr<ArchModel> arch;
  std::once_flag tokenizer_built;  // not set while building throws, so a later call retries
  std::optional<Tokenizer> tokenizer;
  std::once_flag backends_made;
  std::once_flag fingerprint_taken;
  uint64_t fingerprint = 0;
  std::unique_ptr<ModelBackends> backends;  // last: released before the weights they copied
};

const ArchModel& ModelInternals::arch(const Model& model) { return *model.impl_->arch; }

ModelBackends& ModelInternals::backends(const Model& model) {
  Model::Impl& m = *model.impl_;
  std::call_once(m.backends_made,
                 [&m] { m.backends = std::make_unique<ModelBackends>(*m.arch, m.options); });
  return *m.backends;
}

uint64_t ModelInternals::fingerprint(const Model& model) {
  Model::Impl& m = *model.impl_;
  std::call_once(m.fingerprint_taken,
                 [&m] { m.fingerprint = model_fingerprint(m.file, m.arch->spec()); });
  return m.fingerprint;
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load(const std::string& path, const ModelOptions& options) {
  auto impl = std::make_unique<Impl>(gguf::File::open(path), options);
  impl->arch = load_architecture(impl->file);
  const auto& unused = impl->arch->unused_tensors();
  if (options.strict && !unused.empty()) {
    throw Error(fmt::format("{}: {} tensors the {} architecture does not use: {}", path,
                            unused.size(), impl->arch->spec().arch, fmt::join(unused, ", ")));
  }
  return Model(std::move(impl));
}

std::string_view Model::architecture() const { return impl_->arch->spec().arch; }
int64_t Model::n_vocab() const { return impl_->arch->spec().n_vocab; }
int64_t Model::n_ctx_train() const { return impl_->arch->spec().n_ctx_train; }
int64_t Model::n_embd() const { return impl_->arch->spec().n_embd; }
int64_t Model::n_layer() const { return impl_->arch->spec().n_layer; }
bool Model::encoder() const { return impl_->arch->encoder(); }
size_t Model::weight_bytes() const { return impl_->arch->weight_bytes(); }
size_t Model::token_bytes() const { return impl_->arch->token_bytes(); }
size_t Model::file_bytes() const { return impl_->file.bytes().size(); }

const Tokenizer& Model::tokenizer() const {
  std::call_once(impl_->tokenizer_built,
                 [this] { impl_->tokenizer.emplace(TokenizerInternals::from_file(impl_->file)); });
  return *impl_->tokenizer;
}

std::optional<std::string> Model::meta_string(std::string_view key) const {
  const gguf::Value* v = impl_->file.find(key);
  if (v == nullptr || v->type() != gguf::ValueType::String) return std::nullopt;
  return std::string(v->as_string());
}

std::optional<int64_t> Model::meta_int(std::string_view key) const {
  const gguf::Value* v = impl_->file.find(key);
  if (v == nullptr || !v->is_integer()) return std::nullopt;
  if (v->type() == gguf::ValueType::U64 && std::get<uint64_t>(v->storage) > INT64_MAX) {
    return std::nullopt;
  }
  return v->as_int();
}

}  // namespace tern

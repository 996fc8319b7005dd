#include "session/kv_cache.h"

#include <fmt/format.h>

#include "tern/error.h"

namespace tern {

namespace {

size_t cache_bytes(TensorType type, int64_t cols, int64_t n_ctx) {
  auto row = row_bytes(type, cols);
  if (!row)
    throw Error(
        fmt::format("KV cache rows of {} values cannot be {}", cols, type_traits(type).name));
  return *row * static_cast<size_t>(n_ctx);
}

}  // namespace

KvCache::KvCache(Backend& backend, const ModelSpec& spec, int64_t n_ctx, TensorType type)
    : n_ctx_(n_ctx) {
  for (int64_t il = 0; il < spec.n_layer; ++il) {
    auto k = backend.allocate(cache_bytes(type, spec.k_cols(), n_ctx));
    auto v = backend.allocate(cache_bytes(type, spec.v_cols(), n_ctx));
    views_.push_back({k->host_data(), v->host_data(), type, n_ctx, spec.k_cols(), spec.v_cols()});
    buffers_.push_back(std::move(k));
    buffers_.push_back(std::move(v));
  }
}

size_t KvCache::bytes() const {
  size_t total = 0;
  for (const auto& b : buffers_) total += b->size();
  return total;
}

}  // namespace tern

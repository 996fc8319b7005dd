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

size_t KvCache::layer_bytes(const ModelSpec& spec, int64_t n_ctx, TensorType type) {
  return cache_bytes(type, spec.k_cols(), n_ctx) + cache_bytes(type, spec.v_cols(), n_ctx);
}

KvCache::KvCache(const std::function<Backend&(int)>& backend_of_layer, const ModelSpec& spec,
                 int64_t n_ctx, TensorType type)
    : n_ctx_(n_ctx) {
  for (int64_t il = 0; il < spec.n_layer; ++il) {
    Backend& backend = backend_of_layer(static_cast<int>(il));
    auto k = backend.allocate(cache_bytes(type, spec.k_cols(), n_ctx));
    auto v = backend.allocate(cache_bytes(type, spec.v_cols(), n_ctx));
    views_.push_back({k.get(), v.get(), type, n_ctx, spec.k_cols(), spec.v_cols()});
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

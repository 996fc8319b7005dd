#include "session/kv_cache.h"

namespace tern {

size_t KvCache::layer_bytes(const ModelSpec& spec, int64_t rows, TensorType type) {
  return (checked_row_bytes(type, spec.k_cols()) + checked_row_bytes(type, spec.v_cols())) *
         static_cast<size_t>(rows);
}

KvCache::KvCache(const std::function<Backend&(int)>& backend_of_layer, const ModelSpec& spec,
                 int64_t n_ctx, int n_seq, TensorType type)
    : n_ctx_(n_ctx), n_seq_(n_seq) {
  const int64_t rows = n_ctx * n_seq;
  for (int64_t il = 0; il < spec.n_layer; ++il) {
    Backend& backend = backend_of_layer(static_cast<int>(il));
    auto k = backend.allocate(checked_row_bytes(type, spec.k_cols()) * static_cast<size_t>(rows));
    auto v = backend.allocate(checked_row_bytes(type, spec.v_cols()) * static_cast<size_t>(rows));
    views_.push_back({k.get(), v.get(), type, rows, spec.k_cols(), spec.v_cols()});
    buffers_.push_back(std::move(k));
    buffers_.push_back(std::move(v));
  }
}

size_t KvCache::bytes() const {
  size_t total = 0;
  for (const auto& b : buffers_) total += b->size();
  return total;
}

size_t KvCache::position_bytes() const {
  size_t total = 0;
  for (const graph::CacheView& view : views_) {
    total += checked_row_bytes(view.type, view.k_cols) + checked_row_bytes(view.type, view.v_cols);
  }
  return total;
}

void KvCache::visit_positions(int seq, int64_t n,
                              const std::function<void(Buffer&, size_t, size_t)>& fn) const {
  if (n == 0) return;
  for (const graph::CacheView& view : views_) {
    for (auto [buffer, cols] : {std::pair{view.k, view.k_cols}, std::pair{view.v, view.v_cols}}) {
      size_t row = checked_row_bytes(view.type, cols);
      fn(*buffer, row * static_cast<size_t>(slot_row(seq)), row * static_cast<size_t>(n));
    }
  }
}

void KvCache::copy_positions(int src, int dst, int64_t n) {
  if (src == dst || n == 0) return;
  std::vector<uint8_t> staging;
  for (const graph::CacheView& view : views_) {
    for (auto [buffer, cols] : {std::pair{view.k, view.k_cols}, std::pair{view.v, view.v_cols}}) {
      size_t row = checked_row_bytes(view.type, cols);
      staging.resize(row * static_cast<size_t>(n));
      buffer->download(staging.data(), row * static_cast<size_t>(slot_row(src)), staging.size());
      buffer->upload(staging.data(), row * static_cast<size_t>(slot_row(dst)), staging.size());
    }
  }
}

}  // namespace tern

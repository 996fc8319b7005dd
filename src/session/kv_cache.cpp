#include "session/kv_cache.h"

#include "backends/cpu/reference_kernels.h"
#include "backends/rope_angles.h"

namespace tern {

namespace {

// Rotates n_rows key rows [n_rows, n_head_kv * head_dim_k] by `rope` at position `delta`,
// with the rope kernels the graph's keys were written with (one angle table for all rows).
void rotate_keys(std::span<const float> rows, int64_t n_rows, const ModelSpec& spec,
                 const LayerRope& rope, int64_t delta, std::span<float> out) {
  graph::RopeParams p = rope.params(spec, spec.n_head_kv);
  p.mscale = 1.0f;  // a shift turns the keys; their YaRN magnitude is already in them
  std::vector<float> factors;
  if (rope.factors) {
    factors.resize(static_cast<size_t>(p.n_rot / 2));
    dequantize(rope.factors.info->type, rope.factors.info->data, factors.data(),
               std::ssize(factors));
  }
  const graph::TokenPlace place{delta, 0};
  const std::vector<float> angles =
      rope_angles(std::span(&place, 1), p, factors.empty() ? nullptr : factors.data());
  const auto width = static_cast<size_t>(spec.k_cols());
  for (int64_t r = 0; r < n_rows; ++r) {
    const size_t at = static_cast<size_t>(r) * width;
    cpu::rope(rows.data() + at, 1, p, angles.data(), out.data() + at);
  }
}

}  // namespace

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

void KvCache::shift_positions(int seq, int64_t n_keep, int64_t n_discard, int64_t n_past,
                              const ModelSpec& spec, std::span<const LayerRope> ropes) {
  const int64_t n_move = n_past - n_keep - n_discard;
  if (n_discard == 0 || n_move <= 0) return;
  const auto from = static_cast<size_t>(slot_row(seq) + n_keep + n_discard);
  const auto to = static_cast<size_t>(slot_row(seq) + n_keep);
  std::vector<uint8_t> staging;
  std::vector<float> keys, rotated;
  for (size_t il = 0; il < views_.size(); ++il) {
    const graph::CacheView& view = views_[il];
    const TypeTraits& traits = type_traits(view.type);
    // Keys: [n_move, k_cols] in the cache's type -> float, rotated, back.
    size_t row = checked_row_bytes(view.type, view.k_cols);
    staging.resize(row * static_cast<size_t>(n_move));
    view.k->download(staging.data(), row * from, staging.size());
    const int64_t n_values = n_move * view.k_cols;
    keys.resize(static_cast<size_t>(n_values));
    rotated.resize(keys.size());
    traits.to_float(staging.data(), keys.data(), n_values);
    rotate_keys(keys, n_move, spec, ropes[il], -n_discard, rotated);
    traits.from_float(rotated.data(), staging.data(), n_values);
    view.k->upload(staging.data(), row * to, staging.size());
    // Values: moved as they are.
    row = checked_row_bytes(view.type, view.v_cols);
    staging.resize(row * static_cast<size_t>(n_move));
    view.v->download(staging.data(), row * from, staging.size());
    view.v->upload(staging.data(), row * to, staging.size());
  }
}

}  // namespace tern

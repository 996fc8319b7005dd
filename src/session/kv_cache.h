// KvCache: per-layer K and V rows [n_ctx, n_head_kv * head_dim] in backend buffers.
// Each layer's rows live on the backend that runs the layer (see scheduler/placement.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "backends/backend.h"
#include "graph/graph.h"
#include "model/model_spec.h"

namespace tern {

class KvCache {
 public:
  /// Allocates n_layer x n_ctx rows of K and V of `type` (F32 or F16), layer il on
  /// backend_of_layer(il).
  KvCache(const std::function<Backend&(int)>& backend_of_layer, const ModelSpec& spec,
          int64_t n_ctx, TensorType type);

  /// Bytes of one layer's K and V rows.
  static size_t layer_bytes(const ModelSpec& spec, int64_t n_ctx, TensorType type);

  int64_t n_ctx() const { return n_ctx_; }
  size_t bytes() const;
  /// One view per layer, for graph building: the layer's Buffers, which only the backend
  /// that made them reads.
  std::span<const graph::CacheView> views() const { return views_; }

 private:
  int64_t n_ctx_;
  std::vector<std::unique_ptr<Buffer>> buffers_;  // K and V of each layer
  std::vector<graph::CacheView> views_;
};

}  // namespace tern

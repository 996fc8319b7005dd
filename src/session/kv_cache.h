// KvCache: per-layer K and V rows in backend buffers, one slot of n_ctx rows per sequence
// (sequence s owns rows [s * n_ctx, (s + 1) * n_ctx); its position p is row s * n_ctx + p).
// Each layer's rows live on the backend that runs the layer (see scheduler/placement.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "arch/architecture.h"
#include "backends/backend.h"
#include "graph/graph.h"
#include "model/model_spec.h"

namespace tern {

class KvCache {
 public:
  /// Allocates n_layer x (n_seq * n_ctx) rows of K and V of `type` (F32 or F16), layer il
  /// on backend_of_layer(il).
  KvCache(const std::function<Backend&(int)>& backend_of_layer, const ModelSpec& spec,
          int64_t n_ctx, int n_seq, TensorType type);

  /// Bytes of one layer's K and V rows for `rows` positions (all slots together).
  static size_t layer_bytes(const ModelSpec& spec, int64_t rows, TensorType type);

  /// Positions per sequence.
  int64_t n_ctx() const { return n_ctx_; }
  int n_seq() const { return n_seq_; }
  /// The first row of sequence `seq`'s slot.
  int64_t slot_row(int seq) const { return int64_t{seq} * n_ctx_; }
  size_t bytes() const;
  TensorType type() const { return views_.front().type; }
  /// Bytes of one position of one sequence: its K and V rows in every layer.
  size_t position_bytes() const;
  /// One view per layer, for graph building: the layer's Buffers, which only the backend
  /// that made them reads.
  std::span<const graph::CacheView> views() const { return views_; }

  /// Copies positions [0, n) of sequence `src` to the same positions of `dst`, in every
  /// layer (through host memory: a prefix is shared once per prompt, not per token). The
  /// caller holds the locks of the backends the buffers belong to.
  void copy_positions(int src, int dst, int64_t n);

  /// Calls fn(buffer, offset, bytes) for the bytes of positions [0, n) of sequence `seq`
  /// in each buffer, layer by layer, K before V: position_bytes() * n bytes in all, which
  /// the caller downloads or uploads holding the locks of the buffers' backends.
  void visit_positions(int seq, int64_t n,
                       const std::function<void(Buffer&, size_t, size_t)>& fn) const;
  /// The context shift of sequence `seq`, which holds `n_past` positions: positions
  /// [n_keep + n_discard, n_past) move down to n_keep.., their keys rotated by layer il's
  /// `ropes[il]` at position -n_discard (RoPE rotations compose: a key written at p then
  /// reads as one written at p - n_discard); values only move. Through host memory, one
  /// download and upload of each layer's K and V (a shift is rare); an F16 cache is
  /// rotated in float and rounded back. The caller holds the backends' locks and checked
  /// n_keep + n_discard <= n_past.
  void shift_positions(int seq, int64_t n_keep, int64_t n_discard, int64_t n_past,
                       const ModelSpec& spec, std::span<const LayerRope> ropes);

 private:
  int64_t n_ctx_;
  int n_seq_;
  std::vector<std::unique_ptr<Buffer>> buffers_;  // K and V of each layer
  std::vector<graph::CacheView> views_;
};

}  // namespace tern

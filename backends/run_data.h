// RunData: the per-run values of a span of graph nodes, gathered once on the host into
// 32-bit words that a GPU backend uploads in one copy before the span's kernels run:
//   GetRows    the row ids (int32), checked against the table
//   Rope       the angle table, rope_angles.h: [n_tokens, n_rot / 2] (cos, sin) floats
//   Attention  pos0 (int32), checked: the caches hold pos0 + n_tokens rows
//   Copy       the cache row the batch goes to (int32), checked: the rows fit the cache
// Kernels read these from the uploaded words, never from launch arguments, so a decode
// step's launches are the same at every position: CUDA Graphs and recorded Vulkan
// command buffers replay them with new words (see src/graph/launch_key.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "graph/graph.h"

namespace tern {

class RunData {
 public:
  /// Replaces the words with those of nodes [first, last) of `g`. Throws tern::Error on
  /// a row id outside its table or a position outside the cache (input errors, checked
  /// on every run: a replayed span passes through here only).
  void gather(const graph::Graph& g, size_t first, size_t last);

  /// Every node's words; each node's start is 16-byte aligned (vec4 and float2 reads).
  std::span<const uint32_t> words() const { return words_; }
  /// Where node `i` (first <= i < last) starts in words(), in words; 0 for a node
  /// without per-run data.
  size_t at(size_t i) const { return at_[i - first_]; }

 private:
  std::vector<uint32_t> words_;
  std::vector<size_t> at_;
  size_t first_ = 0;
};

}  // namespace tern

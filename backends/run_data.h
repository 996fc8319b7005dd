// RunData: the per-run values of a span of graph nodes, gathered once on the host into
// 32-bit words that a GPU backend uploads in one copy before the span's kernels run:
//   GetRows    the row ids (int32), checked against the table
//   Rope       the angle table, rope_angles.h: [n_tokens, n_rot / 2] (cos, sin) floats;
//              one per distinct rotation, shared by every layer's q and k
//   Attention  per token: its position and its sequence's first cache row (int32 pairs),
//              checked: the caches hold every row the tokens read; then the attention
//              sinks (n_head floats) when the node has them
//   Copy       per token: the cache row its K or V goes to (int32), checked to fit
// Kernels read these from the uploaded words, never from launch arguments, so a decode
// step's launches are the same at every position: CUDA Graphs and recorded Vulkan
// command buffers replay them with new words (see src/graph/launch_key.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
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
  // What a rope node's angles depend on (the positions are the graph's).
  struct Rotation {
    int64_t n_tokens;
    int n_rot;
    float freq_base, freq_scale;
    float ext_factor, corr_low, corr_high, mscale;
    const void* factors;  // the frequency factors (a weight: GPU backends ask for one)
    bool operator==(const Rotation&) const = default;
  };

  // Starts a node's words at the next 16-byte boundary; returns the start.
  size_t start_node();
  // The start of the angle table of rope node `node`, appended unless an earlier node of
  // the span has the same rotation.
  size_t rope_table_at(const graph::Graph& g, const graph::Node& node);

  std::vector<uint32_t> words_;
  std::vector<size_t> at_;
  size_t first_ = 0;
  std::vector<std::pair<Rotation, size_t>> rope_tables_;  // this span's, with their starts
};

}  // namespace tern

// The op families of the Vulkan backend: for each, whether it can run a node and how to
// record it. vulkan_backend.cpp holds the one switch over ops.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "executor.h"
#include "graph/graph.h"
#include "memory.h"
#include "weights.h"

namespace tern::vulkan {

inline constexpr uint64_t kWorkgroup = 64;  // WG of shaders/common.glsl

/// What the ops need while a span of a graph is recorded.
struct OpContext {
  const graph::Graph& graph;
  Executor& exec;
  WeightStore& weights;
  VkBuffer workspace;
  VkBuffer aux;                     // host-visible per-run data: ids, rope tables, positions
  std::vector<uint32_t>& aux_data;  // its contents, uploaded before the submit
  std::function<DeviceBuffer*(const Buffer*)> cache_buffer;  // a KV cache of this backend

  /// Appends `words` to the per-run data and returns their offset (in 32-bit words).
  uint64_t append_aux(const uint32_t* words, size_t n);
};

/// What the ops need to decide support.
struct OpLimits {
  uint64_t max_buffer_bytes;  // maxStorageBufferRange
  std::function<bool(const Buffer*)> owns_cache;
};

/// 32-bit words of per-run data `node` needs (ids, rope tables, positions).
uint64_t aux_words(const graph::Graph& g, const graph::Node& node);

bool supports_matmul(const OpLimits& l, const graph::Graph& g, const graph::Node& node);
bool supports_get_rows(const OpLimits& l, const graph::Graph& g, const graph::Node& node);
bool supports_rope(const OpLimits& l, const graph::Graph& g, const graph::Node& node);
bool supports_attention(const OpLimits& l, const graph::Graph& g, const graph::Node& node);
bool supports_copy(const OpLimits& l, const graph::Graph& g, const graph::Node& node);
bool supports_elementwise(const OpLimits& l, const graph::Graph& g, const graph::Node& node);

void record_matmul(OpContext& c, const graph::Node& node);    // ops_matmul.cpp
void record_get_rows(OpContext& c, const graph::Node& node);  // ops_matmul.cpp
void record_rope(OpContext& c, const graph::Node& node);      // ops_rope.cpp
void record_attention(OpContext& c, const graph::Node& node);  // ops_attention.cpp
void record_copy(OpContext& c, const graph::Node& node);       // ops_attention.cpp
/// RmsNorm, SwiGlu, GeGlu, Add, Scale (ops_elementwise.cpp).
void record_elementwise(OpContext& c, const graph::Node& node);

}  // namespace tern::vulkan

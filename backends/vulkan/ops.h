// The op families of the Vulkan backend: for each, whether it can run a node and how to
// record it. vulkan_backend.cpp holds the one switch over ops.
#pragma once

#include <cstdint>
#include <functional>

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
  VkBuffer aux;  // the span's per-run data (backends/run_data.h): ids, rope tables, positions
  std::function<DeviceBuffer*(const Buffer*)> cache_buffer;  // a KV cache of this backend
  uint64_t aux_at = 0;  // where the node being recorded finds its data in `aux`, in words
};

/// What the ops need to decide support.
struct OpLimits {
  uint64_t max_buffer_bytes;  // maxStorageBufferRange
  std::function<bool(const Buffer*)> owns_cache;
};

/// A weight the kernels can read: a device type, whole 8-value chunks, within the limit.
bool readable_weight(const OpLimits& l, const graph::Tensor& t);

bool supports_matmul(const OpLimits& l, const graph::Graph& g, const graph::Node& node);
bool supports_get_rows(const OpLimits& l, const graph::Graph& g, const graph::Node& node);
bool supports_rope(const OpLimits& l, const graph::Graph& g, const graph::Node& node);
bool supports_attention(const OpLimits& l, const graph::Graph& g, const graph::Node& node);
bool supports_copy(const OpLimits& l, const graph::Graph& g, const graph::Node& node);
bool supports_elementwise(const OpLimits& l, const graph::Graph& g, const graph::Node& node);
bool supports_experts(const OpLimits& l, const graph::Graph& g, const graph::Node& node);

void record_matmul(OpContext& c, const graph::Node& node);    // ops_matmul.cpp
void record_get_rows(OpContext& c, const graph::Node& node);  // ops_matmul.cpp
void record_rope(OpContext& c, const graph::Node& node);      // ops_rope.cpp
void record_attention(OpContext& c, const graph::Node& node);  // ops_attention.cpp
void record_copy(OpContext& c, const graph::Node& node);       // ops_attention.cpp
/// RmsNorm, SwiGlu, GeGlu, SwiGluOai, Add, Scale, SoftCap (ops_elementwise.cpp).
void record_elementwise(OpContext& c, const graph::Node& node);
/// ExpertRoute, ExpertMatMul, ExpertAdd, ExpertMix (ops_experts.cpp).
void record_experts(OpContext& c, const graph::Node& node);

}  // namespace tern::vulkan

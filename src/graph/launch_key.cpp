#include "graph/launch_key.h"

#include <bit>
#include <type_traits>
#include <variant>

namespace tern::graph {

namespace {

template <typename T>
uint64_t word(T v) {
  if constexpr (std::is_same_v<T, float>) {
    return std::bit_cast<uint32_t>(v);
  } else {
    return static_cast<uint64_t>(v);
  }
}

// The parameters' fields one by one (their padding bytes are not values).
void append_params(const Params& params, std::vector<uint64_t>& key) {
  std::visit(
      [&](const auto& p) {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, RmsNormParams>) {
          key.push_back(word(p.eps));
        } else if constexpr (std::is_same_v<P, RopeParams>) {
          key.insert(key.end(), {word(p.n_head), word(p.head_dim), word(p.n_rot), word(p.freq_base),
                                 word(p.freq_scale), word(p.neox), word(p.ext_factor),
                                 word(p.corr_low), word(p.corr_high), word(p.mscale)});
        } else if constexpr (std::is_same_v<P, AttentionParams>) {
          key.insert(key.end(),
                     {word(p.n_head), word(p.n_head_kv), word(p.head_dim_k), word(p.head_dim_v),
                      word(p.scale), word(p.window), word(p.softcap)});
        } else if constexpr (std::is_same_v<P, ScaleParams>) {
          key.push_back(word(p.factor));
        } else if constexpr (std::is_same_v<P, ExpertRouteParams>) {
          key.insert(key.end(), {word(p.n_used), word(p.normalize), word(p.gating)});
        } else if constexpr (std::is_same_v<P, ExpertMatMulParams>) {
          key.push_back(word(p.n_expert));
        } else if constexpr (std::is_same_v<P, SoftCapParams>) {
          key.push_back(word(p.cap));
        } else if constexpr (std::is_same_v<P, SwiGluOaiParams>) {
          key.insert(key.end(), {word(p.alpha), word(p.limit)});
        }
      },
      params);
}

}  // namespace

uint64_t hash_launch_key(const std::vector<uint64_t>& key) {
  uint64_t h = 0x9e3779b97f4a7c15u;
  for (uint64_t w : key) {
    h = (h ^ w) * 0xbf58476d1ce4e5b9u;
    h ^= h >> 31;
  }
  return h;
}

void append_launch_key(const Graph& g, const Node& node, const CacheIdentity& cache_id,
                       std::vector<uint64_t>& key) {
  key.push_back(static_cast<uint64_t>(node.op));
  for (TensorId id : {node.in[0], node.in[1], node.in[2], node.in[3], node.out}) {
    if (id == kNone) {
      key.push_back(~uint64_t{0});
      continue;
    }
    const Tensor& t = g.tensor(id);
    uint64_t identity = t.offset;
    if (t.storage == Storage::Weight) identity = reinterpret_cast<uintptr_t>(t.data);
    if (t.storage == Storage::Cache) identity = cache_id(t.cache);
    key.insert(key.end(), {static_cast<uint64_t>(t.type), word(t.cols), word(t.rows),
                           static_cast<uint64_t>(t.storage), identity});
  }
  append_params(node.params, key);
}

}  // namespace tern::graph

// Launch keys: the words that shape the kernel launches of a span of graph nodes. Backends
// that record launches once and replay them (CUDA Graphs, Vulkan command buffers) keep
// the recordings in a LaunchCache by them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "graph/graph.h"

namespace tern::graph {

/// The identity of a KV cache's device memory, as the backend that owns it sees it.
using CacheIdentity = std::function<uint64_t(const Buffer* cache)>;

/// Appends `node`'s words to `key`: op, parameters, and each operand's type, shape, storage
/// and identity (weights by address, caches by `cache_id`, activations and inputs by
/// offset). The tokens' places (positions, cache rows) are left out: a backend that
/// replays launches passes them as per-run data.
void append_launch_key(const Graph& g, const Node& node, const CacheIdentity& cache_id,
                       std::vector<uint64_t>& key);

/// A 64-bit hash of a launch key.
uint64_t hash_launch_key(const std::vector<uint64_t>& key);

/// Recordings (a backend's captured or recorded launches) by launch key; past `capacity`
/// the least recently used is dropped.
template <typename Recording>
class LaunchCache {
 public:
  explicit LaunchCache(size_t capacity) : capacity_(capacity) {}

  /// The recording of `key`; a default one when the key is new.
  Recording& get(const std::vector<uint64_t>& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      if (entries_.size() >= capacity_) evict_oldest();
      it = entries_.try_emplace(key).first;
    }
    it->second.last_used = ++clock_;
    return it->second.recording;
  }

 private:
  struct Entry {
    uint64_t last_used = 0;
    Recording recording{};
  };
  struct KeyHash {
    size_t operator()(const std::vector<uint64_t>& key) const { return hash_launch_key(key); }
  };

  void evict_oldest() {
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.last_used < oldest->second.last_used) oldest = it;
    }
    if (oldest != entries_.end()) entries_.erase(oldest);
  }

  size_t capacity_;
  uint64_t clock_ = 0;
  std::unordered_map<std::vector<uint64_t>, Entry, KeyHash> entries_;
};

}  // namespace tern::graph

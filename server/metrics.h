// Counters and gauges of tern serve, rendered in Prometheus' text format for GET /metrics.
// Updated by the HTTP threads and the engine thread at once: every field is atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace tern::server {

struct Metrics {
  std::atomic<int64_t> requests{0};           // completion requests accepted
  std::atomic<int64_t> requests_failed{0};    // answered with an error status
  std::atomic<int64_t> prompt_tokens{0};      // decoded (a reused cached prefix excluded)
  std::atomic<int64_t> copied_prefixes{0};    // prompts started from another slot's prefix
  std::atomic<int64_t> completion_tokens{0};  // generated
  std::atomic<int64_t> prompt_us{0};          // microseconds of the steps that decoded prompts
  std::atomic<int64_t> generate_us{0};        // microseconds of generation, summed per request
  std::atomic<int64_t> queued{0};             // jobs waiting for a slot
  std::atomic<int64_t> busy_slots{0};
  std::atomic<int64_t> slots{0};
  std::atomic<int64_t> kv_used{0};            // cache positions holding tokens, all slots
  std::atomic<int64_t> kv_size{0};            // cache positions in all

  /// The Prometheus text exposition of every metric (prefix tern_).
  std::string render() const;
};

}  // namespace tern::server

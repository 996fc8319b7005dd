// The machine's streaming read bandwidth, measured: the ceiling for token generation,
// which reads every weight once per token.
#pragma once

#include <cstddef>

namespace tern::cpu {

struct Bandwidth {
  double best_gbps = 0;    // fastest repetition, 1e9 bytes/s
  double median_gbps = 0;  // median repetition
};

/// Reads a `bytes` buffer (touched first, so it is resident) `reps` times with n_threads
/// threads of the shared pool, each summing its share in 64-byte strides of 8 words.
Bandwidth measure_read_bandwidth(int n_threads, size_t bytes = size_t{1} << 30, int reps = 5);

}  // namespace tern::cpu

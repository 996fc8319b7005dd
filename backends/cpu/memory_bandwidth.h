// The machine's streaming read bandwidth, measured: the ceiling for token generation,
// which reads every weight once per token.
//
// What it takes to reach that ceiling (2-core Zen 3 VM, 1 GiB buffer, best of 5, GB/s at
// 1/2 threads, alternating runs on a shared machine): one stream per thread in 64 KiB
// tasks, 16-byte loads: 16-17 / 25-29; four interleaved streams per thread in 256 KiB
// tasks: 24-27 / 33-37, the same with 16- or 32-byte loads (the streams are what keeps
// enough misses in flight). Eight streams did not help, and software prefetch cost 10-15%
// in a standalone trial (the hardware prefetchers already follow four streams), so the
// kernels do not issue it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tern::cpu {

struct Bandwidth {
  double best_gbps = 0;    // fastest repetition, 1e9 bytes/s
  double median_gbps = 0;  // median repetition
};

/// The read test's buffer: far past any last-level cache seen (the Intel VM's 300 MB L3).
constexpr size_t kReadTestBytes = size_t{1} << 30;

/// Reads a `bytes` buffer (rounded to whole tasks; touched first, so every page is
/// resident before timing) `reps` times with n_threads threads of the shared pool (give
/// one per physical core), with the read kernel of the active SIMD level. Each repetition
/// is checked against the buffer's known word sum (tern::Error if a read went missing).
Bandwidth measure_read_bandwidth(int n_threads, size_t bytes = kReadTestBytes, int reps = 5);

/// One task of the read kernels: kReadTaskBytes (64-byte aligned) read as kReadStreams
/// interleaved sequential streams of kReadTaskBytes / kReadStreams bytes each, so a thread
/// keeps several streams of misses in flight.
constexpr size_t kReadTaskBytes = size_t{256} << 10;
constexpr size_t kReadStreams = 4;
constexpr size_t kReadTaskWords = kReadTaskBytes / sizeof(uint64_t);

/// The sum (mod 2^64) of the task's kReadTaskWords 64-bit words at p: portable code
/// (baseline x86-64 vectorizes it to 16-byte loads).
uint64_t sum_task_words(const uint64_t* p);

namespace avx2 {
/// As cpu::sum_task_words, with unrolled 256-bit loads (also used at the AVX512 level:
/// wider loads do not read DRAM faster).
uint64_t sum_task_words(const uint64_t* p);
}  // namespace avx2

}  // namespace tern::cpu

// Vectors whose data start on a cache line, for the buffers the kernels stream through (tile
// weights, packed activations). std::vector's large blocks start 16 bytes into a page, so
// every 64-byte row of an AMX tile and every 512-bit load there straddled two cache lines:
// the AMX K-quant products ran at 42 ns per group of four loads and four products instead
// of 23-26 (bench_kernels prompt/Q4_K/interleaved/amx/512, Intel Xeon VM, 2026-12-07).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace tern::cpu {

inline constexpr std::size_t kCacheLine = 64;

template <typename T>
struct CacheLineAllocator {
  using value_type = T;

  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{kCacheLine}));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    ::operator delete (p, n * sizeof(T), std::align_val_t{kCacheLine});
  }
  friend bool operator==(const CacheLineAllocator&, const CacheLineAllocator&) { return true; }
};

template <typename T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

}  // namespace tern::cpu

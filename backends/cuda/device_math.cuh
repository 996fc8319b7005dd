// Primitives the block kernels share on the host and the device: the TERN_HD qualifier,
// half/bfloat16 bits to float, 4-way int8 dot products (__dp4a) and byte-wise subtraction
// with host fallbacks of the same semantics, and 32-bit loads from blocks that are only
// 2-byte aligned. Compiled by nvcc (or hipcc) for kernels and by g++ for
// tests/test_cuda_blocks.cpp.
#pragma once

#include <cstdint>
#include <cstring>

#include "types/float_types.h"

#if defined(__CUDACC__) || defined(__HIPCC__)
#include "gpu_runtime.h"
#define TERN_HD __host__ __device__ __forceinline__
#else
#define TERN_HD inline
#endif
// The device pass of nvcc or hipcc; NVIDIA's alone has __dp4a and __vsub4 (elsewhere the
// portable code below, which the host uses too).
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
#define TERN_DEVICE_CODE 1
#endif
#ifdef __CUDA_ARCH__
#define TERN_NVIDIA_DEVICE_CODE 1
#endif
// Fixed-count loops over a block's words: unrolled on the device, so per-word arrays stay
// in registers (host compilers do not know the pragma).
#ifdef TERN_DEVICE_CODE
#define TERN_UNROLL _Pragma("unroll")
#define TERN_UNROLL_2 _Pragma("unroll 2")
#else
#define TERN_UNROLL
#define TERN_UNROLL_2
#endif

namespace tern::cuda {

/// IEEE half bits -> float (exact).
TERN_HD float half_to_float(uint16_t h) {
#ifdef TERN_DEVICE_CODE
  return __half2float(__ushort_as_half(h));
#else
  return f16_to_f32(h);
#endif
}

/// bfloat16 bits -> float (exact).
TERN_HD float bf16_bits_to_float(uint16_t b) {
#ifdef TERN_DEVICE_CODE
  return __uint_as_float(static_cast<uint32_t>(b) << 16);
#else
  return bf16_to_f32(b);
#endif
}

/// Signed byte k (0..3, little-endian) of a 32-bit word.
TERN_HD int sbyte(int w, int k) {
  return static_cast<int8_t>(static_cast<uint8_t>(static_cast<uint32_t>(w) >> (8 * k)));
}

/// c + sum over k of signed byte k of a times signed byte k of b (__dp4a).
TERN_HD int dp4a(int a, int b, int c) {
#ifdef TERN_NVIDIA_DEVICE_CODE
  return __dp4a(a, b, c);
#else
  for (int k = 0; k < 4; ++k) c += sbyte(a, k) * sbyte(b, k);
  return c;
#endif
}

/// Byte-wise a - b modulo 256, no borrow between bytes (__vsub4). Turns unsigned quants
/// with an offset (0..63 - 32) into the signed bytes dp4a reads.
TERN_HD int vsub4(int a, int b) {
#ifdef TERN_NVIDIA_DEVICE_CODE
  return static_cast<int>(__vsub4(static_cast<unsigned>(a), static_cast<unsigned>(b)));
#else
  uint32_t out = 0;
  for (int k = 0; k < 4; ++k) {
    const uint32_t byte =
        ((static_cast<uint32_t>(a) >> (8 * k)) - (static_cast<uint32_t>(b) >> (8 * k))) & 0xffu;
    out |= byte << (8 * k);
  }
  return static_cast<int>(out);
#endif
}

/// The 32-bit little-endian word at p. kAlign (2 or 4) is what the caller guarantees for
/// p: blocks whose size is not a multiple of 4 (Q4_0: 18 bytes) only keep 2-byte alignment
/// in a row, so their words are read as two 16-bit halves on the device.
template <int kAlign>
TERN_HD int load_i32(const void* p) {
#ifdef TERN_DEVICE_CODE
  if constexpr (kAlign >= 4) {
    return *static_cast<const int*>(p);
  } else {
    const auto* h = static_cast<const uint16_t*>(p);
    return static_cast<int>(h[0] | (static_cast<uint32_t>(h[1]) << 16));
  }
#else
  int v;
  std::memcpy(&v, p, 4);
  return v;
#endif
}

/// The 16 bytes at p as four little-endian words, from read-only device memory. kAlign (2,
/// 4, 8 or 16) is what the caller guarantees for p: 16 is one vector load; 2-byte aligned
/// bytes are read as the five aligned words around them, funnel-shifted (not eight 16-bit
/// loads), so the aligned word holding byte p + 16 must be readable (in K-quant blocks,
/// other fields follow the quant bytes).
template <int kAlign>
TERN_HD void load_16(const void* p, int (&w)[4]) {
#ifdef TERN_DEVICE_CODE
  if constexpr (kAlign >= 16) {
    const int4 v = __ldg(static_cast<const int4*>(p));
    w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
  } else if constexpr (kAlign >= 8) {
    const int2 a = __ldg(static_cast<const int2*>(p)), b = __ldg(static_cast<const int2*>(p) + 1);
    w[0] = a.x, w[1] = a.y, w[2] = b.x, w[3] = b.y;
  } else if constexpr (kAlign >= 4) {
    TERN_UNROLL
    for (int k = 0; k < 4; ++k) w[k] = __ldg(static_cast<const int*>(p) + k);
  } else {
    const auto addr = reinterpret_cast<uintptr_t>(p);
    const auto* base = reinterpret_cast<const unsigned*>(addr & ~uintptr_t{3});
    const unsigned shift = static_cast<unsigned>(addr & 3) * 8;  // 0 or 16
    unsigned raw[5];
    TERN_UNROLL
    for (int k = 0; k < 5; ++k) raw[k] = __ldg(base + k);
    TERN_UNROLL
    for (int k = 0; k < 4; ++k) w[k] = static_cast<int>(__funnelshift_r(raw[k], raw[k + 1], shift));
  }
#else
  std::memcpy(w, p, 16);
#endif
}

/// The alignment every block of a row keeps when the row starts 16-byte aligned.
template <typename Block>
inline constexpr int kBlockAlign = sizeof(Block) % 4 == 0 ? 4 : 2;

/// The alignment of `offset` bytes (plus multiples of 16) into every block of such a row:
/// what load_16 may assume there.
template <typename Block>
TERN_HD constexpr int align_at(size_t offset) {
  const size_t both = sizeof(Block) | offset;
  return both % 16 == 0 ? 16 : both % 8 == 0 ? 8 : both % 4 == 0 ? 4 : 2;
}

}  // namespace tern::cuda

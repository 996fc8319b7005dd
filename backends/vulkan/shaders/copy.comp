#version 450
// Writes x [n values] into the KV cache (binding 2, 32-bit words) from value dst_at:
// F32, or (CACHE_F16) halves, two per word (dst_at and n even). One thread per word.
#include "common.glsl"

layout(binding = 2) writeonly buffer Cache { uint cache[]; };
layout(push_constant) uniform Params {
  uint n, dst_at, x_off;
} p;

void main() {
  uint i = group_x() * WG + gl_LocalInvocationID.x;
#ifdef CACHE_F16
  if (2 * i >= p.n) return;
  cache[(p.dst_at >> 1) + i] = packHalf2x16(vec2(ws[p.x_off + 2 * i], ws[p.x_off + 2 * i + 1]));
#else
  if (i >= p.n) return;
  cache[p.dst_at + i] = floatBitsToUint(ws[p.x_off + i]);
#endif
}

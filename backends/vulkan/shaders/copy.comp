#version 450
// Writes x [n values] into the KV cache (binding 2, 32-bit words) from row aux[row_at]
// (rows of row_values values; the per-run data, binding 3, so a recorded decode step
// serves every position): F32, or (CACHE_F16) halves, two per word (row_values and n
// even). One thread per word.
#include "common.glsl"

layout(binding = 2) writeonly buffer Cache { uint cache[]; };
layout(binding = 3) readonly buffer Aux { uint aux[]; };
layout(push_constant) uniform Params {
  uint n, row_at, row_values, x_off;
} p;

void main() {
  uint i = group_x() * WG + gl_LocalInvocationID.x;
  uint dst_at = aux[p.row_at] * p.row_values;
#ifdef CACHE_F16
  if (2 * i >= p.n) return;
  cache[(dst_at >> 1) + i] = packHalf2x16(vec2(ws[p.x_off + 2 * i], ws[p.x_off + 2 * i + 1]));
#else
  if (i >= p.n) return;
  cache[dst_at + i] = floatBitsToUint(ws[p.x_off + i]);
#endif
}

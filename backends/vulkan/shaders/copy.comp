#version 450
// Writes row r of x [n values, rows of row_values] into row aux[row_at + r] of the KV
// cache (binding 2, 32-bit words; the rows are per-run data, binding 3, so a recorded
// decode step serves every position): F32, or (CACHE_F16) halves, two per word
// (row_values and n even). One thread per word.
#include "common.glsl"

layout(binding = 2) writeonly buffer Cache { uint cache[]; };
layout(binding = 3) readonly buffer Aux { uint aux[]; };
layout(push_constant) uniform Params {
  uint n, row_at, row_values, x_off;
} p;

void main() {
  uint i = group_x() * WG + gl_LocalInvocationID.x;
#ifdef CACHE_F16
  if (2 * i >= p.n) return;
  uint r = 2 * i / p.row_values;
  uint dst_at = aux[p.row_at + r] * p.row_values + (2 * i - r * p.row_values);
  cache[(dst_at >> 1)] = packHalf2x16(vec2(ws[p.x_off + 2 * i], ws[p.x_off + 2 * i + 1]));
#else
  if (i >= p.n) return;
  uint r = i / p.row_values;
  cache[aux[p.row_at + r] * p.row_values + (i - r * p.row_values)] = floatBitsToUint(ws[p.x_off + i]);
#endif
}

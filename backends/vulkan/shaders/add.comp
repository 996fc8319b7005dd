#version 450
// y [rows, cols] = a + b; b (binding 2: the workspace or an F32 weight) has b_rows rows,
// rows or 1 (broadcast).
#include "common.glsl"

layout(binding = 2) readonly buffer B { float b[]; };
layout(push_constant) uniform Params {
  uint n, cols, b_rows, a_off, b_off, y_off;
} p;

void main() {
  uint i = group_x() * WG + gl_LocalInvocationID.x;
  if (i >= p.n) return;
  uint bi = p.b_rows == 1 ? i % p.cols : i;
  ws[p.y_off + i] = ws[p.a_off + i] + b[p.b_off + bi];
}

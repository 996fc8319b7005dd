#version 450
// Rotary embedding of x [n_tok, n_head * head_dim]. The host computes cos/sin of every
// (token, pair) angle in double, exactly as the CPU reference does: table [n_tok,
// n_rot/2] of (cos, sin) in binding 2. One thread per (token, head, value pair); pairs
// past n_rot/2 copy the dimensions that do not rotate.
#include "common.glsl"

layout(binding = 2) readonly buffer Table { vec2 cs[]; };
layout(push_constant) uniform Params {
  uint n_tok, n_head, head_dim, n_rot, neox, table_off, x_off, y_off;  // table_off in vec2
} p;

void main() {
  uint half_dim = p.head_dim / 2;
  uint item = group_x() * WG + gl_LocalInvocationID.x;
  if (item >= p.n_tok * p.n_head * half_dim) return;
  uint i = item % half_dim;
  uint h = (item / half_dim) % p.n_head;
  uint t = item / (half_dim * p.n_head);
  uint at = t * p.n_head * p.head_dim + h * p.head_dim;
  uint half_rot = p.n_rot / 2;
  if (i < half_rot) {
    uint a = p.neox != 0 ? i : 2 * i;
    uint b = p.neox != 0 ? i + half_rot : 2 * i + 1;
    vec2 c = cs[p.table_off + t * half_rot + i];
    float x0 = ws[p.x_off + at + a];
    float x1 = ws[p.x_off + at + b];
    ws[p.y_off + at + a] = x0 * c.x - x1 * c.y;
    ws[p.y_off + at + b] = x0 * c.y + x1 * c.x;
  } else {
    uint d = p.n_rot + 2 * (i - half_rot);
    ws[p.y_off + at + d] = ws[p.x_off + at + d];
    ws[p.y_off + at + d + 1] = ws[p.x_off + at + d + 1];
  }
}

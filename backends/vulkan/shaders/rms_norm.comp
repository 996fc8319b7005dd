#version 450
// For each group of `group` values of x: y = x / sqrt(mean(x^2) + eps) * w, w (F32,
// binding 2, `group` values) optional. One workgroup per group.
#include "common.glsl"

layout(binding = 2) readonly buffer Weight { float w[]; };
layout(push_constant) uniform Params {
  uint n_groups, group, has_w, x_off, y_off;
  float eps;
} p;

void main() {
  uint g = group_x();
  if (g >= p.n_groups) return;
  uint at = g * p.group;
  float ss = 0.0;
  for (uint i = gl_LocalInvocationID.x; i < p.group; i += WG) {
    float x = ws[p.x_off + at + i];
    ss += x * x;
  }
  float inv = inversesqrt(wg_sum(ss) / float(p.group) + p.eps);
  for (uint i = gl_LocalInvocationID.x; i < p.group; i += WG) {
    float wi = p.has_w != 0 ? w[i] : 1.0;
    ws[p.y_off + at + i] = ws[p.x_off + at + i] * inv * wi;
  }
}

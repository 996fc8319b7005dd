#version 450
// y [n * n_used, cols] + bias: row t * n_used + j gets row e_tj of the stacked per-expert
// bias [n_expert, cols] (binding 2, F32), e_tj from the route (graph.h, ExpertAdd).
#include "common.glsl"

layout(binding = 2) readonly buffer Bias { float bias[]; };
layout(push_constant) uniform Params {
  uint n_pairs, cols, n_used, n_expert, y_off, route_off, out_off;
} p;

void main() {
  uint i = group_x() * WG + gl_LocalInvocationID.x;
  if (i >= p.n_pairs * p.cols) return;
  uint pair = i / p.cols, c = i % p.cols;
  float chosen = ws[p.route_off + (pair / p.n_used) * 2 * p.n_used + p.n_used + pair % p.n_used];
  uint expert = min(uint(max(chosen, 0.0)), p.n_expert - 1);
  ws[p.out_off + i] = ws[p.y_off + i] + bias[expert * p.cols + c];
}

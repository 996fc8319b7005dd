#version 450
// out [n, cols]: out[t] = sum_j route[t][j] * y[t * n_used + j], in route order as the
// CPU sums (graph.h, ExpertMix).
#include "common.glsl"

layout(push_constant) uniform Params {
  uint n, cols, n_used, y_off, route_off, out_off;
} p;

void main() {
  uint i = group_x() * WG + gl_LocalInvocationID.x;
  if (i >= p.n * p.cols) return;
  uint t = i / p.cols, c = i % p.cols;
  uint r = p.route_off + t * 2 * p.n_used;
  uint y = p.y_off + t * p.n_used * p.cols + c;
  float s = ws[r] * ws[y];
  for (uint j = 1; j < p.n_used; ++j) s += ws[r + j] * ws[y + j * p.cols];
  ws[p.out_off + i] = s;
}

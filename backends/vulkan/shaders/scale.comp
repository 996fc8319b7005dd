#version 450
// y = x * factor over n values.
#include "common.glsl"

layout(push_constant) uniform Params {
  uint n, x_off, y_off;
  float factor;
} p;

void main() {
  uint i = group_x() * WG + gl_LocalInvocationID.x;
  if (i >= p.n) return;
  ws[p.y_off + i] = ws[p.x_off + i] * p.factor;
}

#version 450
// y = x * factor over n values; SOFT_CAP: y = factor * tanh(x / factor) (gemma2's logits).
#include "common.glsl"

layout(push_constant) uniform Params {
  uint n, x_off, y_off;
  float factor;
} p;

void main() {
  uint i = group_x() * WG + gl_LocalInvocationID.x;
  if (i >= p.n) return;
#ifdef SOFT_CAP
  ws[p.y_off + i] = p.factor * safe_tanh(ws[p.x_off + i] / p.factor);
#else
  ws[p.y_off + i] = ws[p.x_off + i] * p.factor;
#endif
}

#version 450
// y = x * factor (op 0) or cap * tanh(x / cap) (op 1), over n values.
#include "common.glsl"

layout(push_constant) uniform Params {
  uint n, op, x_off, y_off;
  float value;
} p;

void main() {
  uint i = group_x() * WG + gl_LocalInvocationID.x;
  if (i >= p.n) return;
  float x = ws[p.x_off + i];
  ws[p.y_off + i] = p.op == 0 ? x * p.value : p.value * safe_tanh(x / p.value);
}

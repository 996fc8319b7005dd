#version 450
// y = act(gate) * up over n values; act = silu (gelu 0) or gelu_tanh (gelu 1).
#include "common.glsl"

layout(push_constant) uniform Params {
  uint n, gelu, gate_off, up_off, y_off;
} p;

void main() {
  uint i = group_x() * WG + gl_LocalInvocationID.x;
  if (i >= p.n) return;
  float g = ws[p.gate_off + i];
  float a;
  if (p.gelu != 0) {
    const float kSqrt2OverPi = 0.7978845608028654;
    a = 0.5 * g * (1.0 + safe_tanh(kSqrt2OverPi * (g + 0.044715 * g * g * g)));
  } else {
    a = g / (1.0 + exp(-g));
  }
  ws[p.y_off + i] = a * ws[p.up_off + i];
}

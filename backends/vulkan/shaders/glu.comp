#version 450
// y = act(gate) * up over n values; act 0: silu, 1: gelu_tanh; 2: gpt-oss's clamped SwiGLU,
// y = g sigmoid(alpha g) (u + 1) with g = min(gate, limit), u = clamp(up, -limit, limit).
#include "common.glsl"

layout(push_constant) uniform Params {
  uint n, act, gate_off, up_off, y_off;
  float alpha, limit;
} p;

void main() {
  uint i = group_x() * WG + gl_LocalInvocationID.x;
  if (i >= p.n) return;
  float g = ws[p.gate_off + i];
  float u = ws[p.up_off + i];
  float a;
  if (p.act == 1) {
    const float kSqrt2OverPi = 0.7978845608028654;
    a = 0.5 * g * (1.0 + safe_tanh(kSqrt2OverPi * (g + 0.044715 * g * g * g)));
  } else if (p.act == 2) {
    g = min(g, p.limit);
    u = clamp(u, -p.limit, p.limit) + 1.0;
    a = g / (1.0 + exp(-p.alpha * g));
  } else {
    a = g / (1.0 + exp(-g));
  }
  ws[p.y_off + i] = a * u;
}

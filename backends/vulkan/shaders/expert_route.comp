#version 450
// Route rows [n, 2 * n_used] from router logits [n, n_expert] (graph.h, ExpertRoute): the
// softmax's n_used most probable experts, ties to the lower index as on the CPU, their
// probabilities (renormalized when `normalize`, the sum kept from zero at the smallest
// normal float16 as llama.cpp does), then their indices as floats. One invocation per
// token: a router has at most a few hundred experts.
#include "common.glsl"

#define MAX_USED 16  // vulkan/ops_experts.cpp refuses more

layout(push_constant) uniform Params {
  uint n, n_expert, n_used, normalize, x_off, y_off;
} p;

void main() {
  uint t = group_x() * WG + gl_LocalInvocationID.x;
  if (t >= p.n) return;
  uint x = p.x_off + t * p.n_expert;
  float top = ws[x];
  for (uint e = 1; e < p.n_expert; ++e) top = max(top, ws[x + e]);
  float sum = 0.0;
  for (uint e = 0; e < p.n_expert; ++e) sum += exp(ws[x + e] - top);
  uint picked[MAX_USED];
  float prob[MAX_USED];
  float chosen = 0.0;
  for (uint j = 0; j < p.n_used; ++j) {
    uint best = p.n_expert;
    float best_p = -1.0;
    for (uint e = 0; e < p.n_expert; ++e) {
      bool taken = false;
      for (uint i = 0; i < j; ++i) taken = taken || picked[i] == e;
      float pe = exp(ws[x + e] - top) / sum;
      if (!taken && pe > best_p) {
        best = e;
        best_p = pe;
      }
    }
    picked[j] = best;
    prob[j] = best_p;
    chosen += best_p;
  }
  float denominator = p.normalize != 0 ? max(chosen, 6.103515625e-5) : 1.0;
  uint y = p.y_off + t * 2 * p.n_used;
  for (uint j = 0; j < p.n_used; ++j) {
    ws[y + j] = prob[j] / denominator;
    ws[y + p.n_used + j] = float(picked[j]);
  }
}

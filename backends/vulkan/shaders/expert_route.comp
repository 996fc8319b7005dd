#version 450
// Route rows [n, 2 * n_used] from router logits [n, n_expert] (graph.h, ExpertRoute): the
// n_used experts of highest logit (ties to the lower index, as on the CPU), weighted by
// the softmax over all experts (renormalized when `normalize`, the sum kept from zero at
// the smallest normal float16 as llama.cpp does) or, with `chosen_only` (gpt-oss), over
// the chosen ones; then their indices as floats. One invocation per token: a router has
// at most a few hundred experts.
#include "common.glsl"

#define MAX_USED 16  // vulkan/ops_experts.cpp refuses more

layout(push_constant) uniform Params {
  uint n, n_expert, n_used, normalize, chosen_only, x_off, y_off;
} p;

void main() {
  uint t = group_x() * WG + gl_LocalInvocationID.x;
  if (t >= p.n) return;
  uint x = p.x_off + t * p.n_expert;
  uint picked[MAX_USED];
  for (uint j = 0; j < p.n_used; ++j) {
    uint best = p.n_expert;
    float best_x = 0.0;
    for (uint e = 0; e < p.n_expert; ++e) {
      bool taken = false;
      for (uint i = 0; i < j; ++i) taken = taken || picked[i] == e;
      if (!taken && (best == p.n_expert || ws[x + e] > best_x)) {
        best = e;
        best_x = ws[x + e];
      }
    }
    picked[j] = best;
  }
  float top = ws[x + picked[0]];
  float sum = 0.0;
  if (p.chosen_only != 0) {
    for (uint j = 0; j < p.n_used; ++j) sum += exp(ws[x + picked[j]] - top);
  } else {
    for (uint e = 0; e < p.n_expert; ++e) sum += exp(ws[x + e] - top);
  }
  uint y = p.y_off + t * 2 * p.n_used;
  float chosen = 0.0;
  for (uint j = 0; j < p.n_used; ++j) {
    float w = exp(ws[x + picked[j]] - top) / sum;
    chosen += w;
    ws[y + j] = w;
    ws[y + p.n_used + j] = float(picked[j]);
  }
  if (p.normalize == 0) return;
  float denominator = max(chosen, 6.103515625e-5);
  for (uint j = 0; j < p.n_used; ++j) ws[y + j] /= denominator;
}

#version 450
// softmax(softcap(q k^T * scale)) v for one (token, head) per workgroup, over cache rows
// first..pos (causal, optional sliding window). Keys are taken WG at a time: one score
// per thread, then an online-softmax update (running max m, running sum l) of the
// output, whose head_dim_v values are spread over the threads (<= MAX_DIM / WG each).
// Caches: K in binding 2, V in binding 3, F32 or (CACHE_F16) halves, as 32-bit words.
// Token t's position is aux[pos_at + 2t] and its sequence's first cache row aux[pos_at +
// 2t + 1] (the per-run data, binding 0), so a recorded decode step serves every position.
// With `sinks`, head h's sink logit (after the places) joins the softmax denominator.
#include "common.glsl"

#define MAX_DIM 512
#define PER_THREAD (MAX_DIM / WG)

layout(binding = 2) readonly buffer KCache { uint kc[]; };
layout(binding = 3) readonly buffer VCache { uint vc[]; };
layout(binding = 0) readonly buffer Aux { uint aux[]; };
layout(push_constant) uniform Params {
  uint n_tok, pos_at, n_head, n_head_kv, hd_k, hd_v, window, k_cols, v_cols, q_off, o_off;
  float scale;
  float softcap;  // > 0: scores become softcap * tanh(score / softcap) (gemma2)
  uint sinks;     // 1: n_head sink logits follow the places in aux (gpt-oss)
} p;

#ifdef CACHE_F16
float kv_at(uint idx, bool is_k) {
  uint w = is_k ? kc[idx >> 1] : vc[idx >> 1];
  vec2 h = unpackHalf2x16(w);
  return (idx & 1u) == 0u ? h.x : h.y;
}
#else
float kv_at(uint idx, bool is_k) { return uintBitsToFloat(is_k ? kc[idx] : vc[idx]); }
#endif

shared float q_sh[MAX_DIM];
shared float score_sh[WG];

void main() {
  uint item = group_x();
  if (item >= p.n_tok * p.n_head) return;
  uint lid = gl_LocalInvocationID.x;
  uint t = item / p.n_head;
  uint h = item % p.n_head;
  uint kv = h / (p.n_head / p.n_head_kv);
  uint pos = aux[p.pos_at + 2 * t];
  uint slot = aux[p.pos_at + 2 * t + 1];  // rows of the token's sequence start here
  uint first = p.window > 0 && pos + 1 > p.window ? pos + 1 - p.window : 0;
  for (uint d = lid; d < p.hd_k; d += WG) q_sh[d] = ws[p.q_off + t * p.n_head * p.hd_k + h * p.hd_k + d];
  barrier();

  const float kLow = -1e30;
  float m = kLow;
  float l = 0.0;
  float acc[PER_THREAD];
  [[unroll]] for (uint k = 0; k < PER_THREAD; ++k) acc[k] = 0.0;
  for (uint j0 = first; j0 <= pos; j0 += WG) {
    uint j = j0 + lid;
    float s = kLow;
    if (j <= pos) {
      uint kb = (slot + j) * p.k_cols + kv * p.hd_k;
      s = 0.0;
      for (uint d = 0; d < p.hd_k; ++d) s += q_sh[d] * kv_at(kb + d, true);
      s *= p.scale;
      if (p.softcap > 0.0) s = p.softcap * safe_tanh(s / p.softcap);
    }
    score_sh[lid] = s;
    float m_new = max(m, wg_max(s));  // wg_max's barriers also publish score_sh
    float alpha = exp(m - m_new);
    l = l * alpha + wg_sum(j <= pos ? exp(s - m_new) : 0.0);
    uint count = min(WG, pos + 1 - j0);
    [[unroll]] for (uint k = 0; k < PER_THREAD; ++k) {
      uint d = lid + k * WG;
      if (d < p.hd_v) {
        float a = acc[k] * alpha;
        for (uint i = 0; i < count; ++i) {
          a += exp(score_sh[i] - m_new) * kv_at((slot + j0 + i) * p.v_cols + kv * p.hd_v + d, false);
        }
        acc[k] = a;
      }
    }
    m = m_new;
    barrier();  // score_sh is rewritten next round
  }
  if (p.sinks != 0) {  // the sink's e^s joins l only, under a max that includes it
    float sink = uintBitsToFloat(aux[p.pos_at + 2 * p.n_tok + h]);
    float m_new = max(m, sink);
    float alpha = exp(m - m_new);
    l = l * alpha + exp(sink - m_new);
    [[unroll]] for (uint k = 0; k < PER_THREAD; ++k) acc[k] *= alpha;
  }
  float inv_l = 1.0 / l;
  [[unroll]] for (uint k = 0; k < PER_THREAD; ++k) {
    uint d = lid + k * WG;
    if (d < p.hd_v) ws[p.o_off + t * p.n_head * p.hd_v + h * p.hd_v + d] = acc[k] * inv_l;
  }
}

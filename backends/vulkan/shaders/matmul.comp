#version 450
// y [n_tok, rows] = x [n_tok, cols] @ W^T, W rows of `row_bytes` in binding 0 (TYPE_*).
// One workgroup per weight row and NTOK tokens (NTOK 1: matrix-vector; 8: matrix-matrix,
// each dequantized weight chunk is reused for 8 tokens). Threads stride over chunks of
// 8 values, then the workgroup sums each token's partial dot products.
// EXPERT (with NTOK 1): W stacks n_expert matrices of `rows` rows; output row i is the
// (token, slot) pair i of a route (graph.h, ExpertRoute), taking the matrix the route
// chose and x's row of the pair (x_per_pair) or of its token.
#include "common.glsl"
#include "types.glsl"

layout(push_constant) uniform Params {
  uint rows, cols, n_tok, row_bytes;
  uint x_off, y_off;  // floats into the workspace
#ifdef EXPERT
  uint route_off, n_used, n_expert, x_per_pair;
#endif
} p;

void main() {
  uint row = group_x();
  if (row >= p.rows) return;
  uint t0 = gl_WorkGroupID.y * NTOK;
  uint nt = min(NTOK, p.n_tok - t0);
#ifdef EXPERT
  uint token = t0 / p.n_used;
  float chosen = ws[p.route_off + token * 2 * p.n_used + p.n_used + t0 % p.n_used];
  uint expert = min(uint(max(chosen, 0.0)), p.n_expert - 1);
  uint base = (expert * p.rows + row) * p.row_bytes;
  uint x_row0 = p.x_per_pair != 0 ? t0 : token;
#else
  uint base = row * p.row_bytes;
  uint x_row0 = t0;
#endif
  float acc[NTOK];
  [[unroll]] for (uint t = 0; t < NTOK; ++t) acc[t] = 0.0;
  uint n_chunks = p.cols / 8;
  const uint chunks_per_block = QK / 8;
  for (uint c = gl_LocalInvocationID.x; c < n_chunks; c += WG) {
    float w[8];
    dequant8(base + (c / chunks_per_block) * BLOCK_BYTES, c % chunks_per_block, w);
    [[unroll]] for (uint t = 0; t < NTOK; ++t) {
      if (t < nt) {
        uint xo = p.x_off + (x_row0 + t) * p.cols + c * 8;
        float s = 0.0;
        [[unroll]] for (uint k = 0; k < 8; ++k) s += w[k] * ws[xo + k];
        acc[t] += s;
      }
    }
  }
  [[unroll]] for (uint t = 0; t < NTOK; ++t) {
    float s = wg_sum(acc[t]);
    if (gl_LocalInvocationID.x == 0 && t < nt) ws[p.y_off + (t0 + t) * p.rows + row] = s;
  }
}

#version 450
// y [n, cols] = rows ids[i] of a weight table (TYPE_*, rows of `row_bytes`) as float.
// One workgroup per output row; ids are int32 in binding 2 at ids_off.
#include "common.glsl"
#include "types.glsl"

layout(binding = 2) readonly buffer Ids { int ids[]; };
layout(push_constant) uniform Params {
  uint n, cols, row_bytes, n_rows, ids_off, y_off;
} p;

void main() {
  uint i = group_x();
  if (i >= p.n) return;
  uint id = uint(clamp(ids[p.ids_off + i], 0, int(p.n_rows) - 1));  // checked on the host
  const uint chunks_per_block = QK / 8;
  uint base = id * p.row_bytes;
  for (uint c = gl_LocalInvocationID.x; c < p.cols / 8; c += WG) {
    float v[8];
    dequant8(base + (c / chunks_per_block) * BLOCK_BYTES, c % chunks_per_block, v);
    [[unroll]] for (uint k = 0; k < 8; ++k) ws[p.y_off + i * p.cols + c * 8 + k] = v[k];
  }
}

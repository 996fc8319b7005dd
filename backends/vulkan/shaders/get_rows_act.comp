#version 450
// y [n, cols] = rows ids[i] of an activation table [n_rows, cols] in the workspace.
#include "common.glsl"

layout(binding = 2) readonly buffer Ids { int ids[]; };
layout(push_constant) uniform Params {
  uint n, cols, n_rows, ids_off, table_off, y_off;
} p;

void main() {
  uint i = group_x();
  if (i >= p.n) return;
  uint id = uint(clamp(ids[p.ids_off + i], 0, int(p.n_rows) - 1));
  for (uint c = gl_LocalInvocationID.x; c < p.cols; c += WG) {
    ws[p.y_off + i * p.cols + c] = ws[p.table_off + id * p.cols + c];
  }
}

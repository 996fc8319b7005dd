// Shared by every shader: workgroup size, the binding layout, group indexing and
// workgroup reductions. USE_SUBGROUP reduces within subgroups first (devices with
// subgroup arithmetic); without it, a shared-memory tree.
#extension GL_EXT_control_flow_attributes : enable
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_arithmetic : enable
#endif

#ifndef WG
#define WG 64
#endif
layout(local_size_x = WG, local_size_y = 1, local_size_z = 1) in;

// Bindings (see pipelines.h): 0 weights or table bytes, 1 the workspace (float
// activations), 2 and 3 per-op operands, 4 binding 0 again as 16-bit words.
layout(binding = 1) buffer Workspace { float ws[]; };

// Workgroups beyond 65535 in x continue in z (see Executor::dispatch).
uint group_x() { return gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

shared float red_buf[WG];

float wg_sum(float v) {
#ifdef USE_SUBGROUP
  v = subgroupAdd(v);
  if (subgroupElect()) red_buf[gl_SubgroupID] = v;
  barrier();
  float s = 0.0;
  for (uint i = 0; i < gl_NumSubgroups; ++i) s += red_buf[i];
  barrier();
  return s;
#else
  uint lid = gl_LocalInvocationID.x;
  red_buf[lid] = v;
  barrier();
  [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
    if (lid < s) red_buf[lid] += red_buf[lid + s];
    barrier();
  }
  float r = red_buf[0];
  barrier();
  return r;
#endif
}

float wg_max(float v) {
#ifdef USE_SUBGROUP
  v = subgroupMax(v);
  if (subgroupElect()) red_buf[gl_SubgroupID] = v;
  barrier();
  float m = red_buf[0];
  for (uint i = 1; i < gl_NumSubgroups; ++i) m = max(m, red_buf[i]);
  barrier();
  return m;
#else
  uint lid = gl_LocalInvocationID.x;
  red_buf[lid] = v;
  barrier();
  [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
    if (lid < s) red_buf[lid] = max(red_buf[lid], red_buf[lid + s]);
    barrier();
  }
  float r = red_buf[0];
  barrier();
  return r;
#endif
}

// tanh that stays finite where exp-based implementations overflow (|x| > ~44).
float safe_tanh(float x) { return tanh(clamp(x, -15.0, 15.0)); }

// Rope: the host computes each (token, pair) angle's cos and sin in double, as the CPU
// does, into the per-run data (backends/run_data.h); the shader only rotates.
#include "ops.h"

namespace tern::vulkan {

bool supports_rope(const OpLimits&, const graph::Graph& g, const graph::Node& node) {
  const auto& p = std::get<graph::RopeParams>(node.params);
  if (p.head_dim % 2 != 0 || p.n_rot % 2 != 0) return false;
  return node.in[1] == graph::kNone ||
         (g.tensor(node.in[1]).storage == graph::Storage::Weight &&
          type_traits(g.tensor(node.in[1]).type).to_float != nullptr);
}

void record_rope(OpContext& c, const graph::Node& node) {
  const auto& p = std::get<graph::RopeParams>(node.params);
  const graph::Tensor& x = c.graph.tensor(node.in[0]);
  const graph::Tensor& y = c.graph.tensor(node.out);
  Push push;
  push.u(x.rows).u(p.n_head).u(p.head_dim).u(p.n_rot).u(p.neox ? 1 : 0);
  // The angle table's start in (cos, sin) pairs: the shader reads it as vec2.
  push.u(static_cast<int64_t>(c.aux_at / 2)).u(static_cast<int64_t>(x.offset));
  push.u(static_cast<int64_t>(y.offset));
  uint64_t items = static_cast<uint64_t>(x.rows) * static_cast<uint64_t>(p.n_head) *
                   static_cast<uint64_t>(p.head_dim / 2);
  c.exec.dispatch("rope", {c.workspace, c.workspace, c.aux, c.workspace}, push,
                  (items + kWorkgroup - 1) / kWorkgroup);
}

}  // namespace tern::vulkan

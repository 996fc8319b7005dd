// MatMul and GetRows: the ops that read weights through the per-type shaders.
#include <fmt/format.h>

#include "ops.h"

namespace tern::vulkan {

namespace {

constexpr int64_t kMatTokens = 8;  // tokens per workgroup of matmul_mat (NTOK)

}  // namespace

bool readable_weight(const OpLimits& l, const graph::Tensor& t) {
  if (t.storage != graph::Storage::Weight || t.cols % 8 != 0) return false;
  size_t bytes = WeightStore::device_bytes(t, WeightUse::Kernel);
  return bytes > 0 && bytes <= l.max_buffer_bytes;
}

bool supports_matmul(const OpLimits& l, const graph::Graph& g, const graph::Node& node) {
  return readable_weight(l, g.tensor(node.in[0]));
}

bool supports_get_rows(const OpLimits& l, const graph::Graph& g, const graph::Node& node) {
  const graph::Tensor& table = g.tensor(node.in[0]);
  if (g.tensor(node.in[1]).storage != graph::Storage::Input) return false;
  return table.storage == graph::Storage::Activation || readable_weight(l, table);
}

void record_matmul(OpContext& c, const graph::Node& node) {
  const graph::Tensor& wt = c.graph.tensor(node.in[0]);
  const graph::Tensor& x = c.graph.tensor(node.in[1]);
  const graph::Tensor& y = c.graph.tensor(node.out);
  const ResidentWeight& w = c.weights.get(wt, WeightUse::Kernel);
  bool vec = x.rows == 1;
  std::string shader = fmt::format("matmul_{}_{}", vec ? "vec" : "mat",
                                   WeightStore::kernel_suffix(w.type));
  Push push;
  push.u(wt.rows).u(wt.cols).u(x.rows).u(static_cast<int64_t>(w.row_bytes));
  push.u(static_cast<int64_t>(x.offset)).u(static_cast<int64_t>(y.offset));
  auto groups_y = static_cast<uint32_t>(vec ? 1 : (x.rows + kMatTokens - 1) / kMatTokens);
  c.exec.dispatch(shader, {w.buffer->handle(), c.workspace, c.workspace, c.workspace}, push,
                  static_cast<uint64_t>(wt.rows), groups_y);
}

void record_get_rows(OpContext& c, const graph::Node& node) {
  const graph::Tensor& table = c.graph.tensor(node.in[0]);
  const graph::Tensor& y = c.graph.tensor(node.out);
  auto ids_at = static_cast<int64_t>(c.aux_at);  // checked against the table by RunData
  Push push;
  if (table.storage == graph::Storage::Activation) {
    push.u(y.rows).u(table.cols).u(table.rows).u(ids_at);
    push.u(static_cast<int64_t>(table.offset)).u(static_cast<int64_t>(y.offset));
    c.exec.dispatch("get_rows_act", {c.workspace, c.workspace, c.aux, c.workspace}, push,
                    static_cast<uint64_t>(y.rows));
    return;
  }
  const ResidentWeight& w = c.weights.get(table, WeightUse::Kernel);
  push.u(y.rows).u(table.cols).u(static_cast<int64_t>(w.row_bytes)).u(table.rows);
  push.u(ids_at).u(static_cast<int64_t>(y.offset));
  c.exec.dispatch("get_rows_" + WeightStore::kernel_suffix(w.type),
                  {w.buffer->handle(), c.workspace, c.aux, c.workspace}, push,
                  static_cast<uint64_t>(y.rows));
}

}  // namespace tern::vulkan

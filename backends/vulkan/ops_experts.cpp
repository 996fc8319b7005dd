// Mixture-of-experts ops: the route, the chosen experts' products and biases, their weighted
// sum.
// Products are one workgroup per (output row, token-expert pair), each reading its
// expert's row of the stacked weight (no grouping by expert yet: every pair reads its
// rows, where the CPU reads a chosen expert once per batch).
#include <fmt/format.h>

#include "ops.h"

namespace tern::vulkan {

namespace {

constexpr int kMaxUsed = 16;  // MAX_USED of expert_route.comp

uint64_t groups_for(int64_t n) { return (static_cast<uint64_t>(n) + kWorkgroup - 1) / kWorkgroup; }

}  // namespace

bool supports_experts(const OpLimits& l, const graph::Graph& g, const graph::Node& node) {
  switch (node.op) {
    case graph::Op::ExpertRoute:
      return std::get<graph::ExpertRouteParams>(node.params).n_used <= kMaxUsed;
    case graph::Op::ExpertMatMul:  // one workgroup row per pair: at most 65535
      return readable_weight(l, g.tensor(node.in[0])) && g.tensor(node.out).rows <= 65535;
    case graph::Op::ExpertAdd: {  // the stacked biases as F32 in one buffer
      const size_t bytes = WeightStore::device_bytes(g.tensor(node.in[1]), WeightUse::F32);
      return g.tensor(node.in[1]).storage == graph::Storage::Weight && bytes > 0 &&
             bytes <= l.max_buffer_bytes;
    }
    default:
      return true;  // ExpertMix
  }
}

void record_experts(OpContext& c, const graph::Node& node) {
  const graph::Tensor& y = c.graph.tensor(node.out);
  const graph::Tensor& x = c.graph.tensor(node.in[0]);
  auto y_off = static_cast<int64_t>(y.offset);
  Push push;
  switch (node.op) {
    case graph::Op::ExpertRoute: {
      const auto& p = std::get<graph::ExpertRouteParams>(node.params);
      push.u(x.rows).u(x.cols).u(p.n_used).u(p.normalize ? 1 : 0);
      push.u(p.gating == graph::ExpertGating::SoftmaxChosen ? 1 : 0);
      push.u(static_cast<int64_t>(x.offset)).u(y_off);
      c.exec.dispatch("expert_route", {c.workspace, c.workspace, c.workspace, c.workspace}, push,
                      groups_for(x.rows));
      return;
    }
    case graph::Op::ExpertMatMul: {
      const graph::Tensor& in = c.graph.tensor(node.in[1]);
      const graph::Tensor& route = c.graph.tensor(node.in[2]);
      const int n_expert = std::get<graph::ExpertMatMulParams>(node.params).n_expert;
      const ResidentWeight& w = c.weights.get(x, WeightUse::Kernel);
      const int64_t n_used = route.cols / 2;
      push.u(y.cols).u(x.cols).u(y.rows).u(static_cast<int64_t>(w.row_bytes));
      push.u(static_cast<int64_t>(in.offset)).u(y_off);
      push.u(static_cast<int64_t>(route.offset)).u(n_used).u(n_expert);
      push.u(in.rows == y.rows ? 1 : 0);  // x per pair, else per token
      c.exec.dispatch("expert_matmul_" + WeightStore::kernel_suffix(w.type),
                      {w.buffer->handle(), c.workspace, c.workspace, c.workspace}, push,
                      static_cast<uint64_t>(y.cols), static_cast<uint32_t>(y.rows));
      return;
    }
    case graph::Op::ExpertAdd: {
      const graph::Tensor& bias = c.graph.tensor(node.in[1]);
      const graph::Tensor& route = c.graph.tensor(node.in[2]);
      push.u(y.rows).u(y.cols).u(route.cols / 2).u(bias.rows).u(static_cast<int64_t>(x.offset));
      push.u(static_cast<int64_t>(route.offset)).u(y_off);
      c.exec.dispatch("expert_add",
                      {c.workspace, c.workspace, c.weights.get(bias, WeightUse::F32).buffer->handle(),
                       c.workspace},
                      push, groups_for(y.rows * y.cols));
      return;
    }
    default: {  // ExpertMix
      const graph::Tensor& route = c.graph.tensor(node.in[1]);
      push.u(y.rows).u(y.cols).u(route.cols / 2).u(static_cast<int64_t>(x.offset));
      push.u(static_cast<int64_t>(route.offset)).u(y_off);
      c.exec.dispatch("expert_mix", {c.workspace, c.workspace, c.workspace, c.workspace}, push,
                      groups_for(y.rows * y.cols));
      return;
    }
  }
}

}  // namespace tern::vulkan

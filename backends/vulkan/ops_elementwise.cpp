// RmsNorm, SwiGlu/GeGlu/SwiGluOai, Add, Scale and SoftCap: one thread per value (a workgroup per
// group for the norm). Weight operands (norm weights, biases) are read as F32.
#include "ops.h"

namespace tern::vulkan {

namespace {

bool f32_weight_or_activation(const OpLimits& l, const graph::Tensor& t) {
  if (t.storage == graph::Storage::Activation) return true;
  return t.storage == graph::Storage::Weight &&
         WeightStore::device_bytes(t, WeightUse::F32) > 0 &&
         WeightStore::device_bytes(t, WeightUse::F32) <= l.max_buffer_bytes;
}

// The buffer and float offset of an activation or F32 weight operand.
std::pair<VkBuffer, int64_t> operand(OpContext& c, graph::TensorId id) {
  const graph::Tensor& t = c.graph.tensor(id);
  if (t.storage == graph::Storage::Activation) return {c.workspace, static_cast<int64_t>(t.offset)};
  return {c.weights.get(t, WeightUse::F32).buffer->handle(), 0};
}

uint64_t groups_for(int64_t n) { return (static_cast<uint64_t>(n) + kWorkgroup - 1) / kWorkgroup; }

}  // namespace

bool supports_elementwise(const OpLimits& l, const graph::Graph& g, const graph::Node& node) {
  for (graph::TensorId id : node.in) {
    if (id != graph::kNone && !f32_weight_or_activation(l, g.tensor(id))) return false;
  }
  return true;
}

void record_elementwise(OpContext& c, const graph::Node& node) {
  const graph::Tensor& y = c.graph.tensor(node.out);
  const graph::Tensor& x = c.graph.tensor(node.in[0]);
  int64_t n = y.rows * y.cols;
  auto x_off = static_cast<int64_t>(x.offset);
  auto y_off = static_cast<int64_t>(y.offset);
  Push push;
  switch (node.op) {
    case graph::Op::RmsNorm: {
      bool has_w = node.in[1] != graph::kNone;
      int64_t group = has_w ? c.graph.tensor(node.in[1]).cols : y.cols;
      VkBuffer w = has_w ? operand(c, node.in[1]).first : c.workspace;
      push.u(n / group).u(group).u(has_w ? 1 : 0).u(x_off).u(y_off);
      push.f(std::get<graph::RmsNormParams>(node.params).eps);
      c.exec.dispatch("rms_norm", {c.workspace, c.workspace, w, c.workspace}, push,
                      static_cast<uint64_t>(n / group));
      return;
    }
    case graph::Op::SwiGlu:
    case graph::Op::GeGlu:
    case graph::Op::SwiGluOai: {
      auto up = static_cast<int64_t>(c.graph.tensor(node.in[1]).offset);
      const bool oai = node.op == graph::Op::SwiGluOai;
      const graph::SwiGluOaiParams clamp =
          oai ? std::get<graph::SwiGluOaiParams>(node.params) : graph::SwiGluOaiParams{};
      push.u(n).u(oai ? 2 : node.op == graph::Op::GeGlu ? 1 : 0).u(x_off).u(up).u(y_off);
      push.f(clamp.alpha).f(clamp.limit);
      c.exec.dispatch("glu", {c.workspace, c.workspace, c.workspace, c.workspace}, push,
                      groups_for(n));
      return;
    }
    case graph::Op::Add: {
      auto [b, b_off] = operand(c, node.in[1]);
      push.u(n).u(y.cols).u(c.graph.tensor(node.in[1]).rows).u(x_off).u(b_off).u(y_off);
      c.exec.dispatch("add", {c.workspace, c.workspace, b, c.workspace}, push, groups_for(n));
      return;
    }
    case graph::Op::Scale:
    case graph::Op::SoftCap: {
      const bool cap = node.op == graph::Op::SoftCap;
      push.u(n).u(x_off).u(y_off);
      push.f(cap ? std::get<graph::SoftCapParams>(node.params).cap
                 : std::get<graph::ScaleParams>(node.params).factor);
      c.exec.dispatch(cap ? "soft_cap" : "scale",
                      {c.workspace, c.workspace, c.workspace, c.workspace}, push, groups_for(n));
      return;
    }
    default: break;
  }
}

}  // namespace tern::vulkan

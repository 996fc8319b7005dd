#include "model/weights.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "tern/error.h"

namespace tern {

graph::TensorId use(graph::Graph& g, const Weight& w) {
  const gguf::TensorInfo& t = *w.info;
  // A row holds whole blocks, so a range of rows starts at a byte offset.
  const size_t offset = static_cast<size_t>(w.row0) * checked_row_bytes(t.type, t.ne[0]);
  return g.weight(t.type, t.ne[0], w.n_rows < 0 ? t.n_rows() : w.n_rows, t.data + offset);
}

namespace {

std::string shape_string(std::initializer_list<int64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string shape_string(const gguf::TensorInfo& t) {
  return fmt::format("[{}]", fmt::join(t.ne, t.ne + t.n_dims, ", "));
}

bool shape_matches(const gguf::TensorInfo& t, std::initializer_list<int64_t> shape) {
  if (static_cast<size_t>(t.n_dims) > shape.size()) {
    // Extra trailing dimensions are allowed only when they are 1.
    for (int d = static_cast<int>(shape.size()); d < t.n_dims; ++d) {
      if (t.ne[d] != 1) return false;
    }
  }
  int d = 0;
  for (int64_t expected : shape) {
    if (t.ne[d++] != expected) return false;
  }
  return true;
}

}  // namespace

void TensorVisitor::bind_layer(Weight& slot, std::string_view name,
                               std::initializer_list<int64_t> shape, Need need) {
  bind(slot, fmt::format("blk.{}.{}", layer_, name), shape, need);
}

void WeightBinder::on_tensor(Weight& slot, const std::string& name,
                             std::initializer_list<int64_t> shape, Need need) {
  const gguf::TensorInfo* t = file_.find_tensor(name);
  if (t == nullptr) {
    if (need == Need::Optional) return;
    throw Error(fmt::format("{}: tensor '{}' is missing (expected shape {})", file_.name(), name,
                            shape_string(shape)));
  }
  if (!shape_matches(*t, shape)) {
    throw Error(fmt::format("{}: tensor '{}' has shape {}, expected {}", file_.name(), name,
                            shape_string(*t), shape_string(shape)));
  }
  if (type_traits(t->type).to_float == nullptr) {
    throw Error(fmt::format("{}: tensor '{}' has type {}, which has no float conversion",
                            file_.name(), name, type_traits(t->type).name));
  }
  slot.info = t;
  bound_.push_back(t->name);
  total_bytes_ += t->n_bytes;
  // Experts' matrices and their per-expert biases (gpt-oss): a token reads its experts' only.
  if (name.find("_exps.") != std::string::npos) expert_bytes_ += t->n_bytes;
  // Stacked per-expert biases have two dimensions but are added, not multiplied.
  if (t->n_dims >= 2 && !name.ends_with(".bias")) matrices_.emplace_back(t, layer_);
  if (layer_ >= 0) {
    if (layer_bytes_.size() <= static_cast<size_t>(layer_)) layer_bytes_.resize(layer_ + 1u, 0);
    layer_bytes_[static_cast<size_t>(layer_)] += t->n_bytes;
  }
}

std::vector<std::string> WeightBinder::unused_tensors() const {
  std::vector<std::string> unused;
  for (const auto& t : file_.tensors()) {
    if (std::find(bound_.begin(), bound_.end(), t.name) == bound_.end()) {
      unused.emplace_back(t.name);
    }
  }
  return unused;
}

}  // namespace tern

// Weights: views of a model's tensors in the mmap (nothing copied), and the targets each
// architecture's tensor visitor drives: the binder (loading, validation and size
// accounting) and the lister (the tensor list alone).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/file.h"
#include "graph/graph.h"

namespace tern {

/// One tensor of the model, or a range of its rows, viewed in place; empty for an absent
/// optional tensor.
struct Weight {
  const gguf::TensorInfo* info = nullptr;
  int64_t row0 = 0;     // first row viewed
  int64_t n_rows = -1;  // rows viewed; -1: all of the tensor's
  explicit operator bool() const { return info != nullptr; }
  /// Rows [first, first + count) of this view: one part of a fused tensor (phi3's
  /// attn_qkv, ffn_up). The caller keeps the range inside the view.
  Weight rows(int64_t first, int64_t count) const { return {info, row0 + first, count}; }
};

/// Adds `w` to `g` as a 2-D weight [rows, ne0] (higher dimensions fold into rows).
graph::TensorId use(graph::Graph& g, const Weight& w);

enum class Need { Required, Optional };

/// A tensor an architecture's visitor names, with the shape it expects (ne0 first).
struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  Need need = Need::Required;
};

/// What an architecture's visitor drives: it names every tensor once, with its expected
/// shape, and the target decides what naming means (binding to a file, listing).
class TensorVisitor {
 public:
  virtual ~TensorVisitor() = default;

  /// Tensors named from now on belong to `layer` (-1: outside the layers).
  void set_layer(int layer) { layer_ = layer; }
  /// Names `name` with shape `shape` (ne0 first, as GGUF lists it), to be bound into `slot`.
  void bind(Weight& slot, const std::string& name, std::initializer_list<int64_t> shape,
            Need need = Need::Required) {
    on_tensor(slot, name, shape, need);
  }
  /// Names "blk.{layer}.{name}" for the current layer.
  void bind_layer(Weight& slot, std::string_view name, std::initializer_list<int64_t> shape,
                  Need need = Need::Required);

 protected:
  /// What naming a tensor means to this target.
  virtual void on_tensor(Weight& slot, const std::string& name,
                         std::initializer_list<int64_t> shape, Need need) = 0;
  int layer_ = -1;
};

/// Binds the tensors an architecture names to the file. Each must be present (unless
/// optional) with exactly the expected shape and a type the table converts to float;
/// otherwise tern::Error names the tensor with the expected and actual shape or type.
class WeightBinder final : public TensorVisitor {
 public:
  explicit WeightBinder(const gguf::File& file) : file_(file) {}

  /// Bytes of every bound tensor.
  size_t total_bytes() const { return total_bytes_; }
  /// Bytes of the bound mixture-of-experts stacks and their biases ("*_exps.*").
  size_t expert_bytes() const { return expert_bytes_; }
  /// The bound tensors of two or more dimensions, biases excepted, with the layer each was
  /// named in.
  const std::vector<std::pair<const gguf::TensorInfo*, int>>& matrices() const { return matrices_; }
  /// Bytes bound per layer (index = layer).
  const std::vector<size_t>& layer_bytes() const { return layer_bytes_; }
  /// Names of file tensors nothing bound (strict loading refuses them).
  std::vector<std::string> unused_tensors() const;

 private:
  void on_tensor(Weight& slot, const std::string& name, std::initializer_list<int64_t> shape,
                 Need need) override;

  const gguf::File& file_;
  size_t total_bytes_ = 0;
  size_t expert_bytes_ = 0;
  std::vector<std::pair<const gguf::TensorInfo*, int>> matrices_;
  std::vector<size_t> layer_bytes_;
  std::vector<std::string_view> bound_;
};

/// Records every tensor named, leaving the slots empty: tools that create models (tern
/// synth) learn an architecture's tensors from the same visitor that loads it.
class TensorLister final : public TensorVisitor {
 public:
  const std::vector<NamedTensor>& tensors() const { return tensors_; }

 private:
  void on_tensor(Weight&, const std::string& name, std::initializer_list<int64_t> shape,
                 Need need) override {
    tensors_.push_back({name, std::vector<int64_t>(shape), need});
  }

  std::vector<NamedTensor> tensors_;
};

}  // namespace tern

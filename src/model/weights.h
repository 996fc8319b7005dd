// Weights: views of a model's tensors in the mmap (nothing copied), and the binder that
// each architecture's tensor visitor drives for loading, validation and size accounting.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/file.h"
#include "graph/graph.h"

namespace tern {

/// One tensor of the model, viewed in place; empty for an absent optional tensor.
struct Weight {
  const gguf::TensorInfo* info = nullptr;
  explicit operator bool() const { return info != nullptr; }
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

/// While one is alive on this thread, WeightBinders record every tensor they are asked to
/// bind instead of looking it up (slots stay empty): tools that create models (tern synth)
/// learn an architecture's tensors from the same visitor that loads it.
class TensorListRecorder {
 public:
  TensorListRecorder();
  ~TensorListRecorder();
  TensorListRecorder(const TensorListRecorder&) = delete;
  TensorListRecorder& operator=(const TensorListRecorder&) = delete;
  const std::vector<NamedTensor>& tensors() const { return tensors_; }

 private:
  friend class WeightBinder;
  std::vector<NamedTensor> tensors_;
  TensorListRecorder* previous_;
};

/// Binds the tensors an architecture names to the file. Each must be present (unless
/// optional) with exactly the expected shape and a type the table converts to float;
/// otherwise tern::Error names the tensor with the expected and actual shape or type.
class WeightBinder {
 public:
  explicit WeightBinder(const gguf::File& file) : file_(file) {}

  /// Tensors bound from now on belong to `layer` (-1: outside the layers).
  void set_layer(int layer) { layer_ = layer; }
  /// Binds `name` with shape `shape` (ne0 first, as GGUF lists it) into `slot`.
  void bind(Weight& slot, const std::string& name, std::initializer_list<int64_t> shape,
            Need need = Need::Required);
  /// Binds "blk.{layer}.{name}" for the current layer.
  void bind_layer(Weight& slot, std::string_view name, std::initializer_list<int64_t> shape,
                  Need need = Need::Required);

  /// Bytes of every bound tensor.
  size_t total_bytes() const { return total_bytes_; }
  /// Bytes bound per layer (index = layer).
  const std::vector<size_t>& layer_bytes() const { return layer_bytes_; }
  /// Names of file tensors nothing bound (strict loading refuses them).
  std::vector<std::string> unused_tensors() const;

 private:
  const gguf::File& file_;
  int layer_ = -1;
  size_t total_bytes_ = 0;
  std::vector<size_t> layer_bytes_;
  std::vector<std::string_view> bound_;
};

}  // namespace tern

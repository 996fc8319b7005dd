// tern::Model: a GGUF model loaded for inference, and where its layers run. Weights stay in
// the file's memory mapping; each backend prepares its form of them (the CPU's interleaved
// copies, a GPU's uploads) once per model, shared read-only by all its sessions.
//
// Threads: one model, many sessions. Every const member of Model may be called from any
// number of threads at once, and sessions over one model may decode in different threads
// at the same time (they take turns on the GPU backend, one span of layers at a time).
// Each Session is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tern/tokenizer.h"

namespace tern {

/// The backend that runs the GPU share of the layers. Auto: the best available (a real
/// GPU, else the CPU); Cpu: the CPU only; Vulkan/Cuda/Hip: that backend or an error (Hip:
/// the CUDA backend's sources built for AMD GPUs, which takes cuda_device as its device).
enum class BackendKind { Auto, Cpu, Vulkan, Cuda, Hip };

/// The CPU kernels' SIMD level. Auto: the best this CPU has; a level above it is an error.
/// Scalar runs the reference kernels (float activations); Amx is Avx512 with AMX-INT8 tiles
/// for prompt-sized products.
enum class CpuKernels { Auto, Scalar, Avx2, Avx512, Amx };

/// Options for Model::load; the defaults suit normal use. Placement options are checked,
/// and the backends made, when the first session is created (metadata-only uses such as
/// `tern inspect` never touch a device).
struct ModelOptions {
  /// Refuse files holding tensors the architecture does not use (default: ignore them).
  bool strict = false;
  BackendKind backend = BackendKind::Auto;
  /// Layers on the GPU backend: the last n_gpu_layers (the output head too when that is
  /// all of them); the rest, and each session's KV cache of them, on the CPU. -1: all.
  int n_gpu_layers = -1;
  /// The CUDA device index (cudaGetDeviceCount order), default 0.
  int cuda_device = 0;
  /// The Vulkan device index (vkEnumeratePhysicalDevices order); -1: the best (discrete >
  /// integrated > virtual > CPU).
  int vulkan_device = -1;
  CpuKernels cpu_kernels = CpuKernels::Auto;
  /// Interleaved copies of the weights for the CPU's SIMD kernels (made on first use);
  /// false keeps every product on the file's layout (a baseline for comparisons).
  bool repack = true;
};

class Model {
 public:
  /// Maps `path`, reads its architecture and hyperparameters and validates every tensor
  /// the architecture needs (presence, shape, convertible type). Throws tern::Error naming
  /// the file and the key or tensor at fault.
  static Model load(const std::string& path, const ModelOptions& options = {});

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  /// general.architecture ("llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3").
  std::string_view architecture() const;
  int64_t n_vocab() const;
  /// Context length the model was trained with ({arch}.context_length).
  int64_t n_ctx_train() const;
  int64_t n_embd() const;
  int64_t n_layer() const;
  /// Whether the model is an encoder (bert): it gives embeddings, not logits, so its
  /// sessions need SessionOptions::embeddings, and it runs on the CPU only.
  bool encoder() const;
  /// Bytes of the weights the architecture uses (all in the mapping).
  size_t weight_bytes() const;
  /// Bytes of weights one token's forward pass reads: weight_bytes(), less the experts of a
  /// mixture-of-experts model that a token does not choose.
  size_t token_bytes() const;
  /// Bytes of the whole file.
  size_t file_bytes() const;

  /// A string/integer metadata value, or nullopt when the key is absent or of another type.
  std::optional<std::string> meta_string(std::string_view key) const;
  std::optional<int64_t> meta_int(std::string_view key) const;

  /// The tokenizer the file's `tokenizer.ggml.*` keys describe, built on the first call
  /// (safe from several threads at once). Throws tern::Error naming the key at fault; a
  /// later call tries again. The reference lives as long as the model (or the one it is
  /// moved into).
  const Tokenizer& tokenizer() const;

 private:
  struct Impl;
  friend struct ModelInternals;  // the library's own access (src/model/model_internals.h)
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern

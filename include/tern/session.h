// tern::Session: one conversation's state over a Model: the KV cache, the current
// position, the workspace and the logits of the last decode. The weights belong to the
// model (see model.h). A session is used by one thread at a time; sessions over one model
// may run in different threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "tern/model.h"

namespace tern {

/// Element type of the KV cache.
enum class KvType { F32, F16 };

/// Largest context (KV cache positions) and micro-batch a session accepts.
constexpr int64_t kMaxContextSize = int64_t{1} << 24;
constexpr int64_t kMaxBatchSize = int64_t{1} << 16;

struct SessionOptions {
  int64_t n_ctx = 4096;   // KV cache positions, 1..kMaxContextSize; 0: the model's n_ctx_train
  int64_t n_batch = 512;  // tokens per micro-batch when processing a prompt, 1..kMaxBatchSize
  int n_threads = 0;      // 0: one per physical core
  KvType kv_type = KvType::F32;
};

/// Which positions of a decode get logits.
enum class Outputs { Last, All, None };

/// Asked by a decode before each micro-batch and between layers (on the CPU; between the
/// GPU's runs of layers); true abandons the decode. Runs on the decoding thread, so it must
/// be cheap and must not touch the session (e.g. read an atomic flag set by a signal).
using AbortCheck = std::function<bool()>;

class Session {
 public:
  /// A session over `model`, which must outlive it. Allocates the KV cache
  /// (n_layer x n_ctx x (K + V) widths), each layer's on the backend the model placed it
  /// on. Throws tern::Error for invalid options, or when the model's backends cannot be made
  /// or its GPU share and this KV cache do not fit the device.
  explicit Session(const Model& model, const SessionOptions& options = {});
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();

  /// Appends `tokens` to the cache at positions n_past().. and returns the logits of the
  /// positions `outputs` asks for: rows of n_vocab floats, in position order. Throws
  /// tern::ContextOverflow for positions beyond n_ctx and tern::Error for token ids outside
  /// the vocabulary, both before decoding anything (the session unchanged). When `abort`
  /// returns true, throws tern::Cancelled and keeps none of this call's positions: n_past()
  /// is what it was before the call, logits() is empty, and the next decode continues there.
  std::span<const float> decode(std::span<const int32_t> tokens, Outputs outputs = Outputs::Last,
                                const AbortCheck& abort = {});

  /// The logits the last decode returned, and their row count.
  std::span<const float> logits() const;
  int64_t n_outputs() const;

  /// Positions filled in the cache.
  int64_t n_past() const;
  int64_t n_ctx() const;
  int64_t n_vocab() const;
  /// Bytes of the KV cache.
  size_t kv_bytes() const;
  /// Where the layers run: "cpu", or the GPU backend's device and its share of the layers
  /// ("cuda:0 (NVIDIA H100 80GB HBM3), 32/32 layers").
  std::string device() const;
  /// The memory bandwidth the GPU backend's device claims in GB/s (0: CPU only or unknown),
  /// the ceiling `tern bench` compares GPU decoding against.
  double device_peak_gbps() const;

  /// Empties the cache.
  void clear();
  /// Keeps the first n_keep positions (n_keep <= n_past()); later decodes continue there.
  void trim(int64_t n_keep);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern

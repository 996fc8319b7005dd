// tern::Session: the state of one or more sequences (conversations) over a Model: the KV
// cache with a slot of n_ctx positions per sequence, each sequence's length, the workspace
// and the logits of the last decode. The weights belong to the model (see model.h). A
// session is used by one thread at a time; sessions over one model may run in different
// threads at once. One decode may append tokens to several sequences: the weights are read
// once for all of them (batched decoding), each token attends only to its own sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tern/model.h"

namespace tern {

/// Element type of the KV cache.
enum class KvType { F32, F16 };

/// Largest context (KV cache positions of one sequence), micro-batch and sequence count a
/// session accepts; n_seq * n_ctx may not pass kMaxCacheRows either.
constexpr int64_t kMaxContextSize = int64_t{1} << 24;
constexpr int64_t kMaxBatchSize = int64_t{1} << 16;
constexpr int kMaxSequences = 1024;
constexpr int64_t kMaxCacheRows = (int64_t{1} << 31) - 1;

/// Time the decoding thread spent in one kind of operation (Session::op_times).
struct OpTime {
  std::string op;  // "matmul Q4_1" (weights of that type), "attention", "rms_norm", ...
  double seconds = 0;
  int64_t calls = 0;
};

struct SessionOptions {
  int64_t n_ctx = 4096;   // KV cache positions per sequence, 1..kMaxContextSize; 0: the
                          // model's n_ctx_train
  int64_t n_batch = 512;  // tokens per micro-batch (all sequences together), 1..kMaxBatchSize
  int n_threads = 0;      // 0: one per physical core
  // F16, as llama.cpp: half the memory, and on the CPU as fast or faster (the attention
  // converts as it loads; docs/benchmarks.md). F32 keeps every bit of K and V, as the
  // F32-cache reference outputs (the golden tests) need.
  KvType kv_type = KvType::F16;
  int n_seq = 1;  // sequences, 1..kMaxSequences, each with its own n_ctx positions of cache
  /// Decodes return each output position's final hidden state (the output norm's row of
  /// n_embd floats, before the vocabulary projection) instead of its logits: what
  /// embeddings are pooled from (tern/embeddings.h).
  bool embeddings = false;
};

/// Which positions of a decode get logits.
enum class Outputs { Last, All, None };

/// One sequence's part of a batched decode: `tokens` go to sequence `seq` at its next
/// positions (n_past(seq), n_past(seq) + 1, ...).
struct SequenceTokens {
  int seq = 0;
  std::span<const int32_t> tokens;
  Outputs outputs = Outputs::Last;
};

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
  /// The same as decode({{0, tokens, outputs}}, abort): sequence 0.
  std::span<const float> decode(std::span<const int32_t> tokens, Outputs outputs = Outputs::Last,
                                const AbortCheck& abort = {});

  /// Appends each part's tokens to its sequence in one forward pass per micro-batch of
  /// n_batch tokens, and returns the logits the parts' `outputs` ask for: rows of n_vocab
  /// floats, part by part in batch order, each part's in position order. A sequence may
  /// appear in one part only. Throws before decoding anything (the session unchanged):
  /// tern::ContextOverflow when a part passes its sequence's n_ctx; tern::Error for a
  /// sequence outside [0, n_seq()) or named twice, or a token outside the vocabulary.
  /// When `abort` returns true, throws tern::Cancelled and keeps none of the call's
  /// positions (every n_past() as before, logits() empty).
  std::span<const float> decode(std::span<const SequenceTokens> batch,
                                const AbortCheck& abort = {});

  /// The logits the last decode returned, and their row count. With
  /// SessionOptions::embeddings, every decode returns hidden states instead: rows of
  /// n_embd floats (row_width()) where this header says logits and n_vocab.
  std::span<const float> logits() const;
  int64_t n_outputs() const;

  /// Positions of sequence `seq` filled in the cache.
  int64_t n_past(int seq = 0) const;
  /// The tokens sequence `seq` holds, one per position: [n_past(seq)].
  std::span<const int32_t> tokens(int seq = 0) const;
  /// Positions per sequence.
  int64_t n_ctx() const;
  int n_seq() const;
  /// Tokens per micro-batch (SessionOptions::n_batch).
  int64_t n_batch() const;
  int64_t n_vocab() const;
  /// Whether decodes return hidden states (SessionOptions::embeddings) rather than logits.
  bool embeddings() const;
  /// Floats per output row: n_vocab, or n_embd with SessionOptions::embeddings.
  int64_t row_width() const;
  /// Bytes of the KV cache (every sequence's slot).
  size_t kv_bytes() const;
  /// Where the layers run: "cpu", or the GPU backend's device and its share of the layers
  /// ("cuda:0 (NVIDIA H100 80GB HBM3), 32/32 layers").
  std::string device() const;
  /// The memory bandwidth the GPU backend's device claims in GB/s (0: CPU only or unknown),
  /// the ceiling `tern bench` compares GPU decoding against.
  double device_peak_gbps() const;
  /// Starts timing every operation the CPU backend runs for this session (true), or stops
  /// and forgets the times (false). A diagnostic (`tern bench --profile`): one clock read
  /// per operation. A GPU backend's operations are not timed (they run asynchronously).
  void time_ops(bool on);
  /// The CPU's time per kind of operation since time_ops(true), the largest first.
  std::vector<OpTime> op_times() const;

  /// Empties every sequence.
  void clear();
  /// Empties sequence `seq`; the others are untouched.
  void clear_sequence(int seq);
  /// Keeps the first n_keep positions of sequence `seq` (n_keep <= n_past(seq)); later
  /// decodes continue there.
  void trim(int64_t n_keep, int seq = 0);
  /// Context shift: drops positions [n_keep, n_keep + n_discard) of sequence `seq` and
  /// moves the later ones down by n_discard, so the sequence holds n_past(seq) - n_discard
  /// positions and later decodes continue there. Nothing is decoded again: the cached keys
  /// are rotated to their new positions (RoPE), the values moved, the tokens (tokens(seq))
  /// erased from the range; logits() stays. Throws tern::Error, the session unchanged, for
  /// a sequence outside [0, n_seq()), a negative count or n_keep + n_discard > n_past(seq).
  void shift(int64_t n_keep, int64_t n_discard, int seq = 0);
  /// Makes sequence `dst` a copy of sequence `src` (its cached positions and length), e.g.
  /// a shared prompt decoded once for several generations. Throws tern::Error for a
  /// sequence outside [0, n_seq()).
  void copy_sequence(int src, int dst);

  /// Writes every sequence's tokens and their KV cache rows to `path` (atomically: the
  /// file appears whole or not at all), for load() in a session of the same model, e.g.
  /// a prompt decoded once and reused by later runs. The format is in
  /// src/session/session_file.h. Throws tern::Error when the file cannot be written.
  void save(const std::string& path) const;
  /// Replaces every sequence with what `path` holds (sequences it does not hold are
  /// emptied); logits() is empty until the next decode. The file must come from this
  /// model (same weights, checked by a fingerprint) with this KV cache type, and fit: each
  /// stored sequence below n_seq() and no longer than n_ctx(). Otherwise, or when the file
  /// is truncated or corrupt, throws tern::Error naming the file and the problem, with the
  /// session unchanged; the sizes the file states are checked against its size and this
  /// session before anything is allocated for them. Only a failure while the cache rows are
  /// read, after every check passed (an I/O error, the file shrinking meanwhile), throws
  /// with the session emptied instead.
  void load(const std::string& path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern

// The file Session::save writes and Session::load reads: every sequence's tokens and the
// KV cache rows of their positions, for one model and one KV cache type.
//
// Layout (little-endian):
//   header, 40 bytes:
//     u32 magic "TKVS", u32 version (1), u64 model fingerprint (model/fingerprint.h),
//     u32 KV cache type (GGUF type id: 0 F32, 1 F16), u32 n_seq (sequences stored),
//     u64 position bytes (one position's K and V rows over every layer),
//     u64 checksum: FNV-1a 64 of the header (this field zero), the lengths and the tokens
//   u32 n_past[n_seq]: each sequence's length
//   i32 tokens: sequence 0's n_past[0] ids, then sequence 1's...
//   rows: for each sequence, for each layer, its K rows then its V rows, positions
//     [0, n_past) in the cache's own layout (n_past * row bytes each)
// The file's size is exactly what these add up to; anything else is refused.
#pragma once

#include <cstdint>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "scheduler/scheduler.h"
#include "session/kv_cache.h"

namespace tern {

/// The fixed header, as stored.
struct SessionFileHeader {
  uint32_t magic = 0;
  uint32_t version = 0;
  uint64_t fingerprint = 0;
  uint32_t kv_type = 0;
  uint32_t n_seq = 0;
  uint64_t position_bytes = 0;
  uint64_t checksum = 0;
};
static_assert(sizeof(SessionFileHeader) == 40);

/// Writes `tokens.size()` sequences of `cache` (sequence s: positions [0, tokens[s].size())
/// with their tokens) to `path` atomically. `gpu` is the lock the cache's GPU buffers need
/// (null: none).
void write_session_file(const std::string& path, uint64_t fingerprint, const KvCache& cache,
                        std::span<const std::vector<int32_t>> tokens, SharedBackend* gpu);

/// A session file opened and checked, its rows not yet read.
class SessionFileReader {
 public:
  /// Opens `path` and checks it against the model (`fingerprint`, `n_vocab`) and `cache`
  /// (type, positions per sequence, sequence count) and its exact size before anything is
  /// allocated by the sizes it states; reads the tokens. Throws tern::Error naming the file
  /// and what is wrong with it.
  SessionFileReader(const std::string& path, uint64_t fingerprint, const KvCache& cache,
                    int64_t n_vocab);

  /// Each stored sequence's tokens (for the caller to take).
  std::vector<std::vector<int32_t>>& tokens() { return tokens_; }

  /// Reads the rows into `cache`'s slots of the stored sequences: straight into host
  /// memory, through a staging buffer for GPU buffers (under `gpu`'s lock). An I/O error
  /// midway (the file checked whole could still shrink) throws with those slots partly
  /// written.
  void read_rows(const KvCache& cache, SharedBackend* gpu);

 private:
  void read(void* out, size_t n);
  [[noreturn]] void fail(const std::string& what) const;
  void check_header(uint64_t fingerprint, const KvCache& cache) const;
  uint64_t check_lengths(const KvCache& cache) const;

  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0;
  SessionFileHeader header_;
  std::vector<uint32_t> lengths_;  // per stored sequence
  std::vector<std::vector<int32_t>> tokens_;
};

}  // namespace tern

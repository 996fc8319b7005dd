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
#include <span>
#include <string>
#include <vector>

#include "scheduler/scheduler.h"
#include "session/kv_cache.h"

namespace tern {

/// A session file read and checked against a model and a cache, not yet in the cache.
struct SavedSession {
  std::vector<std::vector<int32_t>> tokens;  // per stored sequence
  std::vector<uint8_t> rows;                 // the file's rows section
};

/// Writes `tokens.size()` sequences of `cache` (sequence s: positions [0, tokens[s].size())
/// with their tokens) to `path` atomically. `gpu` is the lock the cache's GPU buffers need
/// (null: none).
void write_session_file(const std::string& path, uint64_t fingerprint, const KvCache& cache,
                        std::span<const std::vector<int32_t>> tokens, SharedBackend* gpu);

/// Reads `path` and checks it against the model (`fingerprint`, `n_vocab`) and `cache`
/// (type, positions per sequence, sequence count) before anything is allocated by its
/// sizes. Throws tern::Error naming the file and what is wrong with it.
SavedSession read_session_file(const std::string& path, uint64_t fingerprint, const KvCache& cache,
                               int64_t n_vocab);

/// Uploads `saved`'s rows into `cache` (the sequences it holds, at their slots).
void upload_saved_rows(const SavedSession& saved, const KvCache& cache, SharedBackend* gpu);

}  // namespace tern

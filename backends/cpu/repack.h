// Weights repacked for decoding. A decode step reads every weight byte once per token; with
// the file's row-major blocks the kernels spend more time gathering scales and summing
// across lanes than multiplying. The interleaved form (repack_kernels.h: 8 rows per
// group, 4 bytes of each row per 32-byte load) lets one instruction advance 8 rows and
// halves the instructions per weight byte. The packed GEMM of prompts reads the same copies
// (their tiles unpack with byte shifts instead of per-row block decoding). One store per
// model (shared by its sessions' CPU backends) makes the copies on a tensor's first product
// and keeps them; the file's pages of those
// tensors are then no longer read and are handed back to the kernel (MADV_PAGEOUT), so the
// process holds about one copy of the weights, not two.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <tuple>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/repack_kernels.h"
#include "types/type_table.h"

namespace tern::cpu {

/// Whether weights of `type` have an interleaved form with decode kernels at `isa`.
bool has_repacked_form(TensorType type, Isa isa);

/// Bytes of the interleaved form of rows x cols values of `type` (rows rounded up to a group).
size_t repacked_bytes(TensorType type, int64_t rows, int64_t cols);

/// Writes the interleaved form of w (rows x cols of `type`, the file's layout) to out
/// (repacked_bytes of it); the last group's missing rows are zero.
void repack(TensorType type, const void* w, int64_t rows, int64_t cols, void* out, int n_threads);

/// Bytes of one group (8 rows x cols values of `type`) in the interleaved form.
size_t repacked_group_bytes(TensorType type, int64_t cols);

/// One activation row (cols values in `type`'s vec_dot_type) with the per-block values the
/// kernels read; storage in this object, valid until the next prepare().
class GroupActBuffer {
 public:
  /// For weights of `type`; x is cols values in its vec_dot_type.
  GroupActs prepare(TensorType type, const void* x, int64_t cols);

 private:
  // Q8_0 / Q8_1 rows: each block's scale and sum of quants (and Q8_1's stored d * sum).
  template <typename Block>
  void block_scales_and_sums(const Block* blocks, int64_t n_blocks);

  std::vector<float> d_;
  std::vector<int32_t> sums_;
  std::vector<float> s_;
};

/// y[j * y_stride + r - r0] = row r . x[j] for r in [r0, r1) of repacked weights (cols
/// values of `type` per row) and each activation row x[j] (one per sequence decoded); r0
/// is a multiple of kGroupRows and r1 at most the matrix's rows.
void repacked_gemv(TensorType type, const void* packed, int64_t cols, int64_t r0, int64_t r1,
                   std::span<const GroupActs> x, float* y, int64_t y_stride, Isa isa);

/// What becomes of the pages of a weight once its interleaved copy is made.
enum class FilePages {
  /// Left as they are (weights on the heap, as in tests).
  Keep,
  /// Unmapped from the process, so that one copy of the weight counts in its memory, but
  /// left in the page cache (MADV_DONTNEED): the next process to load the file reads no
  /// disk, and a lookup of rows (token embeddings tied to the output head) faults its page
  /// back cheaply. Only for a shared mapping of a file, as a model's weights are: on private
  /// or anonymous memory it would discard the contents.
  UnmapShared,
};

/// The interleaved copies made so far, by weight address and shape; safe to use from
/// several threads at once. The weights must stay where they are while the store lives
/// (it belongs to their model).
class RepackedWeights {
 public:
  /// The interleaved form of w, made now if this is its first use (then w's pages go as
  /// `pages` says); nullptr when `type` has none at `isa`.
  const void* get(TensorType type, const void* w, int64_t rows, int64_t cols, Isa isa,
                  int n_threads, FilePages pages = FilePages::Keep);
  /// The interleaved form from row `row0` of w (rows of the whole matrix, all interleaved
  /// at its first use): for one expert of a stack. nullptr as get(), or when row0 is not
  /// a multiple of kGroupRows.
  const void* get_rows(TensorType type, const void* w, int64_t rows, int64_t cols, int64_t row0,
                       Isa isa, int n_threads);
  size_t bytes() const;

 private:
  struct AlignedFree {
    void operator()(uint8_t* p) const;
  };
  using Key = std::tuple<const void*, TensorType, int64_t, int64_t>;
  /// The part of a copy of a larger matrix that holds key's rows, when they start at a
  /// group-aligned row of it (phi3's fused attn_qkv and ffn_up are bound as row ranges,
  /// and the load interleaves the whole tensor); nullptr otherwise. mutex_ held.
  const uint8_t* find_slice(const Key& key);

  mutable std::mutex mutex_;
  std::map<Key, std::unique_ptr<uint8_t, AlignedFree>> copies_;
  std::map<Key, const uint8_t*> slices_;  // ranges of copies_ found by find_slice
  size_t bytes_ = 0;
};

}  // namespace tern::cpu

#include "backends/cpu/repack.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <new>

#include <sys/mman.h>
#include <unistd.h>

#include "backends/cpu/packed_gemm_kernels.h"
#include "backends/cpu/thread_pool.h"
#include "backends/cpu/type_kernels.h"
#include "tern/error.h"
#include "types/blocks.h"
#include "types/float_types.h"
#include "types/quant_k.h"

namespace tern::cpu {

namespace {

template <typename Block>
const Block& block_at(const uint8_t* row, int64_t i) {
  return reinterpret_cast<const Block*>(row)[i];
}

}  // namespace

// Q4_0, Q4_1, Q5_0 and Q5_1 (Block, with its minimum m and fifth bits qh where it has them)
// into Group blocks; the fifth bits go to the planes of cpu::BlockQ5_0x8.
template <typename Block, typename Group>
void repack_nibbles(const uint8_t* const* rows, int n_rows, int64_t n_blocks, uint8_t* out) {
  auto* groups = reinterpret_cast<Group*>(out);
  for (int64_t b = 0; b < n_blocks; ++b) {
    Group& g = groups[b];
    for (int r = 0; r < n_rows; ++r) {
      const auto& src = block_at<Block>(rows[r], b);
      g.d[r] = src.d;
      if constexpr (requires { g.m; }) g.m[r] = src.m;
      for (int s = 0; s < 4; ++s) std::memcpy(g.qs[s][r], src.qs + 4 * s, 4);
      if constexpr (requires { g.qh; }) {
        uint32_t bits;  // bit j: the fifth bit of value j
        std::memcpy(&bits, src.qh, 4);
        for (int k = 0; k < 4; ++k) {
          int planes = 0;
          for (int p = 0; p < 8; ++p) planes |= ((bits >> (4 * (p / 2) + k + 16 * (p % 2))) & 1) << p;
          g.qh[r][k] = static_cast<uint8_t>(planes);
        }
      }
    }
  }
}

template void repack_nibbles<BlockQ4_0, BlockQ4_0x8>(const uint8_t* const*, int, int64_t, uint8_t*);
template void repack_nibbles<BlockQ4_1, BlockQ4_1x8>(const uint8_t* const*, int, int64_t, uint8_t*);
template void repack_nibbles<BlockQ5_0, BlockQ5_0x8>(const uint8_t* const*, int, int64_t, uint8_t*);
template void repack_nibbles<BlockQ5_1, BlockQ5_1x8>(const uint8_t* const*, int, int64_t, uint8_t*);

void repack_q8_0(const uint8_t* const* rows, int n_rows, int64_t n_blocks, uint8_t* out) {
  auto* groups = reinterpret_cast<BlockQ8_0x8*>(out);
  for (int64_t b = 0; b < n_blocks; ++b) {
    BlockQ8_0x8& g = groups[b];
    for (int r = 0; r < n_rows; ++r) {
      const auto& src = block_at<BlockQ8_0>(rows[r], b);
      g.d[r] = src.d;
      for (int s = 0; s < 8; ++s) std::memcpy(g.qs[s][r], src.qs + 4 * s, 4);
    }
  }
}

void repack_q4_k(const uint8_t* const* rows, int n_rows, int64_t n_blocks, uint8_t* out) {
  auto* groups = reinterpret_cast<BlockQ4_Kx8*>(out);
  for (int64_t b = 0; b < n_blocks; ++b) {
    BlockQ4_Kx8& g = groups[b];
    for (int r = 0; r < n_rows; ++r) {
      const auto& src = block_at<BlockQ4_K>(rows[r], b);
      g.d[r] = src.d;
      g.dmin[r] = src.dmin;
      for (int j = 0; j < 8; ++j) {
        int scale, min;
        unpack_scale_min_k4(src.scales, j, scale, min);
        g.scales[j][r] = static_cast<uint8_t>(scale);
        g.mins[j / 2][r][j % 2] = static_cast<uint8_t>(min);
      }
      for (int c = 0; c < 4; ++c) {
        for (int s = 0; s < 8; ++s) std::memcpy(g.qs[c][s][r], src.qs + 32 * c + 4 * s, 4);
      }
    }
  }
}

namespace {

// Q6_K value v (0..255): its low 4 bits and high 2 bits in the file's layout (half h of
// 128 values, quarter k of 32: ql byte 64h + 32(k % 2) + l, nibble k / 2; qh byte 32h + l,
// bits 2k..2k+1).
int q6_low4(const BlockQ6_K& b, int v) {
  int h = v / 128, k = v % 128 / 32, l = v % 32;
  return (b.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0x0f;
}
int q6_high2(const BlockQ6_K& b, int v) {
  int h = v / 128, k = v % 128 / 32, l = v % 32;
  return (b.qh[32 * h + l] >> (2 * k)) & 3;
}

}  // namespace

void repack_q6_k(const uint8_t* const* rows, int n_rows, int64_t n_blocks, uint8_t* out) {
  auto* groups = reinterpret_cast<BlockQ6_Kx8*>(out);
  for (int64_t b = 0; b < n_blocks; ++b) {
    BlockQ6_Kx8& g = groups[b];
    for (int r = 0; r < n_rows; ++r) {
      const auto& src = block_at<BlockQ6_K>(rows[r], b);
      g.d[r] = src.d;
      for (int j = 0; j < 8; ++j) {
        g.scales[j][r][0] = src.scales[2 * j];
        g.scales[j][r][1] = src.scales[2 * j + 1];
      }
      for (int s = 0; s < 8; ++s) {
        for (int k = 0; k < 4; ++k) {
          int value = 4 * s + k;  // within its sub-block
          for (int c = 0; c < 4; ++c) {
            g.ql[c][s][r][k] = static_cast<uint8_t>(q6_low4(src, 64 * c + value) |
                                                    q6_low4(src, 64 * c + 32 + value) << 4);
          }
          for (int h = 0; h < 2; ++h) {
            int bits = 0;
            for (int i = 0; i < 4; ++i) bits |= q6_high2(src, 32 * (4 * h + i) + value) << (2 * i);
            g.qh[h][s][r][k] = static_cast<uint8_t>(bits);
          }
        }
      }
    }
  }
}

// ---- the packed GEMM's tiles from interleaved groups (block b = 32 values) ----

// Byte (row r, value 4t + k) of a tile step t sits at q[32t + 4r + k] (packed_gemm_kernels.h).
constexpr int kTileStep = kGroupRows * 4;
static_assert(kGroupRows == kTileRows && kTileStep == kTileRows * kStepValues);

// Q4_0's and Q5_0's minimum is their -8 / -16 offset, Q4_1's and Q5_1's the stored m.
template <typename Group>
void tile_nibbles(const uint8_t* group, int64_t b, int8_t* q, float* d, float* min, int16_t*) {
  const auto& g = reinterpret_cast<const Group*>(group)[b];
  constexpr bool kFifthBit = requires { g.qh; };
  for (int s = 0; s < 4; ++s) {
    const uint8_t* bytes = &g.qs[s][0][0];
    for (int i = 0; i < kTileStep; ++i) {
      int lo = bytes[i] & 0x0f, hi = bytes[i] >> 4;
      if constexpr (kFifthBit) {
        int planes = (&g.qh[0][0])[i];  // byte i = row i / 4, value i % 4 (the tile's order)
        lo |= ((planes >> (2 * s)) & 1) << 4;
        hi |= ((planes >> (2 * s + 1)) & 1) << 4;
      }
      q[kTileStep * s + i] = static_cast<int8_t>(lo);
      q[kTileStep * (s + 4) + i] = static_cast<int8_t>(hi);
    }
  }
  for (int r = 0; r < kGroupRows; ++r) {
    d[r] = f16_to_f32(g.d[r]);
    if constexpr (requires { g.m; }) {
      min[r] = f16_to_f32(g.m[r]);
    } else {
      min[r] = (kFifthBit ? -16.0f : -8.0f) * d[r];
    }
  }
}

template void tile_nibbles<BlockQ4_0x8>(const uint8_t*, int64_t, int8_t*, float*, float*, int16_t*);
template void tile_nibbles<BlockQ4_1x8>(const uint8_t*, int64_t, int8_t*, float*, float*, int16_t*);
template void tile_nibbles<BlockQ5_0x8>(const uint8_t*, int64_t, int8_t*, float*, float*, int16_t*);
template void tile_nibbles<BlockQ5_1x8>(const uint8_t*, int64_t, int8_t*, float*, float*, int16_t*);

void tile_q8_0(const uint8_t* group, int64_t b, int8_t* q, float* d, float* min, int16_t*) {
  const auto& g = reinterpret_cast<const BlockQ8_0x8*>(group)[b];
  std::memcpy(q, g.qs, sizeof g.qs);  // already the tile's order
  for (int r = 0; r < kGroupRows; ++r) {
    d[r] = f16_to_f32(g.d[r]);
    min[r] = 0.0f;
  }
}

void tile_q4_k(const uint8_t* group, int64_t b, int8_t* q, float* d, float* min, int16_t* sub) {
  const auto& g = reinterpret_cast<const BlockQ4_Kx8*>(group)[b / 8];
  int j = static_cast<int>(b % 8);
  int shift = 4 * (j % 2);
  for (int s = 0; s < 8; ++s) {
    const uint8_t* bytes = &g.qs[j / 2][s][0][0];
    for (int i = 0; i < kTileStep; ++i) q[kTileStep * s + i] = static_cast<int8_t>((bytes[i] >> shift) & 0x0f);
  }
  for (int r = 0; r < kGroupRows; ++r) {
    d[r] = f16_to_f32(g.d[r]) * g.scales[j][r];
    min[r] = -f16_to_f32(g.dmin[r]) * g.mins[j / 2][r][j % 2];
    for (int half = 0; half < 2; ++half)
      sub[16 * half + 2 * r] = sub[16 * half + 2 * r + 1] = g.scales[j][r];
  }
}

void tile_q6_k(const uint8_t* group, int64_t b, int8_t* q, float* d, float* min, int16_t* sub) {
  const auto& g = reinterpret_cast<const BlockQ6_Kx8*>(group)[b / 8];
  int j = static_cast<int>(b % 8);
  int low_shift = 4 * (j % 2), high_shift = 2 * (j % 4);
  for (int s = 0; s < 8; ++s) {
    const uint8_t* low = &g.ql[j / 2][s][0][0];
    const uint8_t* high = &g.qh[j / 4][s][0][0];
    for (int i = 0; i < kTileStep; ++i) {
      int v = ((low[i] >> low_shift) & 0x0f) | ((high[i] >> high_shift) & 3) << 4;
      q[kTileStep * s + i] = static_cast<int8_t>(v - 32);
    }
  }
  for (int r = 0; r < kGroupRows; ++r) {
    d[r] = f16_to_f32(g.d[r]);
    min[r] = 0.0f;
    for (int half = 0; half < 2; ++half) sub[16 * half + 2 * r] = sub[16 * half + 2 * r + 1] = g.scales[j][r][half];
  }
}

namespace {

const RepackForm& checked_form(TensorType type) {
  const RepackForm& f = type_kernels(type).repack;
  if (f.repack_group == nullptr) {
    throw Error(fmt::format("repack: {} weights have no interleaved form", type_traits(type).name));
  }
  return f;
}

int64_t blocks_per_row(TensorType type, int64_t cols) {
  checked_row_bytes(type, cols);  // throws unless cols is a whole number of blocks
  return cols / type_traits(type).block_size;
}

// Unmaps the pages of a repacked tensor from the process when asked (FilePages).
void release_pages(const void* p, size_t bytes, FilePages pages) {
  if (pages == FilePages::Keep) return;
  auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  auto begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  auto end = (reinterpret_cast<uintptr_t>(p) + bytes) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace

bool has_repacked_form(TensorType type, Isa isa) {
  return group_gemv(type, isa) != nullptr;
}

size_t repacked_group_bytes(TensorType type, int64_t cols) {
  return static_cast<size_t>(blocks_per_row(type, cols)) * checked_form(type).group_block_bytes;
}

size_t repacked_bytes(TensorType type, int64_t rows, int64_t cols) {
  auto groups = static_cast<size_t>((rows + kGroupRows - 1) / kGroupRows);
  return groups * repacked_group_bytes(type, cols);
}

void repack(TensorType type, const void* w, int64_t rows, int64_t cols, void* out, int n_threads) {
  const RepackForm& f = checked_form(type);
  int64_t n_blocks = blocks_per_row(type, cols);
  size_t row_bytes = checked_row_bytes(type, cols);
  size_t group_bytes = static_cast<size_t>(n_blocks) * f.group_block_bytes;
  int64_t n_groups = (rows + kGroupRows - 1) / kGroupRows;
  ThreadPool::shared().run(n_groups, n_threads, [&](int64_t g) {
    auto* dst = static_cast<uint8_t*>(out) + group_bytes * static_cast<size_t>(g);
    std::memset(dst, 0, group_bytes);
    const uint8_t* group_rows[kGroupRows];
    int n_rows = static_cast<int>(std::min<int64_t>(kGroupRows, rows - g * kGroupRows));
    for (int r = 0; r < n_rows; ++r) {
      group_rows[r] = static_cast<const uint8_t*>(w) + row_bytes * static_cast<size_t>(g * kGroupRows + r);
    }
    f.repack_group(group_rows, n_rows, n_blocks, dst);
  });
}

template <typename Block>
void GroupActBuffer::block_scales_and_sums(const Block* blocks, int64_t n_blocks) {
  auto n = static_cast<size_t>(n_blocks);
  constexpr bool kStoredSum = requires { blocks->s; };
  d_.resize(n);
  sums_.resize(n);
  s_.resize(kStoredSum ? n : 0);
  for (size_t b = 0; b < n; ++b) {
    d_[b] = f16_to_f32(blocks[b].d);
    if constexpr (kStoredSum) s_[b] = f16_to_f32(blocks[b].s);
    int sum = 0;
    for (int8_t q : blocks[b].qs) sum += q;
    sums_[b] = sum;
  }
}

GroupActs GroupActBuffer::prepare(TensorType type, const void* x, int64_t cols) {
  switch (type_kernels(type).vec_dot_type) {
    case TensorType::Q8_0:  // per block of 32: the scale and the sum of the quants
      block_scales_and_sums(static_cast<const BlockQ8_0*>(x), blocks_per_row(TensorType::Q8_0, cols));
      break;
    case TensorType::Q8_1:  // as Q8_0, plus the stored d * sum(q)
      block_scales_and_sums(static_cast<const BlockQ8_1*>(x), blocks_per_row(TensorType::Q8_1, cols));
      break;
    case TensorType::Q8_K: {  // per super-block: sums of 32 quants, two per 32-bit word
      auto n = static_cast<size_t>(blocks_per_row(TensorType::Q8_K, cols));
      sums_.resize(4 * n);
      const auto* blocks = static_cast<const BlockQ8_K*>(x);
      for (size_t b = 0; b < n; ++b) {
        const int16_t* bs = blocks[b].bsums;
        for (int p = 0; p < 4; ++p) {
          auto even = static_cast<uint16_t>(bs[4 * p] + bs[4 * p + 1]);
          auto odd = static_cast<uint16_t>(bs[4 * p + 2] + bs[4 * p + 3]);
          sums_[4 * b + static_cast<size_t>(p)] = static_cast<int32_t>(uint32_t{even} | uint32_t{odd} << 16);
        }
      }
      break;
    }
    default:
      throw Error(fmt::format("repack: no kernels for {} activations",
                              type_traits(type_kernels(type).vec_dot_type).name));
  }
  return {x, d_.data(), sums_.data(), s_.data()};
}

void repacked_gemv(TensorType type, const void* packed, int64_t cols, int64_t r0, int64_t r1,
                   std::span<const GroupActs> x, float* y, int64_t y_stride, Isa isa) {
  const RepackForm& f = checked_form(type);
  GroupGemvFn gemv = group_gemv(type, isa);
  if (gemv == nullptr || r0 % kGroupRows != 0 || r1 < r0) {
    throw Error(fmt::format("repacked_gemv: no kernel or bad rows [{}, {})", r0, r1));
  }
  int64_t n_blocks = blocks_per_row(type, cols);
  size_t group_bytes = static_cast<size_t>(n_blocks) * f.group_block_bytes;
  const auto* groups = static_cast<const uint8_t*>(packed) + group_bytes * static_cast<size_t>(r0 / kGroupRows);
  const int n_x = static_cast<int>(x.size());
  int64_t full = (r1 - r0) / kGroupRows;
  if (full > 0) gemv(groups, n_blocks, full, x.data(), n_x, y, y_stride);
  int64_t rest = (r1 - r0) % kGroupRows;
  if (rest > 0) {  // the matrix's last, partial group: its zero rows land in a scratch
    std::vector<float> last(x.size() * kGroupRows);
    gemv(groups + group_bytes * static_cast<size_t>(full), n_blocks, 1, x.data(), n_x,
         last.data(), kGroupRows);
    for (size_t j = 0; j < x.size(); ++j) {
      std::copy_n(last.data() + j * kGroupRows, rest,
                  y + static_cast<int64_t>(j) * y_stride + full * kGroupRows);
    }
  }
}

void RepackedWeights::AlignedFree::operator()(uint8_t* p) const { std::free(p); }

namespace {

// Copies of 2 MiB and more are 2 MiB-aligned and asked for transparent huge pages: the
// first decode of a process writes every copy, and 4 KiB pages would cost a page fault
// (and a zeroing) per 4 KiB; decoding then streams them with fewer TLB misses.
uint8_t* allocate_copy(size_t bytes) {
  constexpr size_t kHugePage = size_t{2} << 20;
  size_t align = bytes >= kHugePage ? kHugePage : 64;
  size_t size = (bytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, size);
  if (p == nullptr) throw Error(fmt::format("repack: cannot allocate {} bytes", size));
#ifdef MADV_HUGEPAGE
  if (align == kHugePage) madvise(p, size, MADV_HUGEPAGE);
#endif
  return static_cast<uint8_t*>(p);
}

}  // namespace

const void* RepackedWeights::get(TensorType type, const void* w, int64_t rows, int64_t cols,
                                 Isa isa, int n_threads, FilePages pages) {
  if (!has_repacked_form(type, isa)) return nullptr;
  // Held while a copy is made: a second session asking for the same weight waits for it
  // instead of making its own.
  std::lock_guard lock(mutex_);
  Key key{w, type, rows, cols};
  auto it = copies_.find(key);
  if (it != copies_.end()) return it->second.get();
  if (const uint8_t* slice = find_slice(key)) return slice;
  size_t bytes = repacked_bytes(type, rows, cols);
  std::unique_ptr<uint8_t, AlignedFree> copy(allocate_copy(bytes));
  repack(type, w, rows, cols, copy.get(), n_threads);
  release_pages(w, checked_row_bytes(type, cols) * static_cast<size_t>(rows), pages);
  bytes_ += bytes;
  return copies_.emplace(key, std::move(copy)).first->second.get();
}

const void* RepackedWeights::get_rows(TensorType type, const void* w, int64_t rows, int64_t cols,
                                      int64_t row0, Isa isa, int n_threads) {
  if (row0 % kGroupRows != 0) return nullptr;
  const void* packed = get(type, w, rows, cols, isa, n_threads);
  if (packed == nullptr) return nullptr;
  // Groups of kGroupRows rows follow one another, so a group-aligned row starts its own.
  return static_cast<const uint8_t*>(packed) + repacked_bytes(type, row0, cols);
}

const uint8_t* RepackedWeights::find_slice(const Key& key) {
  auto known = slices_.find(key);
  if (known != slices_.end()) return known->second;
  const auto [w, type, rows, cols] = key;
  if (rows % kGroupRows != 0) return nullptr;  // its last group would hold foreign rows
  const auto first = reinterpret_cast<uintptr_t>(w);
  const size_t row_bytes = checked_row_bytes(type, cols);
  for (const auto& [whole, copy] : copies_) {
    const auto [base_ptr, base_type, base_rows, base_cols] = whole;
    const auto base = reinterpret_cast<uintptr_t>(base_ptr);
    if (base_type != type || base_cols != cols || first < base ||
        first + row_bytes * static_cast<size_t>(rows) >
            base + row_bytes * static_cast<size_t>(base_rows) ||
        (first - base) % row_bytes != 0) {
      continue;
    }
    const auto row0 = static_cast<int64_t>((first - base) / row_bytes);
    if (row0 % kGroupRows != 0) continue;
    // Groups of kGroupRows rows follow one another, so a group-aligned row starts its own.
    const uint8_t* slice = copy.get() + repacked_bytes(type, row0, cols);
    slices_.emplace(key, slice);
    return slice;
  }
  return nullptr;
}

size_t RepackedWeights::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

}  // namespace tern::cpu
